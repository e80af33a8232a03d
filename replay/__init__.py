"""Replay and backtests: one ordered source, the strategy API, the fill model, reports."""
