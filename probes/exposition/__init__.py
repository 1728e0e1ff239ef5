"""Prometheus exposition of the stored figures: a collector over the store, and its server."""
