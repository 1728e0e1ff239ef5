"""slawatch backend."""
