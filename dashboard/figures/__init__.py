"""Plotly figure builders (pure): the Stability page, the round drill-down, the reports."""
