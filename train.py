"""Trains the U-Net: ``catunet train``. Run ``python train.py --help``."""

import sys

from catunet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("train", sys.argv[1:], prog="train.py"))
