"""Photos that arrive as bytes (a web upload): checked, then decoded to RGB.

Every way an upload can be wrong becomes an ``UploadError`` with the HTTP
status a client should get and a sentence a person can read. Nothing is
written to disk: the bytes are decoded in memory.

Pillow reads the header first, so a photo's size is known -- and a huge one
refused -- before its pixels are decoded, and a truncated JPEG is an error
rather than a half-grey picture (OpenCV's ``imdecode`` returns what it
could read of it without saying so).
"""

import io
import warnings

import numpy as np
from PIL import Image

MAX_BYTES = 20 * 1024 * 1024  # 20 MiB: any phone photo, not a video
MAX_PIXELS = 40_000_000  # 40 megapixels: larger phone sensors, not scans
FORMATS = {"JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF"}


class UploadError(ValueError):
    """An upload that cannot be segmented.

    Attributes:
        status: The HTTP status: 400 (empty or unreadable), 413 (too large),
            415 (not a photo).
    """

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def check_size(length, limit=MAX_BYTES):
    """Refuses a body of ``length`` bytes over ``limit`` (413)."""
    if length > limit:
        raise UploadError(413, f"the file is {length / 2**20:.1f} MiB; the "
                          f"limit is {limit / 2**20:.0f} MiB")


def check_content_type(content_type):
    """Refuses a part whose declared type is not an image (415).

    A missing type or ``application/octet-stream`` is let through: the
    bytes themselves are checked next.
    """
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind and kind != "application/octet-stream" \
            and not kind.startswith("image/"):
        raise UploadError(415, f"the file was sent as {kind}; send a photo "
                          "(JPEG, PNG, BMP, TIFF, WebP)")


def decode_photo(payload, max_pixels=MAX_PIXELS):
    """An RGB ``uint8`` array of the photo in ``payload`` (bytes).

    Raises:
        UploadError: empty (400), not a photo (415), too many pixels (413),
            truncated or damaged (400).
    """
    if not payload:
        raise UploadError(400, "the file is empty")
    check_size(len(payload))
    try:
        with warnings.catch_warnings():  # the size is checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(payload))
    except Image.DecompressionBombError:
        raise UploadError(413, "the photo has too many pixels; the limit is "
                          f"{max_pixels / 1e6:.0f} megapixels") from None
    except Image.UnidentifiedImageError:
        raise UploadError(415, "this is not a photo this server can read "
                          "(JPEG, PNG, BMP, TIFF, WebP)") from None
    except (OSError, SyntaxError, ValueError) as error:  # a broken header
        raise UploadError(400, f"the photo is damaged or cut short "
                          f"({error})") from None
    if image.format not in FORMATS:
        raise UploadError(415, f"{image.format} files are not supported; "
                          "send a JPEG, PNG, BMP, TIFF or WebP photo")
    width, height = image.size
    if width * height > max_pixels:
        raise UploadError(413, f"the photo is {width} x {height} pixels; the "
                          f"limit is {max_pixels / 1e6:.0f} megapixels")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise UploadError(400, f"the photo is damaged or cut short "
                          f"({error})") from None
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
