#!/usr/bin/env python3
"""Build or check an annotated edition. Run `python make_edition.py --help`."""

from scholia.cli import run

if __name__ == "__main__":
    run()
