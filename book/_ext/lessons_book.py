"""The book's generated parts, a small Sphinx extension (``local_extensions`` in ``_config.yml``).

At the start of every build it writes, from the records in ``results/``:

* ``book/_generated/timings.md``: the landing page's table of how long each notebook takes at
  each profile (``results/notebook_timings.json``, written by ``python tools/notebooks.py
  execute``) and how long each chapter's full-scale experiments took;
* ``book/_generated/results.md``: the body of the page "Reproducing the numbers", each claim of
  the lecture or a paper beside the full-scale measurement, with its provenance and a verdict.

Neither file is committed: the pages can never show a stale table. It also removes a duplicated
script tag that jupyter-book 1.0.4 puts in every page (a console error).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from lessons_lib.results import cpu_seconds, format_seconds

ROOT = Path(__file__).resolve().parents[2]
TIMINGS = ROOT / "results" / "notebook_timings.json"
RESULTS_DIR = ROOT / "results"
GENERATED = ROOT / "book" / "_generated"
OUTPUT = GENERATED / "timings.md"
PROFILES = ("smoke", "standard", "full")
NOT_MEASURED = "—"


def toc_notebooks(root: str | Path = ROOT) -> list[str]:
    """Notebook chapters in ``_toc.yml`` order, as paths like ``book/lenet.ipynb`` that exist."""
    root = Path(root)
    toc = root / "_toc.yml"
    if not toc.is_file():
        return []
    try:
        import yaml
    except ImportError:  # plain order without PyYAML
        return [p.relative_to(root).as_posix() for p in sorted((root / "book").glob("*.ipynb"))]
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load(toc.read_text()) or {})
    return [f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def _records(results_dir: Path) -> dict[str, dict]:
    """The full-scale records of ``results_dir`` by experiment name (what the chapters may show)."""
    from lessons_lib.results import load_result

    out = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        if path.name != TIMINGS.name:
            record = load_result(path.stem, results_dir)
            if record is not None:
                out[path.stem] = record
    return out


def _cell(entry) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("seconds"), (int, float)):
        return NOT_MEASURED
    text = _nowrap(format_seconds(entry["seconds"]))
    if isinstance(entry.get("cpu_seconds"), (int, float)):
        text += f" ({_nowrap(format_seconds(entry['cpu_seconds']))} of CPU)"
    return text


def _record_seconds(record: dict) -> tuple[float, bool]:
    """What a full-scale record cost: the CPU time of all its seeds when it was made on a CPU and
    has it (True), else its wall time (False)."""
    cpu = cpu_seconds(record)
    return (float(sum(cpu)), True) if cpu is not None else (float(record["wall_time_s"]), False)


def _nowrap(text: str) -> str:
    """Non-breaking spaces, so that "2 min 29 s" never wraps inside a narrow table cell."""
    return text.replace(" ", "\u00a0")


def timings_table(timings: str | Path = TIMINGS, results_dir: str | Path = RESULTS_DIR,
                  root: str | Path = ROOT, out: str | Path | None = OUTPUT) -> str:
    """The landing page's timings table as MyST markdown; written to ``out`` unless None.

    One row per notebook (the TOC's chapters first, in order, then any other timed notebook),
    a column for the smoke and standard profiles with the wall time ``tools/notebooks.py execute`` measured,
    and a column with the wall time of the chapter's full-profile ``reproduce`` runs.
    Missing measurements read "—" (explained under the table). The file is rewritten only when its
    text changes, so an unchanged table does not trigger a rebuild.
    """
    timings, results_dir, root = Path(timings), Path(results_dir), Path(root)
    data = {}
    if timings.is_file():
        try:
            data = json.loads(timings.read_text())
        except ValueError as exc:
            raise ValueError(f"timings must be a JSON file written by tools/notebooks.py; "
                             f"{timings} is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"timings must hold a JSON object; {timings} holds {type(data).__name__}")
    in_toc = toc_notebooks(root)
    rows = in_toc + sorted(k for k in data if k not in in_toc and (root / k).is_file())
    reproduced: dict[str, list] = {}
    for rec in _records(results_dir).values():
        reproduced.setdefault(rec.get("chapter") or "", []).append(rec)

    lines = [
        "| notebook | smoke | standard | the chapter's full-scale experiments |",
        "|---|---|---|---|",
    ]
    devices: dict[str, set] = {}
    for nb in rows:
        entry = data.get(nb, {})
        stem = Path(nb).with_suffix("").as_posix()
        # the notebook's file name, linked to its page: short enough for a narrow column
        name = f"{{doc}}`{Path(nb).name} </{stem}>`" if nb in in_toc else f"`{nb}`"
        cells = [_cell(entry.get(p)) for p in PROFILES[:2]]
        for p in PROFILES[:2]:
            if _cell(entry.get(p)) != NOT_MEASURED:
                devices.setdefault(p, set()).add(str(entry[p].get("device", "unknown device")))
        recs = reproduced.get(Path(nb).stem, [])
        if recs:
            times = [_record_seconds(r) for r in recs]
            total = sum(s for s, _ in times)
            devices_used = sorted({_device(r) for r in recs})
            of_cpu = " of CPU time" if all(cpu for _, cpu in times) else ""
            cells.append(f"{_nowrap(format_seconds(total))}{of_cpu} for {len(recs)} experiment{'s' * (len(recs) != 1)}"
                         f" on {' and '.join(devices_used)}")
        else:
            cells.append(NOT_MEASURED)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if not rows:
        lines.append("| (no notebooks yet) | " + " | ".join([NOT_MEASURED] * 3) + " |")
    notes = [f"`{p}` on {', '.join(sorted(d))}" for p, d in devices.items()]
    text = "\n".join(lines) + "\n\n" + f"{NOT_MEASURED}: not yet measured."
    if any("cpu_seconds" in e for entry in data.values() if isinstance(entry, dict) for e in entry.values()
           if isinstance(e, dict)):
        text += (" In brackets, the CPU time of the notebook's kernel (all its threads): the wall time also "
                 "counts any other work the machine was doing.")
    if notes:
        text += " Notebooks measured on: " + "; ".join(notes) + "."
    text += "\n"
    _write(out, text)
    return text


def _write(out, text: str) -> None:
    """Write ``text`` to ``out`` (unless None) only when it changed, so an unchanged page is not rebuilt."""
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.is_file() or out.read_text() != text:
            out.write_text(text)


def _device(record: dict) -> str:
    device = str(record.get("environment", {}).get("device", "unknown device"))
    return device.split(" (")[0] if device.startswith("cpu") else device  # "cpu (2 threads, x86_64)" -> "cpu"


# -- the page "Reproducing the numbers" ---------------------------------------------------------------
TITLES = {"lenet": "LeNet", "alexnet": "AlexNet", "autoencoders": "Autoencoders", "rnn": "Recurrent networks",
          "rnn_applications": "Recurrent networks at work"}  # in the book's order


def _fmt(value, metric: str, digits: int = 4) -> str:
    """A measured value (``digits`` significant digits; a spread needs 2), accuracies and errors in %."""
    if value is None:
        return "not reached"
    if any(k in metric for k in ("accuracy", "error")) and abs(value) <= 1:
        return f"{100 * value:.2f}%"
    return f"{value:.{digits}g}"


def _source(text: str, keys: set[str]) -> str:
    """A claim's source with bibliography keys turned into citations and the lecture linked."""
    text = text.replace("the lecture (cnn_examples.md)", "{doc}`the lecture <seed>`")
    return re.sub(r"[A-Za-z]+\d{4}[a-z]+", lambda m: f"{{cite:t}}`{m.group(0)}`" if m.group(0) in keys else m.group(0),
                  text)


def verdict(claim: dict, summary: dict) -> str:
    """"reproduced" when the measured mean meets the claim (its tolerance, or two standard
    deviations of the seeds; or the bound of an ``at_least``/``at_most`` claim)."""
    mean, std = summary["mean"], summary["std"]
    if mean is None:
        return "not reproduced"
    value, compare = claim["value"], claim.get("compare", "approx")
    if compare == "at_least":
        ok = mean >= value
    elif compare == "at_most":
        ok = mean <= value
    elif compare == "approx":
        ok = abs(mean - value) <= claim.get("tolerance", 2 * std)
    else:
        raise ValueError(f"claim 'compare' must be approx, at_least or at_most; got {compare!r}")
    return "reproduced" if ok else "not reproduced"


def _run_cell(record: dict) -> str:
    env = record["environment"]
    commit = env.get("commit")
    per_seed = record.get("seed_wall_times_s") or [r["wall_time_s"] for r in record["runs"]]
    jobs = record.get("concurrent_jobs", 1)
    how = f", {jobs} seeds at a time" if jobs > 1 else ""
    cpu = cpu_seconds(record)
    if cpu is not None:  # the wall time on a shared CPU counts others' work too
        how += f" ({_nowrap(format_seconds(sum(cpu) / len(cpu)))} of CPU time a seed)"
    if any(r.get("resumed") for r in record["runs"]):
        how += " (resumed after an interruption: the time counts the last session only)"
    where = f"commit in `results/{record['name']}.json`" if commit else "commit not recorded"
    return (f"{_device(record)}: {_nowrap(format_seconds(sum(per_seed) / len(per_seed)))} a seed{how}; "
            f"torch {env['torch']}; {where}; "
            f"{record['finished'][:10]}")


def results_page(results_dir: str | Path = RESULTS_DIR, out: str | Path | None = GENERATED / "results.md") -> str:
    """The body of the page "Reproducing the numbers", as MyST markdown; written to ``out`` unless None."""
    from lessons_lib.experiments import EXPERIMENTS

    bib = ROOT / "book" / "references.bib"
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib.read_text(), re.M)) if bib.is_file() else set()
    records = _records(Path(results_dir))
    order = list(TITLES)
    lines, measured = [], 0
    chapters = sorted({e.chapter for e in EXPERIMENTS.values()}, key=lambda c: order.index(c) if c in order else 99)
    for chapter in chapters:
        lines += [f"\n## {TITLES.get(chapter, chapter)}\n", f"Explained in {{doc}}`{chapter}`.\n",
                  "| experiment | claim (source) | measured: mean ± std over seeds | verdict | how it was run |",
                  "|---|---|---|---|---|"]
        for exp in (e for e in EXPERIMENTS.values() if e.chapter == chapter):
            record = records.get(exp.name)
            measured += record is not None
            name = f"`{exp.name}` ({{ref}}`discussed <{exp.section}>`)"
            for claim in exp.claims or [{"metric": None, "value": None, "text": exp.description, "source": "-"}]:
                said = f"{claim['text']} ({_source(claim['source'], keys)})"
                if record is None:
                    lines.append(f"| {name} | {said} | not yet measured | | |")
                    continue
                metric = claim["metric"] or sorted(record["summary"])[0]
                s = record["summary"].get(metric)
                if s is None:
                    raise ValueError(f"{exp.name}: its claim names the metric {metric!r}, which the record lacks")
                ours = f"{_fmt(s['mean'], metric)} ± {_fmt(s['std'], metric, 2)} ({metric}, {s['n']} seeds)"
                if s.get("not_reached"):
                    ours += f"; {s['not_reached']} seed(s) never reached it"
                mark = verdict(claim, s) if claim.get("value") is not None else "-"
                mark = {"reproduced": "**reproduced**", "not reproduced": f"not reproduced: {{ref}}`why <{exp.section}>`"
                        }.get(mark, mark)
                lines.append(f"| {name} | {said} | {ours} | {mark} | {_run_cell(record)} |")
    lines.append(f"\n{measured} of {len(EXPERIMENTS)} experiments have full-scale results; the others are marked "
                 "*not yet measured*.\n")
    text = "\n".join(lines)
    _write(out, text)
    return text


def _on_config_inited(app, config) -> None:
    root = Path(app.srcdir)
    timings_table(root / "results" / TIMINGS.name, root / "results", root, root / "book/_generated/timings.md")
    results_page(root / "results", root / "book/_generated/results.md")
    # Included into pages, never pages of their own.
    if "book/_generated" not in config.exclude_patterns:
        config.exclude_patterns.append("book/_generated")


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated ``<script>`` tags from a page.

    Under jupyter-book 1.0.4, sphinx-thebe's and sphinx-togglebutton's inline scripts are
    registered twice; the repeated ``const THEBE_JS_URL = ...`` is a JavaScript error in
    every page's console. The first occurrence (in priority order) is kept.
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, kept = set(), []
    for js in sorted(scripts, key=lambda js: getattr(js, "priority", 500)):
        attrs = getattr(js, "attributes", {}) or {}
        # an inline script's filename is None from one extension and "" from another
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app):
    """Regenerate the timings and results tables at the start of every build; keep each page's
    scripts free of duplicates."""
    app.connect("config-inited", _on_config_inited)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
