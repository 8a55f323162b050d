"""Benchmarks for `make bench`. Each `bench/bench_*.py` defines `run() -> list[dict]`;
every dict is one row of the printed table (keys become columns)."""
