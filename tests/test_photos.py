"""Photos are decoded as a viewer shows them, by one decoder for files (CLI,
training) and uploads (the web server)."""

import io

import numpy as np
import pytest
from PIL import Image

from catunet import data, photos, uploads
from catunet.errors import CatunetError


def upright():
    """A 30 x 20 photo (wide): red on its left third, blue elsewhere."""
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:] = (0, 0, 255)
    pixels[:, :10] = (255, 0, 0)
    return pixels


def sideways_jpeg(orientation=6):
    """``upright()`` stored as a sensor held sideways stores it: turned a
    quarter, with the EXIF tag that turns it back (6: rotate 90 clockwise
    to view)."""
    stored = np.rot90(upright(), k=1)  # 90 counter-clockwise: 30 x 20 -> 20 x 30
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(stored)).save(
        buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def test_a_sideways_phone_photo_is_read_upright_by_cli_and_server(tmp_path):
    path = tmp_path / "phone.jpg"
    path.write_bytes(sideways_jpeg())
    for photo in (data.read_image(path), uploads.decode_photo(path.read_bytes())):
        assert photo.shape == (20, 30, 3)  # as a viewer shows it: wide
        assert photo[10, 3, 0] > 200 and photo[10, 3, 2] < 60  # red left
        assert photo[10, 25, 2] > 200 and photo[10, 25, 0] < 60  # blue right


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_gives_the_viewers_size(orientation):
    stored = sideways_jpeg(orientation)
    turned = orientation >= 5  # 5-8 swap width and height
    assert photos.decode(stored).shape[:2] == ((20, 30) if turned else (30, 20))


def test_a_sixteen_bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 16).reshape(16, 64).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    eight = np.round(ramp / 257).astype(np.uint8)
    for photo in (data.read_image(path), uploads.decode_photo(path.read_bytes())):
        assert photo.shape == (16, 64, 3)
        np.testing.assert_allclose(photo[..., 0], eight, atol=1)
        assert 120 < photo.mean() < 135  # mid-grey, not nearly white


def test_a_gif_is_read_and_named_among_the_formats(tmp_path):
    path = tmp_path / "cat.gif"
    Image.fromarray(upright()).save(path)
    assert data.read_image(path).shape == (20, 30, 3)
    assert ".gif" in data.IMAGE_EXTENSIONS and "GIF" in photos.FORMAT_NAMES
    with pytest.raises(uploads.UploadError, match="GIF") as error:
        uploads.decode_photo(b"%PDF-1.7 not a photo")
    assert error.value.status == 415


def test_a_damaged_file_names_the_file(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(sideways_jpeg()[:200])
    with pytest.raises(CatunetError, match="broken.jpg: the photo is damaged"):
        data.read_image(path)


def test_a_mask_is_read_upright_too(tmp_path):
    mask = np.zeros((20, 30), np.uint8)
    mask[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "mask.jpg"
    Image.fromarray(np.ascontiguousarray(np.rot90(mask))).save(
        path, quality=95, exif=exif)
    read = data.read_mask(path)
    assert read.shape == (20, 30)
    assert read[:, :8].all() and not read[:, 12:].any()
