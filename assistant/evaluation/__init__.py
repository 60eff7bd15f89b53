"""Metrics and replay of held-out conversations."""
