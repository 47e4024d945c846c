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


def write_json(path, obj):
    """Atomically writes ``obj`` as indented JSON."""
    return write_text(path, json.dumps(obj, indent=2) + "\n")


def save_model(model, path):
    """Atomically saves a Keras model (Keras needs the ``.keras`` suffix)."""
    return _replace_with(path, lambda tmp: model.save(tmp, overwrite=True),
                         suffix=".keras")


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
