"""Permesso application code (deployed with the Lambda package)."""
