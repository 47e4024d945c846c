"""Photos are decoded as a viewer shows them, by one decoder for files (CLI,
training) and uploads (the web server)."""

import io

import numpy as np
import pytest
from PIL import Image

from catunet.data import loading, photos
from catunet.errors import CatunetError
from catunet.serving import uploads
from tests.conftest import ROOT


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
    for photo in (loading.read_image(path), uploads.decode_photo(path.read_bytes())):
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
    for photo in (loading.read_image(path), uploads.decode_photo(path.read_bytes())):
        assert photo.shape == (16, 64, 3)
        np.testing.assert_allclose(photo[..., 0], eight, atol=1)
        assert 120 < photo.mean() < 135  # mid-grey, not nearly white


def test_a_gif_is_read_and_named_among_the_formats(tmp_path):
    path = tmp_path / "cat.gif"
    Image.fromarray(upright()).save(path)
    assert loading.read_image(path).shape == (20, 30, 3)
    assert ".gif" in loading.IMAGE_EXTENSIONS and "GIF" in photos.FORMAT_NAMES
    with pytest.raises(uploads.UploadError, match="GIF") as error:
        uploads.decode_photo(b"%PDF-1.7 not a photo")
    assert error.value.status == 415


def test_a_damaged_file_names_the_file(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(sideways_jpeg()[:200])
    with pytest.raises(CatunetError, match="broken.jpg: the photo is damaged"):
        loading.read_image(path)


def test_a_mask_is_read_upright_too(tmp_path):
    mask = np.zeros((20, 30), np.uint8)
    mask[:, :10] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "mask.jpg"
    Image.fromarray(np.ascontiguousarray(np.rot90(mask))).save(
        path, quality=95, exif=exif)
    read = loading.read_mask(path)
    assert read.shape == (20, 30)
    assert read[:, :8].all() and not read[:, 12:].any()


# -- property-based (Hypothesis): whatever the bytes, an RGB array or our error

from hypothesis import given, settings, strategies as st  # noqa: E402

CAT = sorted((ROOT.parent / "shared" / "data" / "cats" / "images")
             .glob("*.jpg"))[:1]
# Every mode Pillow writes that a phone, a scanner or an editor produces.
MODES = {"1": 1, "L": 1, "LA": 2, "P": 1, "RGB": 3, "RGBA": 4,
         "I;16": 1, "I": 1, "F": 1, "CMYK": 4}
FORMAT_MODES = {"PNG": ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"),
                "JPEG": ("L", "RGB", "CMYK"), "BMP": ("1", "L", "P", "RGB"),
                "TIFF": ("1", "L", "P", "RGB", "RGBA", "I;16", "I", "F",
                         "CMYK"),
                "WEBP": ("RGB", "RGBA"), "GIF": ("L", "P")}


def _check(decoded, size=None):
    assert decoded.dtype == np.uint8 and decoded.ndim == 3 \
        and decoded.shape[2] == 3
    if size:
        assert decoded.shape[:2] == size


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes_decode_or_raise_our_error(payload):
    try:
        _check(photos.decode(payload))
    except photos.PhotoError as error:
        assert error.status in (400, 413, 415)


@pytest.mark.skipif(not CAT, reason="the cat set is not here")
@settings(max_examples=60, deadline=None)
@given(st.data())
def test_cut_short_or_bit_flipped_photos_decode_or_raise_our_error(data):
    payload = bytearray(CAT[0].read_bytes())
    if data.draw(st.booleans()):
        payload = payload[:data.draw(st.integers(0, len(payload) - 1))]
    for index in data.draw(st.lists(st.integers(0, len(payload) - 1),
                                    max_size=8)) if payload else []:
        payload[index] ^= 1 << data.draw(st.integers(0, 7))
    try:
        _check(photos.decode(bytes(payload)))
    except photos.PhotoError as error:
        assert error.status in (400, 413, 415)


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_every_format_mode_size_and_orientation_gives_the_viewers_photo(
        data):
    fmt = data.draw(st.sampled_from(sorted(FORMAT_MODES)))
    mode = data.draw(st.sampled_from(FORMAT_MODES[fmt]))
    width, height = data.draw(st.integers(1, 40)), data.draw(
        st.integers(1, 40))
    orientation = data.draw(st.integers(1, 8))
    seed = data.draw(st.integers(0, 2 ** 16))
    pixels = np.random.default_rng(seed).integers(
        0, 256, (height, width, 3), np.uint8)
    image = Image.fromarray(pixels, "RGB").convert(mode)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    extra = {"exif": exif} if fmt in ("JPEG", "PNG", "WEBP", "TIFF") else {}
    image.save(buffer, fmt, **extra)
    decoded = photos.decode(buffer.getvalue())
    turned = extra and orientation >= 5
    _check(decoded, (width, height) if turned else (height, width))


def test_the_pixel_limit_is_refused_from_the_header():
    buffer = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buffer, "PNG")
    with pytest.raises(photos.PhotoError) as error:
        photos.decode(buffer.getvalue(), max_pixels=1_000_000)
    assert error.value.status == 413


# -- masks saved every way a label tool saves them

def _save(path, array, mode=None, fmt=None):
    Image.fromarray(array, mode).save(path, fmt)
    return path


def test_masks_of_every_kind_are_read_as_documented(tmp_path):
    square = np.zeros((6, 8), np.uint8)
    square[2:4, 2:6] = 1  # 8 pixels
    cases = {
        "zero-255.png": (square * 255, None),
        "zero-one.png": (square, None),  # {0, 1}: as they are
        "red.png": (np.dstack([square * 255, square * 0, square * 0]), None),
        "white-on-colour.png": (np.dstack([square * 255] * 3), None),
    }
    for name, (array, mode) in cases.items():
        mask = loading.read_mask(_save(tmp_path / name, array, mode))
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
        assert mask.sum() == 8, name
    palette = Image.fromarray(square * 3, "L").convert("P")  # index 3
    palette.save(tmp_path / "palette.png")
    assert loading.read_mask(tmp_path / "palette.png").sum() == 8
    noisy = square * 255
    noisy[noisy == 0] = 1  # JPEG-like noise on black is not foreground
    _save(tmp_path / "noisy.jpg", noisy)
    assert loading.read_mask(tmp_path / "noisy.jpg").sum() == 8
    assert loading.read_mask(_save(tmp_path / "full.png", np.full(
        (6, 8), 255, np.uint8))).sum() == 48


def test_a_mask_of_another_size_is_used_and_an_empty_one_warned(tmp_path):
    """A mask smaller than its photo (the horse set's are) is resized on
    its own to the training size; a mask with no foreground is kept as
    background with a warning naming it."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a", (40, 60)), ("b", (40, 60))):
        _save(tmp_path / "images" / f"{name}.jpg",
              rng.integers(0, 256, (*size, 3), np.uint8))
    half = np.zeros((20, 30), np.uint8)
    half[:, :15] = 255
    _save(tmp_path / "masks" / "a.png", half)
    _save(tmp_path / "masks" / "b.png", np.zeros((40, 60), np.uint8))
    pairs = loading.find_pairs(tmp_path)
    with pytest.warns(UserWarning, match="b.png: mask is all background"):
        images, masks = loading.load_pairs(pairs, 16)
    assert images.shape == (2, 16, 16, 3) and masks.shape[:3] == (2, 16, 16)
    assert masks[0].mean() == pytest.approx(0.5) and masks[1].sum() == 0
