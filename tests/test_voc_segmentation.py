"""The VOC builder beyond TFDS's own test: the tar path and the offline error."""

import tarfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from catunet.datasets.voc_segmentation import voc_segmentation_dataset_builder as voc

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
