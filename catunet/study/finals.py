"""The final seeds of a report already chosen on the validation folds.

    python -m catunet.study.finals reports/encoder-ladder/freeze-stride-8-measured

A study that chooses on the validation folds (``catunet.study.cheaper``,
``catunet.study.encoder_ladder``) writes its report before its final seeds
train (``catunet.study.folds.report_then_final``); rerunning its command
resumes them, but only where its fold runs are on disk, found by key: on
another machine it would train every fold again, hours spent to reach a
choice the report already holds. This trains the report's recipe (its
``recipe``) on all training photos with the inference the report chose,
seed by seed up to ``--seeds``, after those the report already holds
(``final_runs``: seeds finished in an earlier session, perhaps on another
machine), writing the report after each; once all are done it summarises
their test scores (``final``) and names the command (``final_command``).
Each seed's machine is kept beside its minutes. A report whose change does
not ship, or whose final seeds are all scored, is refused.
"""

import argparse
import functools
import json
from pathlib import Path

from catunet.flags import HelpFormatter
from catunet.inference.predict import Settings
from catunet.study import encoder_report
from catunet.study.encoder_ladder import BASE
from catunet.study.folds import command_line, train_final
from catunet.study.runstore import RUNS
from catunet.study.variants import Study


def pending(summary, report):
    """Why the report ``summary`` (from the folder ``report``) may not
    train final seeds, or None where it may."""
    if summary.get("final"):
        return f"{report}: its final seeds were already scored (final)"
    if not summary.get("ships", True):
        return f"{report}: its change does not ship, so no test look"
    return None


def run(report, seeds=3, data_dir=None, command=""):
    """Trains and scores ``report``'s final seeds and writes the report
    after each (module docs)."""
    path = Path(report) / "ladder.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no such file; REPORT is a folder a study "
                         "chosen on the validation folds wrote")
    summary = json.loads(path.read_text())
    refusal = pending(summary, report)
    if refusal:
        raise SystemExit(refusal)
    summary.update(final_pending=True, final_command=command)
    train_final(summary, functools.partial(encoder_report.write,
                                           report=report),
                seeds, Study.load(data_dir, summary["seeds"]),
                summary["recipe"], Settings(**summary["inference"]["chosen"]),
                RUNS / "encoder", BASE)
    encoder_report.write(summary, report)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("report", help="the report folder (its ladder.json) "
                        "whose recipe trains")
    parser.add_argument("--seeds", type=int, default=3,
                        help="final seeds in all, each trained on all "
                        "training photos (those the report holds are not "
                        "trained again)")
    parser.add_argument("--data-dir", default=None,
                        help="the cat set; without it $CATUNET_DATA_DIR.")
    args = parser.parse_args(argv)
    run(args.report, args.seeds, args.data_dir,
        command_line("catunet.study.finals", argv))


if __name__ == "__main__":
    main()
