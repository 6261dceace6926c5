"""Benchmarks of the pole agent that print their figures as tables; they never assert timing.

``python -m bench`` runs them all; ``python -m bench.latency`` and ``python -m bench.resources``
run one each. See bench/README.md for what each figure means.
"""
