"""Support code for the tests and benchmarks (not shipped: pyproject's packages leave it out)."""
