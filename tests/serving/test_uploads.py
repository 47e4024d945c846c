"""Checking and decoding uploaded photos: every bad input is a clear error
with the HTTP status a client should see."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from catunet.serving import uploads
from catunet.serving.uploads import UploadError, decode_photo


def jpeg(height=40, width=60):
    photo = np.zeros((height, width, 3), np.uint8)
    photo[:, : width // 2] = (250, 10, 10)  # left half red (RGB)
    ok, encoded = cv2.imencode(".jpg", photo[..., ::-1])
    return encoded.tobytes()


def status_of(payload, **kwargs):
    with pytest.raises(UploadError) as error:
        decode_photo(payload, **kwargs)
    return error.value.status, str(error.value)


def test_a_jpeg_becomes_rgb_at_its_own_size():
    photo = decode_photo(jpeg())
    assert photo.shape == (40, 60, 3) and photo.dtype == np.uint8
    assert photo[20, 5, 0] > 200 and photo[20, 5, 2] < 50  # red stays red


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_grayscale_rgba_and_palette_photos_become_rgb(mode):
    buffer = io.BytesIO()
    Image.new(mode, (30, 20)).save(buffer, format="PNG")
    assert decode_photo(buffer.getvalue()).shape == (20, 30, 3)


def test_empty_file():
    assert status_of(b"") == (400, "the file is empty")


def test_not_an_image():
    status, message = status_of(b"%PDF-1.7 this is a document")
    assert status == 415 and "not a photo" in message


def test_truncated_jpeg_is_an_error_not_a_half_grey_photo():
    payload = jpeg(400, 600)
    status, message = status_of(payload[: len(payload) // 2])
    assert status == 400 and "cut short" in message


def test_too_many_pixels_is_refused_before_decoding():
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")
    status, message = status_of(buffer.getvalue())
    assert status == 413 and "10000 x 10000" in message


def test_too_many_bytes():
    status, message = status_of(b"\xff" * (uploads.MAX_BYTES + 1))
    assert status == 413 and "limit" in message


@pytest.mark.parametrize("kind, refused", [
    ("image/jpeg", False), ("image/png; charset=binary", False),
    ("application/octet-stream", False), (None, False),
    ("text/plain", True), ("application/pdf", True)])
def test_declared_content_type(kind, refused):
    if refused:
        with pytest.raises(UploadError) as error:
            uploads.check_content_type(kind)
        assert error.value.status == 415
    else:
        uploads.check_content_type(kind)


def test_a_jpeg_cut_inside_its_header():
    status, message = status_of(jpeg()[:100])
    assert status == 400 and "cut short" in message
