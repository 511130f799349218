"""`python -m slm_distill` runs the `distill` CLI."""

from slm_distill.tools.cli import main

if __name__ == "__main__":
    main()
