"""Benchmarks: never part of the tests; each reports ratios against a baseline measured in the same run."""
