"""The default model's report says which inference its models predict
with, from defaults.json alone (the real run is
python -m catunet.study.defaults)."""

import copy
import json
from pathlib import Path

import pytest

from catunet.inference.predict import Settings
from catunet.study import defaults

SUMMARY = json.loads((Path(__file__).resolve().parents[2] / "reports" /
                      "defaults" / "defaults.json").read_text())


@pytest.fixture
def plain_summary():
    """The committed summary as if no inference option had been kept."""
    summary = copy.deepcopy(SUMMARY)
    plain = summary["inference"]["tried"][0]
    summary["inference"] = {"tried": [plain], "best": plain,
                            "chosen": Settings.as_dict({})}
    return summary


def test_the_readme_names_the_chosen_inference_and_what_it_gained():
    text = defaults.readme_section(SUMMARY)
    chosen = SUMMARY["inference"]["chosen"]
    assert chosen != Settings.as_dict({})  # the committed study kept some
    assert "Its models predict with `--tta" in text
    assert "predicting with `--tta" in text  # the test look used them
    plain, best = (SUMMARY["inference"]["tried"][0],
                   SUMMARY["inference"]["best"])
    score = lambda r: sum(r["val_dice"] + r["scene_dice"]) / (
        2 * len(r["val_dice"]))
    assert f"choosing score {score(plain):.3f} plain, " \
           f"{score(best):.3f} with them" in text


def test_plain_inference_is_said_as_such(plain_summary):
    text = defaults.readme_section(plain_summary)
    assert "Its models predict with" not in text
    assert "plain inference" in text
    assert "Chosen inference: plain" in defaults.markdown(plain_summary)


def test_the_report_says_while_its_final_seeds_are_pending():
    pending = {**SUMMARY, "final": None, "final_pending": True}
    text = defaults.markdown(pending)
    assert "Its final seeds are not trained yet" in text
    assert "on the test photos (scored once)" not in text
    assert "not trained yet" not in defaults.markdown(SUMMARY)
