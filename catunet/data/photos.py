"""Photos decoded as a viewer shows them: one decoder for files and uploads.

A phone stores a photo taken sideways as the sensor saw it and writes the
turn into the EXIF ``Orientation`` tag; every viewer applies it. So does
``decode``, for the CLI (``catunet.data.loading.read_image``), the study and the
web server (``catunet.serving.uploads``) alike: a mask drawn on the upright photo
lines up with it, and an outline lines up with what the user sees.

Pillow reads the header first, so a photo's size is known -- and a huge one
refused -- before its pixels are decoded, and a truncated JPEG is an error
rather than a half-grey picture. 16-bit photos (PNG, TIFF) are scaled to 8
bits, not clipped; grayscale, palette, CMYK and alpha photos become RGB.
"""

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from catunet.errors import CatunetError

# What Pillow decodes here; GIF is read as its first frame.
FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF")
FORMAT_NAMES = "JPEG, PNG, BMP, TIFF, WebP or GIF"


class PhotoError(CatunetError):
    """A photo that cannot be decoded.

    Attributes:
        status: The HTTP status a web client should get: 400 (empty,
            damaged), 413 (too many pixels), 415 (not a photo).
    """

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _open(payload, max_pixels):
    if not payload:
        raise PhotoError(400, "the file is empty")
    try:
        with warnings.catch_warnings():  # the size is checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(payload))
    except Image.DecompressionBombError:
        raise PhotoError(413, "the photo has too many pixels to decode") \
            from None
    except Image.UnidentifiedImageError:
        raise PhotoError(415, "not a photo that can be read (a "
                         f"{FORMAT_NAMES} file)") from None
    except (OSError, SyntaxError, ValueError) as error:  # a broken header
        raise PhotoError(400, f"the photo is damaged or cut short ({error})") \
            from None
    if image.format not in FORMATS:
        raise PhotoError(415, f"{image.format} files are not supported; send "
                         f"a {FORMAT_NAMES} photo")
    width, height = image.size
    if max_pixels and width * height > max_pixels:
        raise PhotoError(413, f"the photo is {width} x {height} pixels; the "
                         f"limit is {max_pixels / 1e6:.0f} megapixels")
    try:
        image.load()
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as error:
        raise PhotoError(400, f"the photo is damaged or cut short ({error})") \
            from None


def _eight_bit(image):
    """Grayscale of more than 8 bits (Pillow's ``I;16*``, ``I``, ``F``
    modes) scaled to ``uint8`` by its bit depth, as a viewer shows it."""
    pixels = np.asarray(image, np.float64)
    if image.mode == "F":
        top = 1.0  # floats in [0, 1]
    elif pixels.max(initial=0) <= 65535:
        top = 65535.0  # 16 bits, however Pillow labels them
    else:
        top = float(np.iinfo(np.int32).max)
    scaled = np.clip(pixels / top, 0, 1) * 255
    return Image.fromarray(np.round(scaled).astype(np.uint8), "L")


def decode(payload, max_pixels=None, mode="RGB"):
    """The photo in ``payload`` (bytes) as a ``uint8`` array, turned as its
    EXIF orientation says.

    Args:
        max_pixels: Refuse a photo with more pixels (None: Pillow's own
            decompression-bomb limit).
        mode: ``RGB`` gives ``(H, W, 3)``; ``L`` ``(H, W)``; ``mask`` a
            binary ``(H, W)`` mask, 1 = foreground (``_mask``).

    Raises:
        PhotoError: empty, damaged or truncated (400), too many pixels
            (413), not a photo (415).
    """
    image = _open(payload, max_pixels)
    if mode == "mask":
        return _mask(image)
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _eight_bit(image)
    return np.asarray(image.convert(mode), dtype=np.uint8)


def _mask(image):
    """A mask as 0/1 ``uint8``, whatever way it was saved: a palette mask's
    foreground is every index but 0; otherwise a pixel is foreground when
    its brightest channel is above half the range (so a red or a white
    object on black both count, and JPEG noise does not), or, in a lossless
    file whose values are only 0 and 1, when it is 1."""
    if image.mode == "P":
        return (np.asarray(image) > 0).astype(np.uint8)
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        image = _eight_bit(image)
    values = np.asarray(image.convert("RGB"), np.uint8).max(axis=2)
    if image.format != "JPEG" and values.max(initial=0) == 1:
        return values
    return (values > 127).astype(np.uint8)


def read(path, mode="RGB"):
    """``decode`` of a file, naming the file in any error.

    Raises:
        CatunetError: The file cannot be read or decoded (and why).
    """
    try:
        with open(path, "rb") as f:
            payload = f.read()
    except OSError as error:
        raise CatunetError(f"{path}: cannot be read ({error})") from error
    try:
        return decode(payload, mode=mode)
    except PhotoError as error:
        reason = f"not a readable image (corrupt, or not a {FORMAT_NAMES} " \
            "file)" if error.status == 415 else str(error)
        raise PhotoError(error.status, f"{path}: {reason}") from None
