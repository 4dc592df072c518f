"""HTTP: one Blueprint per resource, thin views over the services."""
