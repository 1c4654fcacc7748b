"""Full-scale results: where they are, how to read them, how a page shows them.

``python -m lessons_lib.reproduce`` writes one JSON record per experiment into the repository's
``results/`` folder: metrics per seed with their mean and spread, each seed's history, the
settings, the device, library versions, commit and wall time. The chapters read them here.

The folder is found in this order: ``$LESSONS_RESULTS``; the ``results/`` folder of the
repository when lessons_lib runs from a checkout; the copy shipped inside the installed package
(``pip install`` and Colab get the results that were committed when the package was built).
"""
from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
CHECKOUT_RESULTS = _PACKAGE.parent / "results"
PACKAGED_RESULTS = _PACKAGE / "_results"


def results_dir() -> Path | None:
    """The folder of committed full-scale results, or None when this installation has none."""
    if os.environ.get("LESSONS_RESULTS"):
        return Path(os.environ["LESSONS_RESULTS"])
    if CHECKOUT_RESULTS.is_dir() and (_PACKAGE.parent / "pyproject.toml").is_file():
        return CHECKOUT_RESULTS
    if PACKAGED_RESULTS.is_dir():
        return PACKAGED_RESULTS
    return None


def load_result(name: str, folder: str | Path | None = None) -> dict | None:
    """The record of experiment ``name``, or None when it has not been measured.

    Only full-profile records without overrides count: a smoke or shortened run that found its
    way into the folder is ignored, never shown as the full-scale figure.
    """
    folder = Path(folder) if folder is not None else results_dir()
    if folder is None:
        return None
    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); restore it from the repository") from None
    if not is_full_scale(record):
        return None
    return record


def is_full_scale(record) -> bool:
    """A record of the full profile, with no overrides, not from a modified checkout ("-dirty").

    (Records made before commits were recorded say ``commit: null``; they are shown as such.)
    """
    if not isinstance(record, dict) or record.get("profile") != "full" or record.get("overrides"):
        return False
    commit = (record.get("environment") or {}).get("commit")
    return not (isinstance(commit, str) and commit.endswith("-dirty"))


def summarize(values: list) -> dict:
    """Mean, standard deviation, min and max of the finite values; the others (NaN or infinite,
    e.g. a level a run never reached) are counted in ``not_reached`` and never averaged."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    out = {"n": len(finite), "not_reached": len(values) - len(finite)}
    if finite:
        out.update(mean=statistics.fmean(finite), std=statistics.stdev(finite) if len(finite) > 1 else 0.0,
                   min=min(finite), max=max(finite))
    else:
        out.update(mean=None, std=None, min=None, max=None)
    return out


def format_seconds(seconds: float) -> str:
    """``38 s``, ``4 min 05 s``, ``1 h 02 min``: a time a reader takes in at a glance."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
        raise ValueError(f"seconds must be a non-negative number; got {seconds!r}")
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def cpu_seconds(record: dict) -> list[float] | None:
    """The CPU time of each seed of a record made on a CPU, or None (a GPU record, or one from before
    CPU time was kept). On a shared CPU this, not the wall time, is what a rerun costs: the wall time
    counts the other work on the machine too."""
    device = str(record.get("environment", {}).get("device", ""))
    cpu = [r.get("cpu_time_s") for r in record.get("runs", [])]
    return [float(c) for c in cpu] if device.startswith("cpu") and cpu and None not in cpu else None


def seed_time(record: dict) -> str:
    """How long one seed took, in words: the CPU time on a CPU when the record has it, else the wall
    time. A seed that resumed an interrupted run counts its last session only, and the words say so."""
    runs, cpu = record["runs"], cpu_seconds(record)
    if cpu is not None:
        text = f"{format_seconds(sum(cpu) / len(cpu))} of CPU time a seed"
    else:
        text = f"{format_seconds(sum(r['wall_time_s'] for r in runs) / len(runs))} a seed"
    if any(r.get("resumed") for r in runs):
        text += " (resumed after an interruption: the last session only)"
    return text


def provenance(record: dict) -> str:
    """One line for a reader: seeds, device, torch version, time a seed, date (the commit stays in
    the record: a hash on the page means nothing to a reader)."""
    env = record["environment"]
    seeds = record["seeds"]
    return (f"{len(seeds)} seed{'s' * (len(seeds) != 1)} on {env['device']}, torch {env['torch']}, "
            f"{seed_time(record)}, finished {record['finished'][:10]}")


def metric(record: dict, key: str) -> dict:
    """The summary (mean, std, n, ...) of metric ``key`` (``a.b`` for nested metrics) of a record."""
    if key not in record["summary"]:
        raise ValueError(f"{record['name']} has no metric {key!r}; it has {sorted(record['summary'])}")
    return record["summary"][key]


def show_result(name: str, metrics: list[str] | None = None, folder=None, scale: float = 1.0, unit: str = ""):
    """A table of a full-scale result's metrics (mean ± std over seeds, min, max) with its provenance
    as the caption, or None when it has not been measured (the page says so in its own words)."""
    from .page import Table

    record = load_result(name, folder)
    if record is None:
        return None
    rows = []
    for key, s in record["summary"].items():
        if metrics is not None and key not in metrics:
            continue
        if s["mean"] is None:
            rows.append([key, f"not reached by any of {s['not_reached']} seeds", "", ""])
            continue
        never = f" ({s['not_reached']} seeds never reached it)" if s.get("not_reached") else ""
        rows.append([key, f"{s['mean'] * scale:.4g}{unit} ± {s['std'] * scale:.2g}{unit}{never}",
                     f"{s['min'] * scale:.4g}{unit}", f"{s['max'] * scale:.4g}{unit}"])
    return Table(["metric", "mean ± std over seeds", "min", "max"], rows, caption=provenance(record))
