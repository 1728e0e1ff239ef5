"""Scheduling: probes on their intervals, rounds stored, skipped rounds recorded."""
