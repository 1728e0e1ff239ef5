"""slawatch dashboard."""
