"""turnscore benchmarks (issue 8): ``python -m bench.run --help``; results in ``bench/results/``."""
