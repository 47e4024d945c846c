"""Photos that arrive as bytes (a web upload): checked, then decoded to RGB.

Every way an upload can be wrong becomes an ``UploadError`` with the HTTP
status a client should get and a sentence a person can read. Nothing is
written to disk: the bytes are decoded in memory.

The photo is decoded by ``catunet.data.photos``, as the CLI decodes files: the
header first (a huge photo is refused before its pixels are decoded), a
truncated file is an error, EXIF orientation applied, 16 bits scaled.
"""

from catunet.data import photos

MAX_BYTES = 20 * 1024 * 1024  # 20 MiB: any phone photo, not a video
MAX_PIXELS = 40_000_000  # 40 megapixels: larger phone sensors, not scans


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
                          f"({photos.FORMAT_NAMES})")


def decode_photo(payload, max_pixels=MAX_PIXELS):
    """An RGB ``uint8`` array of the photo in ``payload`` (bytes), turned as
    its EXIF orientation says (``catunet.data.photos``, the CLI's decoder too).

    Raises:
        UploadError: empty (400), not a photo (415), too many pixels (413),
            truncated or damaged (400).
    """
    if not payload:
        raise UploadError(400, "the file is empty")
    check_size(len(payload))
    try:
        return photos.decode(payload, max_pixels)
    except photos.PhotoError as error:
        raise UploadError(error.status, str(error)) from None
