"""Draws the predicted outline of the cat on photos: ``catunet predict``.
Run ``python visualize.py --help`` for every flag."""

import sys

from catunet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("predict", sys.argv[1:], prog="visualize.py"))
