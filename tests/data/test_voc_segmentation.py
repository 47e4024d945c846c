"""The VOC builder beyond TFDS's own test: the tar path and the offline error."""

import tarfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from catunet.data.datasets.voc_segmentation import voc_segmentation_dataset_builder as voc

DUMMY = Path(voc.__file__).with_name("dummy_data")


def test_reads_the_official_tar_from_the_manual_folder(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    with tarfile.open(manual / voc.ARCHIVE, "w") as tar:
        tar.add(DUMMY / "VOCdevkit", arcname="VOCdevkit")
    builder = voc.Builder(data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    assert len(examples) == 3
    cat = next(e for e in examples if e["file_name"] == b"2007_000032.jpg")
    assert cat["segmentation"].shape[:2] == cat["image"].shape[:2]
    assert set(np.unique(cat["segmentation"])) == {0, 8, voc.VOID}  # cat + void


def test_offline_error_says_what_to_put_where(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract",
                        offline)
    builder = voc.Builder(data_dir=str(tmp_path / "tfds"))
    with pytest.raises(RuntimeError, match=f"{voc.ARCHIVE}.*VOCdevkit"):
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
            manual_dir=str(tmp_path / "empty")))


def test_voc_becomes_binary_foreground(monkeypatch, tmp_path):
    from catunet.data.datasets import voc

    images, masks = voc.load_voc("train", size=32, tfds_dir=str(tmp_path),
                                 manual_dir=str(DUMMY))
    assert images.shape == (3, 32, 32, 3) and masks.shape == (3, 32, 32, 1)
    assert set(np.unique(masks)) == {0, 1}
    # Only the photo of a cat (class 8) is kept with classes="cat".
    cats, _ = voc.load_voc("train", size=32, tfds_dir=str(tmp_path),
                           manual_dir=str(DUMMY), classes="cat")
    assert len(cats) == 1


def test_foreground_counts_void_and_chosen_classes():
    from catunet.data.datasets import voc

    segmentation = np.array([[0, 8, 255], [12, 15, 0]])
    np.testing.assert_array_equal(voc.foreground(segmentation, [8, 12]),
                                  [[0, 1, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="unknown VOC classes"):
        voc.class_ids("cat,unicorn")
