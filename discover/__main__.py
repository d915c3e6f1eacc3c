"""`python -m discover` runs the CLI."""

from discover.cli import main

main()
