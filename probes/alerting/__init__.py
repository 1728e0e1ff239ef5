"""Incidents and notifications: pure judgement, planning, payloads, and delivery."""
