"""Mail: MIME building, template rendering, and the SES adapter (the only SES code)."""
