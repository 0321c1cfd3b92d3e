"""Benchmarks: python -m bench --users 200 --json."""
