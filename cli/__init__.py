"""The `gerec` command line: a thin Typer layer over the `gerec` library."""
