"""The one train/test split, made once and saved as a JSON manifest.

The manifest lists the pairs of each side by file name, the seed that made it
and a fingerprint of those files' contents. Every later stage reads it, so
the test images are the same for every experiment and never reach training.

Where file names carry a group — video frames named ``SEQUENCE_NNNNN``, as
in DAVIS — whole groups go to one side: neighbouring frames are nearly the
same picture, and splitting them would leak test frames into training.
"""

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from catunet import atomic
from catunet.errors import CatunetError

# Where a data folder's own split is kept when no --split names one.
SPLITS_DIR = Path("data") / "splits"
TEST_FRACTION = 0.3
MIN_GROUPS = 5  # fewer shared prefixes than this are not treated as groups


def group_of(stem):
    """The group a file name's stem carries (``bear`` for ``bear_00012``),
    else the stem itself."""
    prefix, sep, number = stem.rpartition("_")
    return prefix if sep and prefix and number.isdigit() else stem


def groups_of(pairs):
    """The group of every pair, or None when the names carry no groups.

    A name carries a group when it is ``PREFIX_DIGITS`` (``bear_00012`` is
    frame 12 of ``bear``); the folder is grouped when every name does, at
    least ``MIN_GROUPS`` prefixes occur and some occur more than once.
    """
    keys = [group_of(pair.image.stem) for pair in pairs]
    if any(key == pair.image.stem for key, pair in zip(keys, pairs)):
        return None
    distinct = len(set(keys))
    return keys if MIN_GROUPS <= distinct < len(keys) else None


def _grouped_permutation(pairs, seed):
    """Indices of ``pairs`` in a seeded order of their groups (members of a
    group stay together), and the group boundaries."""
    keys = groups_of(pairs)
    if keys is None:
        return np.random.default_rng(seed).permutation(len(pairs)), None
    names = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(names))
    members = {name: [i for i, k in enumerate(keys) if k == name]
               for name in names}
    chunks = [members[names[g]] for g in order]
    return np.concatenate(chunks), [len(c) for c in chunks]


def fingerprint(pairs):
    """SHA-256 over the names and bytes of every image and mask, in order."""
    digest = hashlib.sha256()
    for pair in sorted(pairs, key=lambda p: p.image.name):
        for path in (pair.image, pair.mask):
            digest.update(path.name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def make_split(pairs, seed=0, test_fraction=TEST_FRACTION):
    """Splits pairs at random into train and test.

    A seeded permutation of the pairs sorted by image name: the same files
    and seed always give the same split, whatever order the disk lists them.
    Grouped names (``groups_of``) are split by group: whole groups are drawn
    into the test side until it holds about ``test_fraction`` of the pairs.
    A ``test_fraction`` of 0 puts every pair on the train side (for data
    that is only ever trained on, such as pseudo-labelled photos).

    Returns:
        The manifest as a dict (see ``save_split``).
    """
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    pairs = sorted(pairs, key=lambda p: p.image.name)
    n_test = int(round(len(pairs) * test_fraction))
    if test_fraction and (n_test < 1 or n_test >= len(pairs)):
        raise CatunetError(
            f"{len(pairs)} pairs are too few for a {test_fraction:.0%} test split")
    order, sizes = _grouped_permutation(pairs, seed)
    if sizes is not None and n_test:  # whole groups, as close to n_test as they allow
        ends = np.cumsum(sizes)
        n_test = int(ends[np.argmin(np.abs(ends - n_test))])
        if n_test >= len(pairs):
            n_test = int(ends[-2])
    test = sorted(order[:n_test])
    train = sorted(order[n_test:])

    def names(indices):
        return [[pairs[i].image.name, pairs[i].mask.name] for i in indices]

    return {
        "seed": seed,
        "test_fraction": test_fraction,
        "fingerprint": fingerprint(pairs),
        "train": names(train),
        "test": names(test),
        **({"grouped": True} if sizes is not None else {}),
    }


def save_split(split, path):
    """Atomically writes the manifest as JSON."""
    atomic.write_json(path, split)


def load_split(path):
    """Reads a manifest, with a clear error when it is missing or malformed."""
    path = Path(path)
    try:
        split = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise CatunetError(f"{path}: split manifest not found") from error
    except (OSError, json.JSONDecodeError) as error:
        raise CatunetError(f"{path}: not a readable split manifest ({error})") \
            from error
    for key in ("seed", "fingerprint", "train", "test"):
        if key not in split:
            raise CatunetError(f"{path}: split manifest has no '{key}'")
    return split


def resolve_split(split, pairs, source="split manifest"):
    """Maps a manifest onto the pairs found on disk.

    Args:
        split: A manifest from ``make_split`` or ``load_split``.
        pairs: The pairs now on disk (``data.find_pairs``).
        source: Where the manifest came from, for error messages.

    Returns:
        ``(train_pairs, test_pairs)``.

    Raises:
        CatunetError: Train and test overlap, a listed file is missing, or the
            listed files changed since the split was made.
    """
    train_names = [image for image, _ in split["train"]]
    test_names = [image for image, _ in split["test"]]
    overlap = sorted(set(train_names) & set(test_names))
    if overlap:
        raise CatunetError(f"{source}: train and test share {', '.join(overlap)}")

    by_name = {p.image.name: p for p in pairs}
    listed = train_names + test_names
    missing = [n for n in listed if n not in by_name]
    if missing:
        raise CatunetError(
            f"{source}: {len(missing)} listed photos are not in the data "
            f"folder: {', '.join(missing)}")
    wrong_masks = [f"{image} -> {mask}"
                   for image, mask in split["train"] + split["test"]
                   if by_name[image].mask.name != mask]
    if wrong_masks:
        raise CatunetError(f"{source}: masks differ from the manifest: "
                           + ", ".join(wrong_masks))
    listed_pairs = [by_name[n] for n in listed]
    if fingerprint(listed_pairs) != split["fingerprint"]:
        raise CatunetError(
            f"{source}: the files it lists changed since the split was made "
            "(fingerprint differs); the test set would not be the one reported")
    added = sorted(set(by_name) - set(listed))
    if added:
        warnings.warn(
            f"{source}: {len(added)} pairs were added after the split was made "
            f"and are not used: {', '.join(added)}. Neither side changes; make "
            "a new split to use them.", stacklevel=2)
    return [by_name[n] for n in train_names], [by_name[n] for n in test_names]


def validation_fold(train_pairs, folds, fold, seed=0):
    """Carves fold ``fold`` of a seeded ``folds``-way partition of train.

    Used for choosing settings without touching the test set. Grouped
    names are partitioned by group, as in ``make_split``.

    Returns:
        ``(fit_pairs, validation_pairs)``; with ``folds`` < 2 the validation
        part is empty.
    """
    if folds < 2:
        return list(train_pairs), []
    if not 0 <= fold < folds:
        raise ValueError(f"fold must be in [0, {folds}), got {fold}")
    if len(train_pairs) < folds:
        raise CatunetError(
            f"{len(train_pairs)} training pairs cannot make {folds} folds")
    order, sizes = _grouped_permutation(train_pairs, seed)
    if sizes is None:
        chosen = set(np.array_split(order, folds)[fold].tolist())
    else:
        groups = np.split(order, np.cumsum(sizes)[:-1])
        if len(groups) < folds:
            raise CatunetError(f"{len(groups)} groups cannot make {folds} folds")
        picked = np.array_split(np.arange(len(groups)), folds)[fold]
        chosen = {int(i) for g in picked for i in groups[g]}
    fit = [p for i, p in enumerate(train_pairs) if i not in chosen]
    val = [p for i, p in enumerate(train_pairs) if i in chosen]
    return fit, val


def split_path_for(config, data_dir):
    """The split manifest of a run: ``--split``, else one per data folder."""
    return Path(config.split) if config.split else \
        SPLITS_DIR / f"{Path(data_dir).resolve().name}.json"


def load_split_for(config, pairs, data_dir):
    """Reads the split manifest, making and saving it if it does not exist.

    Returns:
        ``(train_pairs, test_pairs, manifest)``.
    """
    path = split_path_for(config, data_dir)
    if path.exists():
        manifest = load_split(path)
    else:
        manifest = make_split(pairs, seed=config.split_seed)
        save_split(manifest, path)
        print(f"Made a new {len(manifest['train'])}/{len(manifest['test'])} "
              f"train/test split (seed {config.split_seed}) in {path}")
    train, test = resolve_split(manifest, pairs, source=str(path))
    return train, test, manifest
