"""The web page in a real headless browser (Debian's chromium): upload a
cat photo from the test split, see the outline, download the mask; upload
a non-image and read the error."""

import json
import os

import cv2
import numpy as np
import pytest

from catunet.data import loading
from catunet.serving.segmenter import Segmenter
from catunet.serving.web.app import Background
from catunet.study import browser

# CI installs chromium and sets CATUNET_REQUIRE_BROWSER=1: there, a missing
# browser fails the test instead of skipping it.
pytestmark = pytest.mark.skipif(
    browser.find_chromium() is None
    and not os.environ.get("CATUNET_REQUIRE_BROWSER"),
    reason="no chromium here (.ci/run installs Debian's chromium)")


@pytest.fixture(scope="module")
def url(tiny_model):
    segmenter = Segmenter(tiny_model, runtime="keras")
    with Background(segmenter) as url:
        yield url + "/"
    segmenter.close()


def test_upload_a_cat_see_the_outline_download_the_mask(url, cats_dir,
                                                        tmp_path):
    photo_path = sorted((cats_dir / "images").glob("*.jpg"))[0]
    photo = loading.read_image(photo_path)
    with browser.open_page(url) as page:
        assert "width 2" in page.inner_text("#model")
        cards = browser.upload(page, [photo_path])
        card = cards.first
        assert card.get_attribute("data-status") == "done"
        assert card.locator(".name").inner_text() == photo_path.name
        assert "% of the photo" in card.locator(".area").inner_text()
        size = page.evaluate("() => { const c = document.querySelector("
                             "'.result canvas'); return [c.height, c.width]; }")
        assert tuple(size) == photo.shape[:2]  # drawn at the photo's size
        saved = browser.download(page, card.locator(".download-mask"), tmp_path)
        assert saved.name == f"{photo_path.stem}-mask.png"
        mask = cv2.imread(str(saved), cv2.IMREAD_GRAYSCALE)
        assert mask.shape == photo.shape[:2]
        assert set(np.unique(mask)) <= {0, 255}
        outlined = browser.download(page, card.locator(".download-outlined"),
                                    tmp_path)
        assert cv2.imread(str(outlined)).shape[:2] == photo.shape[:2]
        page.check("#mask-toggle")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert (tmp_path / "page.png").stat().st_size > 10_000

        not_photo = tmp_path / "notes.jpg"
        not_photo.write_text("this is text, not a photo")
        cards = browser.upload(page, [not_photo])
        failed = cards.first
        assert failed.get_attribute("data-status") == "error"
        assert "not a photo" in failed.locator(".status").inner_text()


def test_a_sideways_phone_photo_is_drawn_upright_at_its_viewed_size(
        url, tmp_path):
    """A JPEG stored sideways with EXIF orientation 6 (issue 44): the
    canvas takes the upright size and the photo is drawn upright in it, so
    the outline lines up with it; red is on the left, as a viewer shows."""
    from PIL import Image

    upright = np.zeros((60, 90, 3), np.uint8)
    upright[:] = (0, 0, 255)
    upright[:, :30] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to view
    path = tmp_path / "sideways.jpg"
    Image.fromarray(np.ascontiguousarray(np.rot90(upright, k=1))).save(
        path, quality=95, exif=exif)
    with browser.open_page(url) as page:
        card = browser.upload(page, [path]).first
        assert card.get_attribute("data-status") == "done"
        pixels = page.evaluate(
            "() => { const c = document.querySelector('.result canvas');"
            " const g = c.getContext('2d');"
            " const at = (x, y) => Array.from(g.getImageData(x, y, 1, 1).data);"
            " return {size: [c.height, c.width],"
            "         left: [at(8, 10), at(8, 50), at(20, 30)],"
            "         right: [at(80, 10), at(80, 50), at(60, 30)]}; }")
    assert pixels["size"] == [60, 90]
    left, right = (np.median(pixels[side], axis=0) for side in
                   ("left", "right"))
    assert left[0] > 150 and left[2] < 100, left  # red
    assert right[2] > 150 and right[0] < 100, right  # blue


def test_the_page_names_a_pretrained_encoder_model():
    """The model line names the encoder of the model that ships, not a
    width it does not have."""
    from catunet import shipped

    segmenter = Segmenter(shipped.model_path(), runtime="keras")
    try:
        with Background(segmenter) as url, browser.open_page(url + "/") as page:
            page.wait_for_function(
                "document.getElementById('model').textContent.length > 0")
            text = page.inner_text("#model")
    finally:
        segmenter.close()
    encoder = json.loads((shipped.FOLDER / "config.json").read_text())[
        "encoder"]
    assert f"U-Net over {encoder}" in text and "width" not in text
