"""Mutation testing of the domain core: a small AST mutator and a coverage-guided runner.

Run it with ``make mutation`` or ``python -m bench.mutation --help``; docs/testing.md explains the
report and the reviewed list of equivalent mutants (``bench/mutation/equivalent.toml``).
"""
