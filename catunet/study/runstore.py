"""The run store: the one place that decides whether a finished run is reused.

Runs live in folders named by what produced them
(``runs/<experiment>/<variant>-s<seed>``). Each holds ``run.json`` with the
run's key (``catunet.training.provenance``: config, data, ``--init`` file, code
version). Asked for a config, the store looks for a finished run with the
same key anywhere under its root and returns it; only when there is none
does it train, into the folder the caller named. Scores computed from a run
are cached beside it under the same key.
"""

import dataclasses
import json
import os
from pathlib import Path

from catunet import atomic
from catunet.errors import CatunetError
from catunet.training import provenance
from catunet.training.train import finished_run, run_key_for, train

RUNS = Path("runs")


class RunStore:
    """Finished runs under ``root``, found by key."""

    def __init__(self, root=RUNS):
        self.root = Path(root)

    def find(self, key):
        """A finished run folder with this key, or None.

        Raises:
            CatunetError: Two finished folders have the key but models of
                other bytes (trained on other machines or precisions): a
                reproduction would silently reuse whichever sorts first.
        """
        if not self.root.is_dir():
            return None
        found = {}
        for path in sorted(self.root.glob("**/run.json")):
            record = json.loads(path.read_text())
            if record.get("key") == key and record.get("finished"):
                model = path.parent / f"{record['config']['stage']}.keras"
                if model.is_file():
                    found.setdefault(provenance.file_sha256(model),
                                     path.parent)
        if len(found) > 1:
            raise CatunetError(
                "finished runs with the same key hold other models: "
                + " and ".join(map(str, found.values()))
                + "; move aside the one that should not be reused")
        return next(iter(found.values()), None)

    def run(self, config, verbose=2):
        """The finished run of ``config``: found by key, else trained into
        ``config.out`` (reusing, by key, any finished part of a
        self-training run: its teacher, each round's students).

        Returns:
            A ``Run`` (its ``folder`` may differ from ``config.out`` when an
            identical run was found elsewhere).
        """
        key = run_key_for(config)
        folder = self.find(key)
        if folder is None:
            return train(config, verbose=verbose, reuse=self.find)
        print(f"   reusing {folder}")
        return finished_run(folder, key)

    @staticmethod
    def cached(run, name, compute):
        """``compute()``'s JSON result, cached in the run's folder as
        ``<name>.json`` and reused while the run's key is the same."""
        path = Path(run.folder) / f"{name}.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("key") == run.key:
                return saved["value"]
        value = compute()
        atomic.write_json(path, {"key": run.key, "value": value})
        return value


def history(run):
    """The run's per-epoch history (from its ``history.csv``)."""
    import csv

    path = Path(run.folder) / "history.csv"
    if not path.is_file():
        return []
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def parts(folder):
    """The separately trained parts of a run, each ``{"folder", "seconds"}``:
    a self-training run's teacher and students (wherever they were trained;
    for runs recorded before ``run.json`` named them, its sub-folders that
    hold a run), else the run itself. A total over many runs that sums each
    part folder once counts a part reused by several runs once."""
    record = provenance.load_record(folder)
    if "parts" in record:
        return [{"folder": os.path.relpath(p["folder"]), "seconds": p["seconds"]}
                for p in record["parts"]]
    inner = sorted(Path(folder).glob("*/run.json"))
    if inner:
        return [{"folder": os.path.relpath(path.parent),
                 "seconds": json.loads(path.read_text())["train_seconds"]}
                for path in inner]
    return [{"folder": os.path.relpath(folder),
             "seconds": record["train_seconds"]}]


def total_seconds(runs):
    """Training seconds of ``runs`` (summary dicts: ``folder``, ``seconds``
    and perhaps ``parts``), each part counted once however many runs share
    it."""
    unique = {p["folder"]: p["seconds"] for run in runs for p in
              run.get("parts") or [{"folder": run["folder"],
                                    "seconds": run["seconds"]}]}
    return sum(unique.values())


def describe(run):
    """What a summary keeps of a run: config, key, time (and its parts),
    machine, history."""
    record = provenance.load_record(run.folder)
    return {"config": dataclasses.asdict(run.config), "key": run.key,
            "folder": os.path.relpath(run.folder), "seconds": run.seconds,
            "parts": parts(run.folder),
            "code_version": record["key_inputs"]["code_version"],
            "machine": record["sessions"][-1]["machine"]
            if record["sessions"] else record["machine"],
            "history": history(run)}
