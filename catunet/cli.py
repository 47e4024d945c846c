"""The ``catunet`` command: one entry point, a subcommand per job.

    catunet train      train a U-Net (every TrainConfig field is a flag)
    catunet evaluate   score a model on its test split or any folder
    catunet predict    outline cats: the test photos, or any photos
    catunet export     write a model for serving (Keras ``model.export``)
    catunet serve      a web page and JSON API to try a model
    catunet report     the study: run or reuse experiments, write reports
    catunet bench      the speed benchmark

``train.py``, ``evaluate.py`` and ``visualize.py`` are the same commands
(``train``, ``evaluate``, ``predict``). Parsing happens here; the work is
done by one library function per command. ``report`` and ``bench`` belong
to the study (``catunet.study``) and are looked up by name only when asked
for, so the library itself never imports the study.
"""

import argparse
import contextlib
import importlib
import os
import sys
from pathlib import Path

from catunet import shipped
from catunet.flags import (HelpFormatter, add_config_flags,
                           add_inference_flags, add_runtime_flag,
                           config_from_args, inference_settings)
from catunet.training.recipes import RECIPES

DEFAULT_MODEL = Path("runs") / "cats" / "cats.keras"
EXPORT_FORMATS = {"savedmodel": "tf_saved_model", "onnx": "onnx",
                  "openvino": "openvino", "litert": "litert"}
STUDY_COMMANDS = {"report": "catunet.study.report",
                  "bench": "catunet.study.bench"}


def quiet_tensorflow(verbose=False):
    """Hides TensorFlow's start-up chatter (CUDA probing, oneDNN and CPU
    feature notices) unless ``verbose``.

    TensorFlow prints some of it from C++ before its logging is set up, so
    standard error is silenced at the file-descriptor level while it is
    imported; Python errors still surface as exceptions afterwards.
    """
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow  # noqa: F401
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


# -- train (flags: catunet.flags) ---------------------------------------------



def _run_train(args):
    from catunet.training import recipes
    from catunet.training.train import train

    config = config_from_args(args)
    if config.recipe:
        print(f"Recipe {config.recipe}: {recipes.flags(config.recipe)}")
    for note in config.without_effect():
        print(f"note: {note}")
    try:
        run = train(config)
    except KeyboardInterrupt:
        sys.exit(f"\ninterrupted: rerun the same command to resume "
                 f"{config.out or 'the run'} from its last finished epoch")
    print(f"Saved {run.model_path} ({run.seconds:.0f} s of training). "
          f"Evaluate it with: catunet evaluate --model {run.model_path}")


# -- evaluate -----------------------------------------------------------------


def _add_evaluate(p):
    p.add_argument("--model", required=True, help="the .keras model file")
    add_inference_flags(p)
    add_runtime_flag(p)
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
    p.add_argument("--save-settings", action="store_true",
                   help="also save the inference settings used here beside "
                   "the model (inference.json), so that predict, serve and "
                   "evaluate use them for this model by default")


def _run_evaluate(args):
    from catunet import atomic
    from catunet.inference.evaluate import evaluate, format_table

    settings = inference_settings(args)
    report = evaluate(args.model, args.data_dir, args.split, args.all,
                      settings, args.runtime)
    print(format_table(report))
    if args.save_settings:
        print(f"Saved {settings.save_beside(args.model)}: this model's "
              "default inference settings from now on")
    name = f"eval-{Path(report['data_dir']).resolve().name}.json" if args.all \
        else "eval-test.json"
    path = Path(args.json) if args.json else Path(args.model).parent / name
    atomic.write_json(path, report)
    print(f"Saved {path}")


# -- predict (visualize.py) ---------------------------------------------------

def _add_predict(p):
    p.add_argument("photos", nargs="*", metavar="PHOTO",
                   help="photos or folders of photos (jpg, png, bmp, tif, "
                   "webp, gif; any size, colour, grayscale, RGBA or 16-bit; "
                   "turned upright as their EXIF orientation says) to "
                   "predict; without any, the test photos of the model's "
                   "split")
    p.add_argument("--model", default=None,
                   help="the .keras model (catunet train saves "
                   f"{DEFAULT_MODEL}); default: {shipped.describe()}")
    p.add_argument("--data-dir", default=None,
                   help="test mode: folder with images/ and masks/ (default: "
                   "the folder the model was trained on)")
    p.add_argument("--split", default=None,
                   help="test mode: split manifest (default: split.json "
                   "beside the model)")
    add_inference_flags(p)
    add_runtime_flag(p)
    p.add_argument("--no-truth", action="store_true",
                   help="test mode: draw only the predicted outline")
    p.add_argument("--out", default=None,
                   help="output folder (default: contours/ beside the model "
                   "in test mode, predictions/ with photos; in the current "
                   "folder for the shipped model)")


def _run_predict(args):
    from catunet.visualize import (outline_test_set, predict_photos,
                                   save_test_figures)

    args.model = args.model or str(shipped.model_path())
    folder = Path(args.model).parent
    if shipped.keeps_out(folder):  # the shipped model: write here instead
        folder = Path(".")
    if args.photos:
        out = Path(args.out or folder / "predictions")
        saved, failed = predict_photos(args.model, args.photos, out,
                                       settings=inference_settings(args),
                                       runtime=args.runtime)
        print(f"Saved masks and outlines of {len(saved)} photos in {out}"
              + (f"; {len(failed)} could not be read" if failed else ""))
        return 1 if failed else 0
    out = Path(args.out or folder / "contours")
    items = outline_test_set(args.model, args.data_dir, args.split,
                             settings=inference_settings(args),
                             runtime=args.runtime)
    summary = save_test_figures(items, out, with_truth=not args.no_truth)
    for label, sample in summary["samples"].items():
        print(f"{label:>16}: {sample['image']}  Dice {sample['dice']:.3f}")
    print(f"Mean Dice over {summary['count']} test photos at their original "
          f"size: {summary['mean_dice']:.3f}. Saved samples.png, "
          f"contact-sheet.png and samples.json in {out}")
    return 0


# -- export -------------------------------------------------------------------

def _add_export(p):
    p.add_argument("--model", required=True, help="the .keras model file")
    p.add_argument("--format", choices=list(EXPORT_FORMATS),
                   default="savedmodel",
                   help="savedmodel (TensorFlow Serving, TF Lite converters), "
                   "onnx, openvino or litert; the last three need their "
                   "package installed")
    p.add_argument("--out", default=None,
                   help="output folder or file (default: beside the model, "
                   "named after the format)")


def _run_export(args):
    from catunet.inference.export import export_model

    path = export_model(args.model, EXPORT_FORMATS[args.format], args.out)
    print(f"Exported {args.model} as {args.format} to {path}")


# -- serve --------------------------------------------------------------------

def _add_serve(p):
    p.add_argument("--model", default=None,
                   help="the .keras model to serve (loaded once); default: "
                   f"{shipped.describe()}")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 lets other computers "
                   "in, so only use it on a network you trust")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    add_inference_flags(p)
    add_runtime_flag(p)


def _run_serve(args):
    from catunet.errors import CatunetError
    from catunet.serving.web.app import serve

    args.model = args.model or str(shipped.model_path())
    if not Path(args.model).is_file():
        raise CatunetError(f"{args.model}: no such model; train one with "
                           "python train.py (catunet train), or pass --model")
    serve(args.model, args.host, args.port, args.runtime,
          inference_settings(args))


# -- the command --------------------------------------------------------------

COMMANDS = {
    "train": ("train a U-Net on a folder of images and masks; rerun the same "
              "command to resume an interrupted run", add_config_flags,
              _run_train),
    "evaluate": ("print per-image Dice, IoU and pixel accuracy of a model and "
                 "save them as JSON; by default on the test part of the split "
                 "the model was trained with", _add_evaluate, _run_evaluate),
    "predict": ("outline the cat: on the model's test photos (best, median "
                "and worst by Dice, and a contact sheet), or on any photos "
                "(a mask PNG and an outlined copy of each)", _add_predict,
                _run_predict),
    "export": ("export a model for serving with Keras's model.export",
               _add_export, _run_export),
    "serve": ("a local web page to try the model: drop a photo, see the cat "
              "outlined; and its JSON API (POST /api/segment)", _add_serve,
              _run_serve),
}


def make_parser(prog="catunet", only=None):
    """The argument parser: every subcommand, or only the one named."""
    if only:
        description, add, _ = COMMANDS[only]
        parser = argparse.ArgumentParser(prog=prog, description=description,
                                         formatter_class=HelpFormatter)
        add(parser)
        parser.add_argument("--verbose", action="store_true",
                            help="show TensorFlow's start-up and device logs")
        return parser
    parser = argparse.ArgumentParser(
        prog=prog, description="Segment cats, or any foreground, with a "
        "U-Net trained on a small labelled set.",
        formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="COMMAND")
    for name, (description, add, _) in COMMANDS.items():
        command = sub.add_parser(name, help=description,
                                 description=description,
                                 formatter_class=HelpFormatter)
        add(command)
        command.add_argument("--verbose", action="store_true",
                             help="show TensorFlow's start-up and device logs")
    for name in STUDY_COMMANDS:
        sub.add_parser(name, add_help=False,
                       help=f"the study's {name} (catunet {name} --help)")
    return parser


@contextlib.contextmanager
def _errors_as_one_line():
    """A package error as one ``error:`` line: exit code 2 for a bad
    setting (as argparse gives a bad flag), 1 for anything else (a file)."""
    from catunet.checks import SettingError
    from catunet.errors import CatunetError

    try:
        yield
    except SettingError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except CatunetError as error:
        sys.exit(f"error: {error}")


def parse(name, argv, prog=None):
    """``argv`` parsed for one command; with ``--recipe`` the recipe's values
    stand where no flag was given."""
    parser = make_parser(prog or f"catunet {name}", only=name)
    args = parser.parse_args(argv)
    if getattr(args, "recipe", None):
        parser.set_defaults(**RECIPES[args.recipe])
        args = parser.parse_args(argv)
    return args


def run_command(name, argv, prog=None):
    """Parses ``argv`` for one command and runs it; returns the exit code.
    Parsing imports no TensorFlow, so ``train``'s settings are checked
    before it starts and a bad value is refused at once."""
    args = parse(name, argv, prog)
    with _errors_as_one_line():
        if name == "train":
            config_from_args(args)
    quiet_tensorflow("--verbose" in argv)
    with _errors_as_one_line():
        return COMMANDS[name][2](args) or 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in STUDY_COMMANDS:
        quiet_tensorflow("--verbose" in argv)
        study = importlib.import_module(STUDY_COMMANDS[argv[0]])
        return study.main([a for a in argv[1:] if a != "--verbose"])
    if argv and argv[0] in COMMANDS:
        return run_command(argv[0], argv[1:])
    quiet_tensorflow("--verbose" in argv)
    make_parser().parse_args(argv)  # prints help or the usage error
    return 2


if __name__ == "__main__":
    sys.exit(main())
