import json
import shutil

import numpy as np
import pytest

from catunet.data import loading, split
from catunet.errors import CatunetError
from tests.conftest import ROOT, write_folder


def test_split_is_seeded_disjoint_and_complete(shapes_dir):
    pairs = loading.find_pairs(shapes_dir)
    a = split.make_split(pairs, seed=7)
    b = split.make_split(list(reversed(pairs)), seed=7)
    assert a == b  # the disk's listing order does not matter
    train = {image for image, _ in a["train"]}
    test = {image for image, _ in a["test"]}
    assert not train & test
    assert train | test == {p.image.name for p in pairs}
    assert len(test) == round(0.3 * len(pairs))
    assert split.make_split(pairs, seed=8)["test"] != a["test"]


def test_zero_test_fraction_puts_every_pair_in_train(shapes_dir):
    pairs = loading.find_pairs(shapes_dir)
    manifest = split.make_split(pairs, test_fraction=0)
    assert manifest["test"] == []
    assert sorted(i for i, _ in manifest["train"]) == sorted(
        p.image.name for p in pairs)
    train, test = split.resolve_split(manifest, pairs)
    assert (len(train), test) == (len(pairs), [])
    with pytest.raises(ValueError):
        split.make_split(pairs, test_fraction=1)


def test_81_pairs_split_57_24(tmp_path):
    pairs = loading.find_pairs(write_folder(tmp_path, n=81))
    manifest = split.make_split(pairs)
    assert (len(manifest["train"]), len(manifest["test"])) == (57, 24)


def test_saved_split_round_trips(shapes_dir, tmp_path):
    pairs = loading.find_pairs(shapes_dir)
    manifest = split.make_split(pairs, seed=1)
    split.save_split(manifest, tmp_path / "s.json")
    assert split.load_split(tmp_path / "s.json") == manifest
    train, test = split.resolve_split(manifest, pairs)
    assert [p.image.name for p in test] == [i for i, _ in manifest["test"]]
    assert len(train) + len(test) == len(pairs)


def test_overlapping_split_is_refused(shapes_dir):
    pairs = loading.find_pairs(shapes_dir)
    manifest = split.make_split(pairs)
    manifest["train"].append(manifest["test"][0])
    with pytest.raises(CatunetError, match="share"):
        split.resolve_split(manifest, pairs)


def test_missing_file_is_refused(shapes_dir):
    manifest = split.make_split(loading.find_pairs(shapes_dir))
    gone = manifest["test"][0]
    (shapes_dir / "images" / gone[0]).unlink()
    (shapes_dir / "masks" / gone[1]).unlink()
    with pytest.raises(CatunetError, match=f"not in the data folder: {gone[0]}"):
        split.resolve_split(manifest, loading.find_pairs(shapes_dir))


def test_changed_file_is_refused(shapes_dir):
    manifest = split.make_split(loading.find_pairs(shapes_dir))
    shutil.copy(shapes_dir / "images" / "shape.1.jpg",
                shapes_dir / "images" / "shape.2.jpg")
    with pytest.raises(CatunetError, match="fingerprint"):
        split.resolve_split(manifest, loading.find_pairs(shapes_dir))


def test_added_files_warn_and_stay_out_of_train(shapes_dir):
    manifest = split.make_split(loading.find_pairs(shapes_dir))
    extra = write_folder(shapes_dir.parent / "extra", n=1, seed=5)
    shutil.copy(extra / "images" / "shape.0.jpg",
                shapes_dir / "images" / "new.jpg")
    shutil.copy(extra / "masks" / "mask_shape.0.png",
                shapes_dir / "masks" / "mask_new.png")
    with pytest.warns(UserWarning, match="added after the split.*new.jpg"):
        train, test = split.resolve_split(manifest, loading.find_pairs(shapes_dir))
    assert "new.jpg" not in {p.image.name for p in train + test}


@pytest.mark.parametrize("text, reason", [
    (None, "not found"), ("{", "not a readable"), ('{"seed": 0}', "has no"),
])
def test_bad_manifest_files(tmp_path, text, reason):
    path = tmp_path / "s.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(CatunetError, match=reason):
        split.load_split(path)


def test_validation_folds_partition_train(shapes_dir):
    pairs = loading.find_pairs(shapes_dir)
    folds = [split.validation_fold(pairs, 3, k)[1] for k in range(3)]
    names = [p.image.name for fold in folds for p in fold]
    assert sorted(names) == sorted(p.image.name for p in pairs)
    fit, val = split.validation_fold(pairs, 3, 1)
    assert not {p.image for p in fit} & {p.image for p in val}
    assert split.validation_fold(pairs, 0, 0) == (pairs, [])


def test_committed_cat_split_matches_the_cat_set(cats_dir):
    manifest = json.loads((ROOT / "data" / "splits" / "cats.json").read_text())
    assert (len(manifest["train"]), len(manifest["test"])) == (57, 24)
    train, test = split.resolve_split(manifest, loading.find_pairs(cats_dir))
    assert not {p.image for p in train} & {p.image for p in test}
    # The manifest is the one make_split gives with its recorded seed.
    assert split.make_split(train + test, seed=manifest["seed"]) == manifest
    assert np.isclose(len(test) / 81, 0.3, atol=0.01)


def frames(tmp_path, sequences=8, per_sequence=6):
    """Pairs named like DAVIS frames: SEQUENCE_NNNNN."""
    from catunet.data.loading import Pair

    return [Pair(tmp_path / "images" / f"seq{s}_{f:05d}.jpg",
                 tmp_path / "masks" / f"seq{s}_{f:05d}.png")
            for s in range(sequences) for f in range(per_sequence)]


def test_video_frames_are_split_by_sequence(tmp_path, monkeypatch):
    monkeypatch.setattr(split, "fingerprint", lambda pairs: "x")
    pairs = frames(tmp_path)
    manifest = split.make_split(pairs, seed=0)
    sequence = lambda names: {n.rsplit("_", 1)[0] for n, _ in names}
    assert manifest["grouped"]
    assert not sequence(manifest["train"]) & sequence(manifest["test"])
    assert len(manifest["test"]) in (12, 18)  # whole sequences near 30 %
    fit, val = split.validation_fold(pairs, 3, 1, seed=0)
    seq = lambda ps: {p.image.stem.rsplit("_", 1)[0] for p in ps}
    assert val and not seq(fit) & seq(val)


@pytest.mark.parametrize("names, grouped", [
    (["cat.1", "cat.2", "cat.3"], False),            # no prefix_number
    ([f"horse{i:03d}" for i in range(10)], False),
    ([f"img_{i}" for i in range(10)], False),         # one prefix only
    ([f"s{i}_{j}" for i in range(5) for j in range(2)], True),
])
def test_which_names_carry_groups(tmp_path, names, grouped):
    from catunet.data.loading import Pair

    pairs = [Pair(tmp_path / f"{n}.jpg", tmp_path / f"{n}.png") for n in names]
    assert (split.groups_of(pairs) is not None) == grouped
