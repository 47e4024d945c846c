"""Draws the predicted outline of the cat on photos.

Run ``python visualize.py --help`` for every flag.
"""

import argparse
import sys
from pathlib import Path

from catunet.cli import HelpFormatter

DEFAULT_MODEL = Path("runs") / "cats" / "cats.keras"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Without PHOTO arguments: outline the cat on the test "
        "images of the model's split, at each photo's original resolution "
        "(prediction in red, ground truth in green), and save the best, "
        "median and worst by Dice (samples.png), a contact sheet of all "
        "(contact-sheet.png) and every Dice (samples.json). With PHOTO "
        "arguments: save a mask (PNG, the photo's size) and an outlined copy "
        "of each photo.",
        formatter_class=HelpFormatter)
    p.add_argument("photos", nargs="*", metavar="PHOTO",
                   help="photos or folders of photos (jpg, png, bmp, tif; any "
                   "size, colour, grayscale or RGBA) to predict")
    p.add_argument("--model", default=str(DEFAULT_MODEL),
                   help="the .keras model (python train.py saves it there)")
    p.add_argument("--data-dir", default=None,
                   help="test mode: folder with images/ and masks/ (default: "
                   "the folder the model was trained on)")
    p.add_argument("--split", default=None,
                   help="test mode: split manifest (default: split.json "
                   "beside the model)")
    p.add_argument("--no-truth", action="store_true",
                   help="test mode: draw only the predicted outline")
    p.add_argument("--out", default=None,
                   help="output folder (default: contours/ beside the model "
                   "in test mode, predictions/ with photos)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from catunet.errors import CatunetError
    from catunet.visualize import (outline_test_set, predict_photos,
                                   save_test_figures)

    folder = Path(args.model).parent
    if not Path(args.model).exists() and args.model == str(DEFAULT_MODEL):
        sys.exit(f"error: {DEFAULT_MODEL}: no model yet; train one with "
                 "python train.py, or pass --model")
    try:
        if args.photos:
            out = Path(args.out or folder / "predictions")
            saved, failed = predict_photos(args.model, args.photos, out)
            print(f"Saved masks and outlines of {len(saved)} photos in {out}"
                  + (f"; {len(failed)} could not be read" if failed else ""))
            sys.exit(1 if failed else 0)
        out = Path(args.out or folder / "contours")
        items = outline_test_set(args.model, args.data_dir, args.split)
        summary = save_test_figures(items, out, with_truth=not args.no_truth)
    except CatunetError as error:
        sys.exit(f"error: {error}")
    for label, sample in summary["samples"].items():
        print(f"{label:>16}: {sample['image']}  Dice {sample['dice']:.3f}")
    print(f"Mean Dice over {summary['count']} test photos at their original "
          f"size: {summary['mean_dice']:.3f}. Saved samples.png, "
          f"contact-sheet.png and samples.json in {out}")


if __name__ == "__main__":
    main()
