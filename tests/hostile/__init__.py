"""Hostile-input tests: a local server of broken and malicious feeds and pages, and what the pipeline makes of them."""
