"""The `distill` command line: commands.py builds it from the stage requests; demo.py is `distill demo`."""

from slm_distill.tools.cli.commands import main

__all__ = ["main"]
