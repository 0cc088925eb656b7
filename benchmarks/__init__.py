"""Benchmarks of the nightly run: synthetic offices (generate.py) and the runner (run.py)."""
