"""A trained run's scores, kept on disk beside it, so a study that stops
and starts again does not score the same model the same way twice.

Choosing inference options scores every fold's model on its validation
photos and scenes under each option: zoomed tiles make that about a
quarter of an hour, which a restarted ladder would otherwise spend again.
A score is kept under a key made of everything it depends on: what was
scored (a name and a fingerprint of the photos or scenes), the model file's
SHA-256, the inference settings and catunet's version (raised whenever a
change alters results, as for a run's key).
"""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

import catunet
from catunet import atomic

FILE = "scores.json"


def fingerprint(value):
    """A hex digest of ``value``: arrays (shape, type and bytes), numbers,
    strings, and lists, tuples, dicts and dataclasses of them."""
    digest = hashlib.blake2b(digest_size=16)

    def feed(v):
        if isinstance(v, np.ndarray):
            digest.update(f"array{v.shape}{v.dtype}".encode())
            digest.update(np.ascontiguousarray(v).tobytes())
        elif dataclasses.is_dataclass(v):
            feed(dataclasses.asdict(v))
        elif isinstance(v, dict):
            digest.update(b"dict")
            for k in sorted(v):
                feed(k)
                feed(v[k])
        elif isinstance(v, (list, tuple)):
            digest.update(f"list{len(v)}".encode())
            for item in v:
                feed(item)
        elif v is None or isinstance(v, (bool, int, float, str,
                                         np.generic)):
            digest.update(f"{type(v).__name__}:{v!r};".encode())
        else:
            raise TypeError(f"cannot fingerprint a {type(v).__name__}")

    feed(value)
    return digest.hexdigest()


def kept(folder, parts, compute):
    """``compute()`` (JSON-able), or what it gave before for ``parts`` in
    ``folder``'s ``scores.json``. ``parts`` (JSON-able) name what it
    depends on besides catunet's version."""
    path = Path(folder) / FILE
    key = hashlib.sha256(json.dumps([catunet.__version__, parts],
                                    sort_keys=True).encode()).hexdigest()
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: score again
        stored = {}
    if key not in stored:
        stored[key] = json.loads(json.dumps(compute(), default=_plain))
        atomic.write_json(path, stored)
    return stored[key]


def _plain(value):
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")
