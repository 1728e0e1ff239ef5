"""Talking to a target: one session, the bad-token and database checks, memory, a round."""
