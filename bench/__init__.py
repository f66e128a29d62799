"""Benchmarks: each prints numbers measured side by side in one run (`python -m bench.<name>`)."""
