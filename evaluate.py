"""Scores a trained model: ``catunet evaluate``. Run ``python evaluate.py
--help`` for every flag."""

import sys

from catunet.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("evaluate", sys.argv[1:], prog="evaluate.py"))
