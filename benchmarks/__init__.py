"""Benchmarks: ``python -m benchmarks.<name>`` prints a Markdown table."""
