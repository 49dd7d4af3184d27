"""``python -m dosing ...`` runs the ``dosing`` command line (the same as the installed entry point)."""

from dosing.cli import main

if __name__ == "__main__":
    main(prog_name="dosing")
