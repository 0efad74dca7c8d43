"""Allows ``python -m xraycls``."""

import sys

from xraycls.cli import main

if __name__ == "__main__":  # not when collected for doctests
    sys.exit(main())
