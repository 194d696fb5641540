"""`python -m gerec_cli` runs the CLI."""

from gerec_cli.main import main

main()
