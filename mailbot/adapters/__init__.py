"""Thin adapters: one module per library, the only place that imports it."""
