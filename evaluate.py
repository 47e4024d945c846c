"""Scores a trained model. Run ``python evaluate.py --help`` for every flag."""

import argparse
import sys
from pathlib import Path

from catunet.cli import HelpFormatter


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Print per-image Dice, IoU and pixel accuracy of a model "
        "and save them as JSON. By default it scores the test part of the "
        "split the model was trained with.",
        formatter_class=HelpFormatter)
    p.add_argument("--model", required=True, help="the .keras model file")
    p.add_argument("--data-dir", default=None,
                   help="folder with images/ and masks/ (default: the folder "
                   "the model was trained on, if it is still there, else "
                   "$CATUNET_DATA_DIR, else data/cats)")
    p.add_argument("--split", default=None,
                   help="split manifest (default: split.json beside the model)")
    p.add_argument("--all", action="store_true",
                   help="score every pair of --data-dir instead of a test "
                   "split: for a folder of new labelled photos")
    p.add_argument("--json", default=None,
                   help="where to save the scores (default: beside the model, "
                   "eval-test.json or eval-<data folder>.json with --all)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from catunet import atomic
    from catunet.errors import CatunetError
    from catunet.evaluate import evaluate, format_table

    try:
        report = evaluate(args.model, args.data_dir, args.split, args.all)
    except CatunetError as error:
        sys.exit(f"error: {error}")
    print(format_table(report))
    name = f"eval-{Path(report['data_dir']).resolve().name}.json" if args.all \
        else "eval-test.json"
    path = Path(args.json) if args.json else Path(args.model).parent / name
    atomic.write_json(path, report)
    print(f"Saved {path}")


if __name__ == "__main__":
    main()
