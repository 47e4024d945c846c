"""Pre-training sources compared at one budget of images
(``pretraining.compare_sources``), labelled and pseudo-labelled."""

import json

import pytest

from catunet.errors import CatunetError
from catunet.study import pretraining
from tests.conftest import write_folder


@pytest.mark.slow
def test_sources_are_compared_at_one_budget(tmp_path, shapes_dir,
                                            monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(pretraining.TRANSFER_VARIANTS, "frozen-then-unfrozen",
                        {"init": pretraining.PRETRAINED, "freeze_epochs": 1,
                         "fine_tune_learning_rate": 1e-4})
    small = write_folder(tmp_path / "small", n=10, seed=1)
    large = write_folder(tmp_path / "large", n=20, seed=2)
    sources = {"small": str(small), "both": f"{small},{large}"}
    summary, _ = pretraining.compare_sources(
        sources, str(shapes_dir), seeds=2, runs_dir=tmp_path / "runs",
        budget=28, split=str(tmp_path / "split.json"), width=2, depth=2,
        epochs=2, batch_size=4, image_size=32)
    # 7 and 7 + 14 training pairs: 4 epochs and 1 epoch see ~28 images.
    assert summary["pretrain"]["small"]["config"]["epochs"] == 4
    assert summary["pretrain"]["both"]["config"]["epochs"] == 1
    both = summary["pretrain"]["both"]
    assert set(both["held_out_by_source"]) == {"small", "large"}
    assert both["held_out"]["count"] == 3 + 6
    from catunet.study.reports import write_sources_report

    write_sources_report(summary, tmp_path / "reports")
    text = (tmp_path / "reports" / "sources.md").read_text()
    assert "| small | 4 |" in text and "| both | 1 |" in text


@pytest.mark.slow
def test_unlabelled_source_is_pseudo_labelled_by_each_seeds_model(
        tmp_path, shapes_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(pretraining.TRANSFER_VARIANTS, "frozen-then-unfrozen",
                        {"init": pretraining.PRETRAINED, "freeze_epochs": 4,
                         "fine_tune_learning_rate": 1e-3})
    small = write_folder(tmp_path / "small", n=10, seed=1)
    photos = write_folder(tmp_path / "more", n=10, seed=7) / "images"
    sources = {"small": str(small), "more": f"pseudo:{photos}"}
    summary, _ = pretraining.compare_sources(
        sources, str(shapes_dir), seeds=2, runs_dir=tmp_path / "runs",
        budget=28, split=str(tmp_path / "split.json"), width=4, depth=2,
        epochs=12, batch_size=4, image_size=32, pseudo_keep=1.0)
    more = summary["pretrain"]["more"]
    assert [p["photos"] for p in more["pseudo_labels"]] == [10, 10]
    teachers = [r["folder"] for r in summary["results"]["small"]]
    for seed, run in enumerate(more["per_seed"]):
        labelled = tmp_path / "runs" / f"pseudo-images-s{seed}"
        assert run["config"]["data_dir"] == str(labelled)
        # Its split lives with the pseudo-masks, not in data/splits/.
        assert run["config"]["split"] == str(labelled / "split.json")
        assert summary["results"]["more"][seed]["config"]["init"] == \
            run["model"]
        # Labelled by this seed's teacher, which the folder records.
        assert json.loads((labelled / "teacher.json").read_text())[
            "key"] == summary["results"]["small"][seed]["key"]
    assert [p.name for p in (tmp_path / "data" / "splits").iterdir()] == \
        ["small.json"]
    assert len(set(teachers)) == 2
    from catunet.study.reports import write_sources_report

    write_sources_report(summary, tmp_path / "reports")
    text = (tmp_path / "reports" / "sources.md").read_text()
    assert "`more` has no masks" in text and "seed's `small` model" in text
    with pytest.raises(CatunetError, match="cannot itself need labelling"):
        pretraining.compare_sources({"more": f"pseudo:{photos}"},
                                    str(shapes_dir), seeds=2)
    with pytest.raises(CatunetError, match="a source of its own"):
        pretraining.compare_sources(
            {"small": str(small), "mix": f"{small},pseudo:{photos}"},
            str(shapes_dir), seeds=2)
