"""Trains the U-Net. Run ``python train.py --help`` for every flag."""

import argparse
import dataclasses
import sys

from catunet.config import PRECISIONS, TrainConfig
from catunet.errors import CatunetError
from catunet.augment import TECHNIQUES
from catunet.cli import HelpFormatter
from catunet.distribute import STRATEGIES
from catunet.losses import LOSSES

DEFAULTS = TrainConfig()


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Train a U-Net on a folder of images and masks. The "
        "train/test split is read from (or, the first time, written to) a "
        "manifest; the test images are never used for training. Rerun the "
        "same command with the same --out to resume an interrupted run.",
        formatter_class=HelpFormatter)
    p.add_argument("--stage", choices=["cats", "pretrain", "voc"],
                   default=DEFAULTS.stage,
                   help="what to train: 'cats' the cat set; 'pretrain' any "
                   "--data-dir of images and masks (for --init later); 'voc' "
                   "Pascal VOC 2012 through tensorflow-datasets. The model is "
                   "saved as <stage>.keras")
    p.add_argument("--data-dir", default=None,
                   help="folder with images/ and masks/ (default: "
                   "$CATUNET_DATA_DIR, else data/cats, downloaded if missing)")
    p.add_argument("--split", default=None,
                   help="train/test split manifest (default: "
                   "data/splits/<data folder name>.json, made if missing)")
    p.add_argument("--split-seed", type=int, default=DEFAULTS.split_seed,
                   help="seed of the train/test split, used only when the "
                   "manifest has to be made")
    p.add_argument("--loss", choices=list(LOSSES), default=DEFAULTS.loss,
                   help="training loss")
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs,
                   help="passes over the training images")
    p.add_argument("--width", type=int, default=DEFAULTS.width,
                   help="filters of the first U-Net level (the paper: 64); "
                   "smaller is faster on a CPU")
    p.add_argument("--depth", type=int, default=DEFAULTS.depth,
                   help="down-sampling steps of the U-Net")
    p.add_argument("--batch-norm", action=argparse.BooleanOptionalAction,
                   default=DEFAULTS.batch_norm,
                   help="batch normalisation after every convolution")
    p.add_argument("--dropout", type=float, default=DEFAULTS.dropout,
                   help="dropout rate at the bottleneck")
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                   help="images per training step")
    p.add_argument("--learning-rate", type=float,
                   default=DEFAULTS.learning_rate, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed,
                   help="seed of the weights and the shuffling")
    p.add_argument("--folds", type=int, default=DEFAULTS.folds,
                   help="hold out one of this many folds of the training part "
                   "for validation; 0 trains on the whole training part")
    p.add_argument("--val-fold", type=int, default=DEFAULTS.val_fold,
                   help="which fold is held out (with --folds)")
    p.add_argument("--init", default=None,
                   help="a .keras model to initialise from: its layers' weights "
                   "are copied by name (widths and depths must match)")
    p.add_argument("--freeze-epochs", type=int, default=DEFAULTS.freeze_epochs,
                   help="with --init: train the first this-many epochs with the "
                   "encoder (contracting path) frozen, then unfreeze it")
    p.add_argument("--fine-tune-learning-rate", type=float, default=None,
                   help="with --freeze-epochs: Adam learning rate once the "
                   "encoder is unfrozen (default: --learning-rate)")
    p.add_argument("--augment", nargs="?", const="recommended",
                   default=DEFAULTS.augment, metavar="SPEC",
                   help="augment the training images: 'recommended' (also "
                   "--augment alone), 'none', or a list such as "
                   "flip,rotate=0.1,elastic (techniques: "
                   f"{', '.join(TECHNIQUES)}; '=x' sets a strength)")
    p.add_argument("--tfds-dir", default=None,
                   help="--stage voc: TFDS data folder (default: TFDS's, "
                   "~/tensorflow_datasets)")
    p.add_argument("--manual-dir", default=None,
                   help="--stage voc: folder holding VOCtrainval_11-May-2012.tar "
                   "or the VOCdevkit extracted from it (offline use)")
    p.add_argument("--voc-classes", default=DEFAULTS.voc_classes,
                   help="--stage voc: comma-separated VOC classes that count "
                   "as foreground, e.g. cat,dog,horse (default: all 20)")
    p.add_argument("--precision", choices=list(PRECISIONS),
                   default=DEFAULTS.precision,
                   help="mixed_float16 on GPUs, mixed_bfloat16 on CPUs with "
                   "bfloat16 (AVX512-BF16/AMX); the last layer and the loss "
                   "stay float32")
    p.add_argument("--strategy", choices=list(STRATEGIES),
                   default=DEFAULTS.strategy,
                   help="tf.distribute strategy: 'mirrored' for every GPU of "
                   "this machine, 'multiworker' across machines (TF_CONFIG on "
                   "each; see README). --batch-size is then per replica")
    p.add_argument("--out", default=None,
                   help="run folder: model, config.json, history.csv, "
                   "split.json (default: runs/<stage>)")
    return p.parse_args(argv)


def main(argv=None):
    args = vars(parse_args(argv))
    config = dataclasses.replace(DEFAULTS, **args)
    from catunet.train import train

    try:
        run = train(config)
    except CatunetError as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        sys.exit(f"\ninterrupted: rerun the same command to resume "
                 f"{config.out} from its last finished epoch")
    print(f"Saved {run.model_path} ({run.seconds:.0f} s). Evaluate it with: "
          f"python evaluate.py --model {run.model_path}")


if __name__ == "__main__":
    main()
