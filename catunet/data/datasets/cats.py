"""The cat set: 81 photos with hand-drawn masks (Arda Mavi, Apache-2.0).

Looked for, in order: ``--data-dir``, the ``CATUNET_DATA_DIR`` environment
variable, then ``data/cats``. When ``data/cats`` is missing it is downloaded
from the public repository ardamavi/Cat-Segmentation at a pinned commit and
every file is checked against the SHA-256 sums in ``cats.sha256`` (archives a
forge generates are not byte-stable; the files inside them are).
"""

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from catunet.errors import CatunetError

DATA_ENV = "CATUNET_DATA_DIR"
DEFAULT_DIR = Path("data") / "cats"
URL = "https://github.com/ardamavi/Cat-Segmentation/archive/38d08c4.zip"
CHECKSUMS = Path(__file__).with_name("cats.sha256")
# Where the files sit inside the repository, and where they go here.
ARCHIVE_FOLDERS = {"Data/Train_Data/input/": "images/",
                   "Data/Train_Data/mask/": "masks/"}

SUPPLY_BY_HAND = (
    "Put the cat set there by hand (images/cat.N.jpg and masks/mask_cat.N.jpg, "
    "from the folder Data/Train_Data of github.com/ardamavi/Cat-Segmentation), "
    f"or pass --data-dir DIR, or set {DATA_ENV}=DIR."
)


def read_checksums(path=CHECKSUMS):
    """Reads ``sha256sum`` output into ``{relative path: hex digest}``."""
    sums = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip()] = digest
    return sums


def resolve_data_dir(data_dir=None, download=True):
    """Finds the data folder: flag, then environment, then ``data/cats``.

    Args:
        data_dir: The ``--data-dir`` flag, or None.
        download: Download the cat set when ``data/cats`` is missing.

    Returns:
        The folder as a ``Path``.
    """
    for value, origin in ((data_dir, "--data-dir"),
                          (os.environ.get(DATA_ENV), DATA_ENV)):
        if value:
            path = Path(value)
            if not path.is_dir():
                raise CatunetError(f"{path}: data folder not found (from {origin})")
            return path
    if not DEFAULT_DIR.is_dir():
        if not download:
            raise CatunetError(f"{DEFAULT_DIR}: data folder not found. "
                               + SUPPLY_BY_HAND)
        download_cats(DEFAULT_DIR)
    return DEFAULT_DIR


def _fetch(url, target):
    print(f"Downloading the cat set from {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, \
                open(target, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                size = f"/{total >> 20} MiB" if total else " MiB"
                print(f"\r  {done >> 20}{size}", end="", file=sys.stderr)
            print(file=sys.stderr)
    except (urllib.error.URLError, OSError) as error:
        raise CatunetError(f"could not download {url} ({error}). "
                           + SUPPLY_BY_HAND) from error


def _extract(archive, target, wanted):
    """Extracts the files named in ``wanted`` into ``target``'s layout."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                # Drop the forge's top folder ("Cat-Segmentation-<sha>/").
                inner = member.split("/", 1)[-1]
                for source, dest in ARCHIVE_FOLDERS.items():
                    if inner.startswith(source):
                        name = dest + inner[len(source):]
                        if name in wanted:
                            out = target / name
                            out.parent.mkdir(parents=True, exist_ok=True)
                            out.write_bytes(zf.read(member))
    except zipfile.BadZipFile as error:
        raise CatunetError(f"downloaded file is not a zip archive ({error})") \
            from error


def verify(folder, sums):
    """Checks that ``folder`` holds every file of ``sums`` with its digest."""
    missing, wrong = [], []
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file():
            missing.append(name)
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            wrong.append(name)
    if missing or wrong:
        details = []
        if missing:
            details.append(f"missing: {', '.join(missing)}")
        if wrong:
            details.append(f"checksum differs: {', '.join(wrong)}")
        raise CatunetError("downloaded cat set failed verification ("
                           + "; ".join(details) + ")")


def download_cats(target=DEFAULT_DIR, url=URL, checksums=CHECKSUMS):
    """Downloads, verifies and unpacks the cat set into ``target``.

    Nothing is left at ``target`` unless every file verified: the set is
    assembled in a temporary folder beside it and renamed into place.
    """
    target = Path(target)
    sums = read_checksums(checksums)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cats-", dir=target.parent))
    try:
        archive = staging / "archive.zip"
        _fetch(url, archive)
        folder = staging / "cats"
        _extract(archive, folder, set(sums))
        verify(folder, sums)
        folder.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"Cat set verified and saved to {target}", file=sys.stderr)
    return target
