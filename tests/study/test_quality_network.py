"""The quality ladder at tiny widths: the steps that change the network
(width, batch norm, each from its own pre-training), copy-paste, and the
final recipe with its inference settings. The ``schedule`` and
``capacity-32`` steps add settings that other steps here already take
through the same path (``test_quality`` checks what each step sets;
cosine training itself is in ``tests/test_train.py``)."""

import json
from pathlib import Path

import pytest

from catunet.study import quality
from tests.study.ladder import climb

pytestmark = pytest.mark.slow


def test_capacity_and_copy_paste_steps(tmp_path, shapes_dir, monkeypatch):
    folder = tmp_path
    summary, study = climb(folder, shapes_dir, monkeypatch,
                           ["capacity", "copy-paste", "copy-paste-on-cats",
                            "batch-norm"],
                           final_seeds=1)
    names = [step["name"] for step in summary["steps"]]
    assert names == ["transfer", "capacity", "copy-paste",
                     "copy-paste-on-cats", "batch-norm"]
    kept = {s["name"] for s in summary["steps"] if s["kept"]}
    wider = summary["steps"][1]["runs"][0]["config"]
    assert wider["width"] == 6 and wider["init"] == \
        summary["pretrained"]["width-6"]["model"]
    assert summary["pretrained"]["width-6"]["config"]["width"] == 6
    # The next step builds on the capacity step's network when it was kept.
    pasted = summary["steps"][2]["runs"][0]["config"]
    assert pasted["copy_paste"] == quality.COPY_PASTE
    assert pasted["width"] == (6 if "capacity" in kept else 4)
    assert pasted["paste_backgrounds"]
    on_cats = summary["steps"][3]["runs"][0]["config"]
    assert on_cats["copy_paste"] == quality.COPY_PASTE
    assert on_cats["paste_backgrounds"] is None
    # Batch norm: the kept recipe's width, from its own pre-training.
    normed = summary["steps"][4]["runs"][0]["config"]
    width = 6 if "capacity" in kept else 4
    assert normed["batch_norm"] and normed["width"] == width
    pretrained = summary["pretrained"][f"width-{width}-bn"]
    assert normed["init"] == pretrained["model"]
    assert pretrained["config"]["batch_norm"]

    # The final recipe: the kept steps on all training photos, named after
    # them, with the inference settings chosen on validation beside it.
    kept_steps = [s["name"] for s in summary["steps"][1:] if s["kept"]] \
        or ["transfer"]
    final = summary["final"][0]
    assert final["config"]["folds"] == 0 and final["config"]["teacher"] is None
    assert Path(final["folder"]).name == f"final-{'+'.join(kept_steps)}-s0"
    chosen = json.loads((Path(final["folder"]) / "inference.json").read_text())
    assert chosen == summary["inference"]["chosen"]
    reports = folder / "reports"
    quality.draw_worst_three(summary, study, reports)
    quality.write_quality_report(summary, reports)
    assert (reports / "quality-worst.png").stat().st_size > 0
    text = (reports / "quality.md").read_text()
    assert "| capacity |" in text
    assert "| copy-paste |" in text and "| copy-paste-on-cats |" in text
    assert "| batch-norm |" in text
    assert "The final recipe" in text
    saved = json.loads((reports / "quality.json").read_text())
    assert saved["inference"]["chosen"] == summary["inference"]["chosen"]
