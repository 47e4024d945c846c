"""Writes that never leave a half-written file behind.

Each writer writes to a temporary file in the target's folder and renames it
over the target: a rename within one file system is atomic, so an interrupted
run leaves either the old file or the new one.
"""

import json
import os
import tempfile
from pathlib import Path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace_with(path, write, suffix=""):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it private
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_text(path, text):
    """Atomically writes ``text`` to ``path``."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    return _replace_with(path, write)


def write_bytes(path, data):
    """Atomically writes the bytes ``data`` to ``path``."""
    return _replace_with(path, lambda tmp: Path(tmp).write_bytes(data))


def write_npz(path, arrays):
    """Atomically writes ``{name: array}`` as an uncompressed ``.npz``."""
    import numpy as np

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return _replace_with(path, write)


def write_json(path, obj):
    """Atomically writes ``obj`` as indented JSON."""
    return write_text(path, json.dumps(obj, indent=2) + "\n")


def save_model(model, path):
    """Atomically saves a Keras model (Keras needs the ``.keras`` suffix),
    byte for byte the same file for the same model (``_reproducible``)."""
    def write(tmp):
        model.save(tmp, overwrite=True)
        _reproducible(tmp)
    return _replace_with(path, write, suffix=".keras")


# What Keras writes that depends on when and in which process it saved:
# the zip entries' times, metadata.json's date_saved and config.json's
# shared_object_id (a Python id()). A run's key holds its --init file's
# SHA-256, so without this a model trained again to the same weights would
# give every run that starts from it a new key. run.json keeps the dates.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_DATE = "1980-01-01@00:00:00"


def _reproducible(path):
    """Rewrites a ``.keras`` zip in place without what ``FIXED_TIME``
    replaces: entry times fixed, the save date fixed, shared object ids
    numbered in order of first appearance."""
    import zipfile

    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w") as target:
        for info, content in entries:
            if info.filename == "metadata.json":
                metadata = json.loads(content)
                metadata["date_saved"] = FIXED_DATE
                content = json.dumps(metadata).encode()
            elif info.filename == "config.json":
                content = json.dumps(_renumbered(json.loads(content),
                                                 {})).encode()
            fixed = zipfile.ZipInfo(info.filename, FIXED_TIME)
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            target.writestr(fixed, content)


def _renumbered(value, ids):
    """``value`` with every ``shared_object_id`` replaced by 1, 2, ... in
    order of first appearance (the same object keeps the same number)."""
    if isinstance(value, dict):
        return {k: ids.setdefault(v, len(ids) + 1)
                if k == "shared_object_id" else _renumbered(v, ids)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_renumbered(v, ids) for v in value]
    return value


def write_image(path, pixels):
    """Atomically writes an image with OpenCV (BGR order, format from the
    suffix)."""
    import cv2

    path = Path(path)

    def write(tmp):
        if not cv2.imwrite(tmp, pixels):
            raise OSError(f"{path}: OpenCV could not write this image")
    return _replace_with(path, write, suffix=path.suffix)


def save_figure(fig, path, **kwargs):
    """Atomically saves a matplotlib figure (format from the suffix)."""
    path = Path(path)
    return _replace_with(path, lambda tmp: fig.savefig(tmp, **kwargs),
                         suffix=path.suffix)
