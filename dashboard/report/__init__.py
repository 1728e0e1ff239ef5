"""Compliance reports: the model from stored records, and its renderings."""
