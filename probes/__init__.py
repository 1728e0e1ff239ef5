"""slawatch probes."""
