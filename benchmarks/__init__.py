"""Benchmarks of the templates service against its baselines (see BENCHMARKS.md)."""
