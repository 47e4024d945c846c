"""catunet serve: the JSON API, bad input, concurrency on a real server."""

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from catunet.data import loading
from catunet.inference.predict import Settings, predict_photo_masks
from catunet.inference.runtimes import load_runtime
from catunet.serving.segmenter import Segmenter
from catunet.serving.web.app import Background, create_app


@pytest.fixture(scope="module")
def segmenter(tiny_model):
    segmenter = Segmenter(tiny_model, runtime="keras")
    yield segmenter
    segmenter.close()


@pytest.fixture(scope="module")
def client(segmenter):
    with TestClient(create_app(segmenter)) as client:
        yield client


@pytest.fixture(scope="module")
def photos(tiny_model):
    """The tiny model's drawn photos (64 x 48) as JPEG bytes and arrays."""
    folder = tiny_model.parent.parent / "shapes" / "images"
    paths = sorted(folder.glob("*.jpg"))
    return [(p.read_bytes(), loading.read_image(p)) for p in paths]


def mask_of(body):
    png = np.frombuffer(base64.b64decode(body["mask_png"]), np.uint8)
    return (cv2.imdecode(png, cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8)


def post(client, payload, name="cat.jpg", kind="image/jpeg"):
    return client.post("/api/segment", files={"file": (name, payload, kind)})


def test_health_names_the_model(client, tiny_model):
    info = client.get("/api/health").json()
    assert info["status"] == "ok" and info["model"] == tiny_model.name
    assert (info["width"], info["image_size"], info["runtime"]) == (2, 32, "keras")


def test_segment_equals_the_visualize_path(client, photos, tiny_model):
    payload, photo = photos[0]
    response = post(client, payload)
    assert response.status_code == 200
    body = response.json()
    assert (body["height"], body["width"]) == photo.shape[:2] == (48, 64)
    model, _ = load_runtime(tiny_model, "keras")
    expected = predict_photo_masks(model, [photo], Settings.beside(tiny_model))[0]
    np.testing.assert_array_equal(mask_of(body), expected)
    assert body["area"] == pytest.approx(expected.mean())
    # The polygons outline the mask: filled, they give it back (nearly:
    # a polygon through pixel centres is half a pixel short at the edge).
    filled = np.zeros_like(expected)
    for polygon in body["polygons"]:
        assert all(0 <= x < 64 and 0 <= y < 48 for x, y in polygon)
        cv2.fillPoly(filled, [np.array(polygon, np.int32)], 1)
    assert np.abs(filled.astype(int) - expected).sum() <= 0.05 * 48 * 64


def test_the_page_works_offline(client):
    page = client.get("/").text
    assert "<script src=\"/static/app.js\">" in page
    assert "http://" not in page and "https://" not in page
    script = client.get("/static/app.js").text
    assert "/api/segment" in script and "https://" not in script


@pytest.mark.parametrize("payload, name, kind, status, words", [
    (b"", "empty.jpg", "image/jpeg", 400, "empty"),
    (b"GIF89 not really", "x.jpg", "image/jpeg", 415, "not a photo"),
    (b"hello", "notes.txt", "text/plain", 415, "text/plain"),
])
def test_bad_uploads_get_a_clear_json_error(client, payload, name, kind,
                                            status, words):
    response = post(client, payload, name, kind)
    assert response.status_code == status
    assert words in response.json()["error"]


def test_truncated_jpeg(client, photos):
    photo = cv2.resize(photos[0][1], (640, 480))
    whole = cv2.imencode(".jpg", photo)[1].tobytes()
    response = post(client, whole[: len(whole) // 2])
    assert response.status_code == 400 and "cut short" in response.json()["error"]


def test_a_huge_photo_is_refused_by_its_header(client):
    from PIL import Image
    import io

    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")
    response = post(client, buffer.getvalue(), "huge.png", "image/png")
    assert response.status_code == 413
    assert "10000 x 10000" in response.json()["error"]


def test_a_50_mb_upload_is_refused_unread(client):
    response = post(client, b"\0" * (50 * 2**20))
    assert response.status_code == 413 and "limit" in response.json()["error"]


def test_no_file_field(client):
    response = client.post("/api/segment", data={"photo": "x"})
    assert response.status_code == 422 and "'file'" in response.json()["error"]


def test_a_path_in_the_file_name_writes_nothing_anywhere(
        client, photos, tmp_path, monkeypatch, tiny_model):
    monkeypatch.chdir(tmp_path)
    before = set(tiny_model.parent.rglob("*"))
    response = post(client, photos[1][0], "../../../etc/evil.jpg")
    assert response.status_code == 200
    assert response.json()["name"] == "evil.jpg"
    assert list(tmp_path.iterdir()) == []
    assert set(tiny_model.parent.rglob("*")) == before
    assert not (tmp_path.parents[2] / "etc" / "evil.jpg").exists()


def test_the_server_keeps_serving_after_bad_input(client, photos):
    for payload in (b"", b"junk", photos[0][0][:100]):
        assert post(client, payload).status_code in (400, 415)
    assert post(client, photos[0][0]).status_code == 200


@pytest.mark.parametrize("height, width", [(1, 1), (1, 7), (5, 1), (2, 2)])
def test_a_tiny_photo_gets_a_valid_answer(client, height, width):
    photo = np.full((height, width, 3), 200, np.uint8)
    ok, encoded = cv2.imencode(".png", photo)
    response = post(client, encoded.tobytes(), "tiny.png", "image/png")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["height"], body["width"]) == (height, width)
    assert all(len(polygon) >= 3 for polygon in body["polygons"])


def test_polygons_have_three_points_or_more():
    from catunet.serving.segmenter import Segmentation

    mask = np.zeros((20, 20), np.uint8)
    mask[2, 2] = 1  # one pixel: a one-point outline
    mask[10, 4:6] = 1  # two pixels: a two-point outline
    mask[12:18, 12:18] = 1
    polygons = Segmentation(mask).polygons()
    assert len(polygons) == 1 and len(polygons[0]) == 4
    assert Segmentation(mask).mask.sum() == 39  # the specks stay in the mask


def test_an_unexpected_error_is_json_and_logged(segmenter, photos, caplog,
                                                monkeypatch):
    def broken(photo, timeout=120):
        raise RuntimeError("the model fell over")

    monkeypatch.setattr(segmenter, "segment", broken)
    with TestClient(create_app(segmenter), raise_server_exceptions=False) \
            as client:
        response = post(client, photos[0][0])
    assert response.status_code == 500
    assert "RuntimeError" in response.json()["error"]
    assert "the model fell over" in caplog.text


# -- a real server on 127.0.0.1 -------------------------------------------------

@pytest.fixture(scope="module")
def server(segmenter):
    """uvicorn serving the app on a free port, in this process."""
    with Background(segmenter) as url:
        yield url


def test_20_concurrent_requests_from_4_clients_equal_sequential(server, photos):
    import httpx2 as httpx

    def one(client, payload):
        response = client.post(f"{server}/api/segment",
                               files={"file": ("c.jpg", payload, "image/jpeg")})
        assert response.status_code == 200, response.text
        return mask_of(response.json())

    jobs = [photos[i % len(photos)][0] for i in range(20)]
    with httpx.Client(timeout=60) as client:
        sequential = [one(client, payload) for payload in jobs]

    def client_loop(indices):
        with httpx.Client(timeout=60) as client:
            return {i: one(client, jobs[i]) for i in indices}

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        parts = list(pool.map(client_loop, [range(k, 20, 4) for k in range(4)]))
    assert time.monotonic() - started < 120
    concurrent = {i: m for part in parts for i, m in part.items()}
    assert sorted(concurrent) == list(range(20))
    for i in range(20):
        np.testing.assert_array_equal(concurrent[i], sequential[i])


def test_cli_serve_without_a_model_says_how_to_get_one(tmp_path):
    from tests.training.test_train import run_cli

    result = run_cli("-m", "catunet.cli", "serve", "--model",
                     str(tmp_path / "none.keras"))
    assert result.returncode != 0
    assert "no such model" in result.stderr and "Traceback" not in result.stderr


def test_serve_help_explains_every_flag():
    from tests.training.test_train import run_cli

    out = run_cli("-m", "catunet.cli", "serve", "--help").stdout
    for flag in ("--model", "--host", "--port", "--runtime", "--tta",
                 "--threshold", "127.0.0.1"):
        assert flag in out, flag
