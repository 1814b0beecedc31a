"""The ``catalyst`` command-line interface (Typer)."""
