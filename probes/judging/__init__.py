"""Judging: is a stream complete (checks), objectives and budgets (slo), the verdict."""
