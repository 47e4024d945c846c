"""Rendering the reports from the JSON summaries: REPORT.md's table and time,
README's generated sections, the discussion templates, and what changes
when a number in the JSON changes."""

import copy
import shutil
from pathlib import Path

import pytest

from catunet.study import discussions, render, report, report_page
from catunet.study.reports import write_losses_report
from tests.conftest import ROOT

REPORTS = ROOT / "reports"


def run(out, test, seconds, seed=0):
    return {"config": {"out": out, "seed": seed}, "test_dice": test,
            "seconds": seconds, "val_dice": test}


@pytest.fixture
def steps():
    shared = run("runs/losses/bce+dice-s0", 0.7, 60)
    return {
        "losses": {"baselines": {"all-cat": 0.6}, "winner": "bce+dice",
                   "split": {"train": 57, "test": 24, "seed": 0},
                   "results": {"bce+dice": [shared], "dice": [
                       run("runs/losses/dice-s0", 0.2, 60)]}},
        "augmentation": {"winner": "none", "results": {"none": [shared]}},
        "transfer": {"winner": "fine-tune-all",
                     "pretrain": {"model": "runs/transfer/pretrain/p.keras",
                                  "seconds": 120},
                     "results": {"fine-tune-all": [
                         run("runs/transfer/fine-tune-all-s0", 0.8, 30),
                         run("runs/transfer/fine-tune-all-s1", 0.9, 90, 1)]}},
    }


DEFAULT = {"config": {"out": "runs/default"}, "train_seconds": 300,
           "test": {"mean": {"dice": 0.77}}}
CONTOURS = {"mean_dice": 0.76, "samples": {
    "best": {"image": "cat.1.jpg", "dice": 0.9},
    "worst (failure)": {"image": "cat.2.jpg", "dice": 0.2}}}


def test_table_has_every_step_with_mean_sample_sd_seeds_and_time(steps):
    table = "\n".join(report_page.results_table(steps, DEFAULT, CONTOURS))
    assert "| 0 baseline | all-cat (ignores the photo) | 0.600 |" in table
    assert "| 1 loss | bce+dice **(winner)** | 0.700 | 1 | 1.0 min" in table
    # 0.8 and 0.9: sample sd sqrt(2 · 0.05² / 1) = 0.0707
    assert "| 3 transfer | fine-tune-all **(winner)** | 0.850 ± 0.071 | 2 | " \
        "1.0 min" in table
    assert "| 4 contours |" in table and "0.760" in table
    # Summaries without a code version were made by 0.1.0, whose study
    # modules were catunet.<name>.
    assert "`python -m catunet.experiments losses`" in table


def test_runs_shared_between_steps_are_counted_once(steps):
    seconds = report_page.unique_runs(steps, DEFAULT)
    assert len(seconds) == 6  # 2 loss runs (one shared), 2 transfer,
    assert sum(seconds.values()) == 60 + 60 + 30 + 90 + 120 + 300  # pre, default


def test_core_study_counts_only_its_variants(steps):
    seconds = report_page.unique_runs(steps, DEFAULT, report_page.CORE)
    assert "runs/losses/dice-s0" not in seconds
    assert len(seconds) == 5


# --- the committed JSON ------------------------------------------------------

@pytest.fixture
def committed(monkeypatch):
    monkeypatch.chdir(ROOT)  # data/splits names the test photos
    return report.load_summaries(REPORTS)


def test_generated_sections_are_rendered_from_the_committed_json(committed):
    sections = report.generated_sections(REPORTS)
    assert set(sections) == set(report.HOMES)  # every JSON is committed
    for name, body in sections.items():
        home = report.HOMES[name]
        text = (ROOT / home).read_text()
        assert report.section(text, name) == \
            report.relink(body, home).strip(), (
                f"{home}'s {name} section differs from what the JSON "
                "renders: run python -m catunet.study.report --render")


def test_links_are_rewritten_for_pages_below_the_root():
    text = "[a](reports/x.md) [b](https://e.org) [c](#here) ![d](r/p.png)"
    assert report.relink(text, Path("README.md")) == text
    assert report.relink(text, Path("docs") / "guide.md") == (
        "[a](../reports/x.md) [b](https://e.org) [c](#here) ![d](../r/p.png)")


def test_a_changed_json_value_changes_the_readme_table(committed, tmp_path):
    steps, default, contours, bench = committed
    before = report.readme_results(steps, default, contours, REPORTS)
    changed = copy.deepcopy(steps)
    changed["losses"]["results"]["bce"][0]["test_dice"] = 0.99
    after = report.readme_results(changed, default, contours, REPORTS)
    row = next(line for line in after.splitlines() if line.startswith(
        "| loss | BCE |"))
    tests = [0.99] + [r["test_dice"] for r in steps["losses"]["results"]["bce"][1:]]
    assert f"| {render.stats.format_mean_sd(tests)} |" in row
    assert row not in before


def test_every_discussion_fills_from_the_committed_json(committed):
    steps, default, contours, bench = committed
    values = report_page.study_values(steps, default, contours, REPORTS)
    for name in ("losses", "augmentation", "transfer", "summary"):
        text = render.discussion(name, values)
        assert "{" not in text and "<!--" not in text, name


def test_render_writes_every_report_from_json_alone(committed, tmp_path):
    folder = tmp_path / "reports"
    shutil.copytree(REPORTS, folder, ignore=shutil.ignore_patterns("*.png"))
    for home in set(report.HOMES.values()):
        (tmp_path / home).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / home).write_text("# x\n\nkept\n\n" + "".join(
            f"<!-- {name}:start -->\nSTALE\n<!-- {name}:end -->\n"
            for name, h in report.HOMES.items() if h == home))
    (folder / "encoder-ladder" / "ladder.md").unlink()
    (folder / "defaults" / "defaults.md").unlink()
    report.render_all(folder, tmp_path, tmp_path / "REPORT.md")
    readme, guide = ((tmp_path / p).read_text()
                     for p in ("README.md", "docs/guide.md"))
    for text in (readme, guide):
        assert "STALE" not in text and "\nkept\n" in text
    assert "| default run |" in readme
    assert "--recipe encoder" in report.section(readme, "encoder")
    assert "trains the `quick` recipe" in report.section(readme, "defaults")
    assert "plain Keras" in report.section(readme, "speed-summary")
    assert "| target | measured | met |" in report.section(guide, "speed")
    assert "concurrent clients" in report.section(guide, "serve")
    assert (folder / "defaults" / "defaults.md").read_text() == \
        (REPORTS / "defaults" / "defaults.md").read_text()
    assert (folder / "encoder-ladder" / "ladder.md").read_text() == \
        (REPORTS / "encoder-ladder" / "ladder.md").read_text()
    whole = (tmp_path / "REPORT.md").read_text()
    assert "## 5. The recipe over a pretrained encoder" in whole
    assert "--recipe encoder" in whole.split("## 5.")[1]
    assert "Numbers made by catunet 0.1.0 (git commit 6bd2354" in whole
    assert "## Paired differences" in (folder / "transfer.md").read_text()
    for name in ("losses", "augmentation", "transfer"):
        assert (folder / f"{name}.png").stat().st_size > 0
        # No history in the JSON and no run folders here: no curves, no link.
        assert not (folder / f"{name}-curves.png").exists()
        assert "![learning curves]" not in (folder / f"{name}.md").read_text()
    assert "augmentation-test-grid.png" not in (folder / "augmentation.md").read_text()


def test_curves_are_drawn_from_the_history_runs_carry(committed, tmp_path):
    steps = copy.deepcopy(committed[0])
    for runs in steps["losses"]["results"].values():
        for run in runs:
            run["history"] = [{"epoch": e, "loss": 1.0, "dice_coefficient": 0.5
                               + e / 20, "val_loss": 1.0,
                               "val_dice_coefficient": 0.5} for e in range(10)]
    write_losses_report(steps["losses"], tmp_path)
    assert (tmp_path / "losses-curves.png").stat().st_size > 0
    assert "![learning curves](losses-curves.png)" in (
        tmp_path / "losses.md").read_text()
    values = discussions.losses_values(steps["losses"], tmp_path)
    assert values["has_history"] and values["memorises_winner"]
    assert "training Dice ends at 0.95 and validation Dice at 0.50" in \
        values["winner_curves"]


def test_winner_claims_follow_the_numbers(committed):
    losses = copy.deepcopy(committed[0]["losses"])
    assert not discussions.losses_values(losses, REPORTS)["clear_winner_val"]
    # Make BCE + Dice better than MSE by 0.1 on every fold: now it is clear.
    for mse, ours in zip(losses["results"]["mse"], losses["results"]["bce+dice"]):
        ours["val_dice"] = mse["val_dice"] + 0.1 + 0.01 * mse["config"]["seed"]
    assert discussions.losses_values(losses, REPORTS)["clear_winner_val"]


# --- the pieces --------------------------------------------------------------

def test_paired_differences_pair_runs_by_seed():
    summary = {"results": {
        "a": [run("a0", 0.5, 1, 0), run("a1", 0.7, 1, 1)],
        "b": [run("b1", 0.6, 1, 1), run("b0", 0.4, 1, 0)]}}  # other order
    d = render.paired(summary, "a", "b", "test_dice")
    assert d["differences"] == pytest.approx([0.1, 0.1])


def test_inference_flags_name_what_a_record_changed_removed_settings_too():
    # Recorded before the detector gate was removed: off, it is no flag.
    recorded = {"tta": True, "threshold": 0.6, "cat_boxes": 0.0,
                "cat_gate": 0.0}
    assert render.inference_flags(recorded) == ["--tta", "--threshold 0.6"]
    assert render.inference_flags({**recorded, "cat_boxes": 0.2},
                                  since=recorded) == ["--cat-boxes 0.2"]


def test_templates_fill_fields_and_choose_blocks():
    values = {"x": {"n": "3", "yes": True, "no": False}}
    template = ("{# dropped #}\n{{ x.n }} seeds{% if x.yes %}, "
                "kept{% if x.no %} (never){% else %} (else){% endif "
                "%}{% endif %}{% if not x.has_other | default(false) %}, "
                "no other{% endif %}.")
    assert render.fill(template, values) == "3 seeds, kept (else), no other.\n"
    with pytest.raises(ValueError, match="missing"):
        render.fill("{{ x.missing }}", values)
    # A flag inside a block that is dropped is never looked up.
    assert render.fill("{% if x.no %}{% if x.nothing %}a{% endif "
                       "%}{% endif %}b", values) == "b\n"


def test_reflow_never_starts_a_line_with_a_list_marker():
    text = render.reflow("word " * 14 + "epoch 40. Then " + "more " * 20)
    assert all(not line.startswith("40.") for line in text.splitlines())
    assert len(text.splitlines()) > 1


def test_provenance_and_machine_come_from_the_summary():
    assert "git checkout 6bd2354" in render.provenance({})
    assert render.provenance({"code_version": "0.2.0"}) == "catunet 0.2.0"
    assert render.module({"code_version": "0.2.0"}, "bench") == "catunet.study.bench"
    assert render.machine_text("x86_64, Linux") == "x86_64, Linux"
    assert render.machine_text({"cpu": "Some CPU", "cores": 4,
                                "system": "Linux x86_64"}) == \
        "Some CPU, 4 cores, Linux x86_64"
    # Two CPUs of one name are told apart by their instruction sets.
    assert render.machine_text({"cpu": "AMD EPYC", "cores": 2,
                                "notable_flags": ["avx2", "avx512_bf16"],
                                "system": "Linux x86_64"}) == \
        "AMD EPYC, 2 cores (avx2, avx512_bf16), Linux x86_64"


def test_legacy_image_spread_becomes_the_sample_sd():
    scored = {"count": 4, "std": {"dice": 0.1}}
    assert render.image_sd(scored, {}) == pytest.approx(0.1 * (4 / 3) ** 0.5)
    assert render.image_sd(scored, {"code_version": "0.2.0"}) == 0.1


def test_markers_must_exist():
    with pytest.raises(Exception, match="markers"):
        report.replace_section("no markers here", "results", "x")
    assert report.replace_section(
        "a\n<!-- results:start -->\nold\n<!-- results:end -->\nb", "results",
        "new\n") == "a\n<!-- results:start -->\nnew\n<!-- results:end -->\nb"


def test_render_needs_no_source_but_a_run_does(capsys):
    with pytest.raises(SystemExit):
        report.main([])
    assert "--render" in capsys.readouterr().err


def test_every_image_and_file_link_in_the_committed_markdown_resolves():
    import re
    pages = [ROOT / "README.md", ROOT / "REPORT.md", *ROOT.glob("docs/*.md"),
             *REPORTS.glob("**/*.md")]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s#]+)\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, "links to missing files: " + ", ".join(broken)


def test_readme_prose_states_no_measured_number():
    """Scores, thresholds and times in README come from the JSON (its
    generated sections) or from code blocks, never from hand-written prose,
    which went stale once (issue 44: '--min-area 0.02' after the ladder had
    chosen 0.005)."""
    import re

    text = (ROOT / "README.md").read_text()
    text = re.sub(r"<!-- (\S+):start -->.*?<!-- \1:end -->", "", text,
                  flags=re.S)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    stated = re.findall(r"\b0\.\d+|\b\d+(?:\.\d+)?\s?(?:min|ms|%)\b", text)
    assert not stated, f"numbers written by hand in README: {stated}"
