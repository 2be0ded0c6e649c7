"""Benchmarks and query-plan checks (run from the README's commands)."""
