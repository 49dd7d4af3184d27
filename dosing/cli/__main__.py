"""`python -m dosing.cli` runs the command line."""

from dosing.cli import main

main()
