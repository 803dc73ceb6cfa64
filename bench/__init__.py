"""Benchmarks of pitcrew's hot paths, each measured against a ceiling taken in the same run.

Not tests: ``python -m bench`` (see the README's "Benchmarks") writes ``bench/RESULTS.md``.
"""
