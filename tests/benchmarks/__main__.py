"""`python -m tests.benchmarks`: the whole benchmark (see tests/benchmarks/run.py)."""

from tests.benchmarks.run import main

main()
