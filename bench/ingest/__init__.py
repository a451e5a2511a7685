"""Ingest benchmark: a real collector and the load generator as separate processes."""
