import cv2
import numpy as np
import pytest

from catunet.data import loading
from catunet.errors import CatunetError
from tests.conftest import write_folder


@pytest.mark.parametrize("mask_name", [
    "{stem}.png",          # same stem (the horses)
    "mask_{stem}.jpg",     # prefix (the cats)
    "{stem}_mask.bmp",     # suffix
    "{stem}_MASK.TIF",     # case-insensitive name and extension
])
def test_find_pairs_matches_every_naming(tmp_path, mask_name):
    write_folder(tmp_path, n=3, mask_name=mask_name)
    pairs = loading.find_pairs(tmp_path)
    assert [p.image.name for p in pairs] == [f"shape.{i}.jpg" for i in range(3)]
    for p in pairs:
        assert p.mask.name == mask_name.format(stem=p.image.stem)


def test_photos_of_folders_and_patterns(tmp_path):
    first = write_folder(tmp_path / "first", n=3)
    second = write_folder(tmp_path / "second", n=12)
    found = loading.photos_of(f"{first}, {second}/images/shape.1*.jpg,"
                           f"{first}/images/shape.0.jpg")
    assert [(p.parent.parent.name, p.name) for p in found] == [
        ("first", f"shape.{i}.jpg") for i in range(3)] + [
        ("second", name) for name in ("shape.1.jpg", "shape.10.jpg",
                                      "shape.11.jpg")]
    with pytest.raises(CatunetError, match="no photos match"):
        loading.photos_of(f"{first},{second}/masks/*.jpg")
    with pytest.raises(CatunetError, match="not found"):
        loading.photos_of(str(tmp_path / "third"))


def test_find_pairs_lists_lonely_photos_and_masks(shapes_dir):
    (shapes_dir / "masks" / "mask_shape.0.png").unlink()
    (shapes_dir / "images" / "shape.1.jpg").unlink()
    with pytest.raises(CatunetError) as error:
        loading.find_pairs(shapes_dir)
    message = str(error.value)
    assert "photos with no mask" in message and "shape.0.jpg" in message
    assert "masks with no photo" in message and "mask_shape.1.png" in message


def test_find_pairs_names_non_image_files(shapes_dir):
    (shapes_dir / "images" / "notes.txt").write_text("hello")
    with pytest.raises(CatunetError, match="notes.txt"):
        loading.find_pairs(shapes_dir)


def test_find_pairs_ignores_hidden_files(shapes_dir):
    (shapes_dir / "images" / ".DS_Store").write_bytes(b"\0")
    assert len(loading.find_pairs(shapes_dir)) == 12


@pytest.mark.parametrize("make, reason", [
    (lambda root: None, "folder not found"),
    (lambda root: (root / "images").mkdir(parents=True), "folder not found"),
    (lambda root: [(root / d).mkdir(parents=True) for d in ("images", "masks")],
     "no images"),
])
def test_find_pairs_missing_or_empty_folders(tmp_path, make, reason):
    make(tmp_path / "d")
    with pytest.raises(CatunetError, match=reason):
        loading.find_pairs(tmp_path / "d")


def test_corrupt_image_is_named(shapes_dir):
    bad = shapes_dir / "images" / "shape.3.jpg"
    bad.write_bytes(b"this is not a jpeg")
    pairs = loading.find_pairs(shapes_dir)
    with pytest.raises(CatunetError, match="shape.3.jpg: not a readable image"):
        loading.load_pairs(pairs)


def test_empty_file_is_named(shapes_dir):
    bad = shapes_dir / "masks" / "mask_shape.2.png"
    bad.write_bytes(b"")
    with pytest.raises(CatunetError, match="mask_shape.2.png"):
        loading.load_pairs(loading.find_pairs(shapes_dir))


def test_grayscale_and_rgba_photos_become_rgb(tmp_path):
    gray = tmp_path / "gray.png"
    rgba = tmp_path / "rgba.png"
    cv2.imwrite(str(gray), np.full((5, 7), 100, np.uint8))
    bgra = np.zeros((5, 7, 4), np.uint8)
    bgra[..., 0] = 255  # blue in OpenCV's order
    bgra[..., 3] = 128
    cv2.imwrite(str(rgba), bgra)
    assert loading.read_image(gray).shape == (5, 7, 3)
    assert (loading.read_image(gray) == 100).all()
    rgb = loading.read_image(rgba)
    assert rgb.shape == (5, 7, 3)
    assert (rgb[..., 2] == 255).all() and (rgb[..., :2] == 0).all()


def test_mask_is_binarised_at_half(tmp_path):
    path = tmp_path / "m.png"
    cv2.imwrite(str(path), np.array([[0, 100, 127], [128, 200, 255]], np.uint8))
    np.testing.assert_array_equal(loading.read_mask(path), [[0, 0, 0], [1, 1, 1]])


def test_resize_mask_stays_binary_and_keeps_shape():
    mask = np.zeros((300, 500), np.uint8)
    mask[75:225, 125:375] = 1  # the middle half of each side
    small = loading.resize_mask(mask, 128)
    assert small.shape == (128, 128)
    assert set(np.unique(small)) <= {0, 1}
    assert abs(small.mean() - 0.25) < 0.01


def test_load_pairs_resizes_to_square(shapes_dir):
    images, masks = loading.load_pairs(loading.find_pairs(shapes_dir), size=32)
    assert images.shape == (12, 32, 32, 3) and images.dtype == np.uint8
    assert masks.shape == (12, 32, 32, 1) and set(np.unique(masks)) == {0, 1}


def test_all_background_mask_warns(shapes_dir):
    cv2.imwrite(str(shapes_dir / "masks" / "mask_shape.4.png"),
                np.zeros((48, 64), np.uint8))
    with pytest.warns(UserWarning, match="mask_shape.4.png: mask is all background"):
        loading.load_pairs(loading.find_pairs(shapes_dir))


def test_make_dataset_batches_floats_in_order(shapes_dir):
    images, masks = loading.load_pairs(loading.find_pairs(shapes_dir), size=32)
    batches = list(loading.make_dataset(images, masks, batch_size=5))
    assert [b[0].shape[0] for b in batches] == [5, 5, 2]
    x, y = batches[0]
    assert x.dtype.name == "float32" and y.dtype.name == "float32"
    assert float(x.numpy().max()) > 1.0  # the model rescales, not the pipeline
    np.testing.assert_array_equal(x.numpy(), images[:5])


def test_training_stream_visits_every_image_once_per_epoch(shapes_dir):
    images, masks = loading.load_pairs(loading.find_pairs(shapes_dir), size=16)
    stream = list(loading.make_training_dataset(images, masks, 5, seed=3,
                                             epochs=2))
    assert [len(x) for x, _ in stream] == [5, 5, 2] * 2
    sums = sorted(float(v) for v in images.reshape(12, -1).sum(axis=1))
    for epoch in (stream[:3], stream[3:]):
        seen = np.concatenate([x.numpy() for x, _ in epoch])
        assert sorted(float(v) for v in seen.reshape(12, -1).sum(axis=1)) \
            == sums
    first = np.concatenate([x.numpy() for x, _ in stream[:3]])
    assert not np.array_equal(first, images)  # shuffled


def test_pairs_of_finds_each_photos_mask_or_says_why(tmp_path):
    folder = write_folder(tmp_path / "people", n=3)
    photos = loading.photos_of(f"{folder}/images/shape.[02].*")
    assert [(p.image.name, p.mask.name) for p in loading.pairs_of(photos)] == [
        ("shape.0.jpg", "mask_shape.0.png"), ("shape.2.jpg", "mask_shape.2.png")]
    hidden = folder / "images" / ".shape.9.jpg"
    hidden.write_bytes((folder / "images" / "shape.0.jpg").read_bytes())
    with pytest.raises(CatunetError, match="pairs with a mask"):
        loading.pairs_of([hidden])
