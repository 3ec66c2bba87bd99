#!/usr/bin/env python3
"""Build or check an annotated edition. Run `python make_edition.py --help`."""

import sys

from scholia.cli import main

if __name__ == "__main__":
    sys.exit(main())
