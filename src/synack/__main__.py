"""`python -m synack` runs the command-line interface."""

from synack.cli import main

if __name__ == "__main__":
    main()
