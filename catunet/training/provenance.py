"""What made a run: its key, and the record kept in ``run.json``.

A run's *key* is a hash of everything that decides its result: the config
(without the output folder), the data (the split manifest: file names,
seed and a hash of every file's content), the ``--init`` model's SHA-256
and the code version (``catunet.__version__``, raised whenever a change
alters what training computes). Two runs with one key are the same run:
``train`` finishes or reuses a folder only when its key matches, and the
study's run store reuses any finished run with the key it needs. Models
are saved byte for byte the same for the same weights (``atomic``), so the
SHA-256 of an ``--init`` file names its contents.
"""

import datetime
import hashlib
import json
from pathlib import Path

import catunet
from catunet.data import loading
from catunet.training import machine

# Config fields that say where a run goes or where its inputs are, not what
# it computes (the data and init file enter the key by content instead).
NOT_IN_KEY = ("out", "data_dir", "split", "init", "tfds_dir", "manual_dir",
              "unlabelled", "teacher", "paste_backgrounds", "negative_photos",
              "recipe")
# Fields added after a code version, left out of the key while they are off
# so that runs made before they existed are still found.
OFF_UNLESS_SET = {"schedule": "constant", "warmup_epochs": 0,
                  "copy_paste": 0.0, "pseudo_holdout": 0.3, "ema": 0.0,
                  "round_ensemble": 1, "mosaic": 0.0, "negatives": 0.0,
                  "negative_pastes": 0.0, "mosaic_grids": "2",
                  "encoder": "paper", "self_training_size": 0,
                  "freeze_stride": 0}


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_digest(folder):
    """SHA-256 of a folder's file names and sizes (cheap; for folders of
    unlabelled photos, which have no manifest)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(folder)}:{path.stat().st_size}\n"
                          .encode())
    return digest.hexdigest()


def files_digest(paths):
    """SHA-256 of a list of files' names and sizes, in order (cheap; for
    photos named by folder or pattern, e.g. ``--negative-photos``)."""
    digest = hashlib.sha256()
    for path in map(Path, paths):
        digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def data_digest(manifest):
    """SHA-256 of a split manifest (names, seed and content fingerprint)."""
    if manifest is None:
        return None
    return hashlib.sha256(json.dumps(manifest, sort_keys=True)
                          .encode()).hexdigest()


def key_inputs(config, manifest):
    """Everything the key is made of, as a dict."""
    settings = {k: v for k, v in config.to_dict().items()
                if k not in NOT_IN_KEY
                and not (k in OFF_UNLESS_SET and v == OFF_UNLESS_SET[k])}
    return {
        "config": settings,
        "data": data_digest(manifest),
        "init_sha256": file_sha256(config.init) if config.init else None,
        **({"paste_backgrounds": [folder_digest(f) for f in
                                  config.paste_backgrounds.split(",")]}
           if config.copy_paste and config.paste_backgrounds else {}),
        **({"negative_photos": files_digest(loading.photos_of(
            config.negative_photos))}
           if config.negatives or config.negative_pastes else {}),
        **({"unlabelled": folder_digest(config.unlabelled),
            "teacher_sha256": file_sha256(config.teacher)
            if config.teacher else None} if config.unlabelled else {}),
        "code_version": catunet.__version__,
    }


# The parts of a key besides the config, as a person would name them.
KEY_PARTS = {"data": "the photos or their split",
             "init_sha256": "the --init file's contents",
             "paste_backgrounds": "the --paste-backgrounds photos",
             "negative_photos": "the --negative-photos photos",
             "unlabelled": "the --unlabelled photos",
             "teacher_sha256": "the --teacher file's contents",
             "code_version": "catunet's version"}


def key_changes(recorded, inputs):
    """What makes two runs' ``key_inputs`` differ, for an error message:
    each setting as ``name: old -> new``, then every other part by what
    it is. Where the inputs live (``NOT_IN_KEY``) never shows: the same
    folder written as another path is the same run."""
    before, after = recorded.get("config", {}), inputs["config"]
    changes = [f"{k}: {before.get(k)!r} -> {after.get(k)!r}"
               for k in sorted(before.keys() | after.keys())
               if before.get(k) != after.get(k)]
    return changes + [text for part, text in KEY_PARTS.items()
                      if recorded.get(part) != inputs.get(part)]


def run_key(config, manifest):
    """The run's key: a SHA-256 hex digest of ``key_inputs``."""
    text = json.dumps(key_inputs(config, manifest), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")


def session(first_epoch, seconds):
    """What one process contributed to a run, and where it ran."""
    described = machine.describe()
    return {"started_at_epoch": first_epoch, "seconds": seconds,
            "machine": {k: v for k, v in described.items() if k != "cpu_flags"},
            "finished": now()}


def new_record(config, manifest):
    """The ``run.json`` of a run about to start."""
    return {
        "key": run_key(config, manifest),
        "key_inputs": key_inputs(config, manifest),
        "config": config.to_dict(),
        "created": now(),
        "machine": machine.describe(),
        "packages": machine.package_versions(),
        "finished": False,
        "train_seconds": 0.0,
        "sessions": [],
    }


def load_record(folder):
    path = Path(folder) / "run.json"
    return json.loads(path.read_text()) if path.is_file() else None
