"""Benchmarks and measurements, each runnable as ``python -m bench.<name>``."""
