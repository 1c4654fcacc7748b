"""Generated parts of the book's pages: the landing page's table of measured notebook timings.

    python -m lessons_lib.pages                      # writes book/_generated/timings.md
    python -m lessons_lib.pages --time smoke [NB...]  # times notebooks without touching them

The table is built from ``results/notebook_timings.json`` (written by ``python -m
lessons_lib.execute``, which times every notebook it executes, per profile) and from the
full-profile ``results/*.json`` files of ``python -m lessons_lib.reproduce`` (their wall
time, per chapter). ``book/index.md`` includes the file, so no timing is typed by hand.

The module is also a Sphinx extension (listed in ``_config.yml``): every ``jupyter-book
build`` regenerates the file before reading the sources, so the page never shows a stale
table. It needs only the standard library (PyYAML, when present, to order rows as the TOC).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = ROOT / "results" / "notebook_timings.json"
RESULTS_DIR = ROOT / "results"
OUTPUT = ROOT / "book" / "_generated" / "timings.md"
PROFILES = ("smoke", "standard", "full")
NOT_MEASURED = "—"


def format_seconds(seconds: float) -> str:
    """``38 s``, ``4 min 05 s``, ``1 h 02 min``: a wall time a reader takes in at a glance."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
        raise ValueError(f"seconds must be a non-negative number; got {seconds!r}")
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


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


def _reproduce_times(results_dir: Path) -> dict[str, list[dict]]:
    """Full-profile reproduction records per chapter (GPU runs written to ``results/``)."""
    out: dict[str, list[dict]] = {}
    for path in sorted(Path(results_dir).glob("*.json")):
        if path.name == TIMINGS.name:
            continue
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(rec, dict) or rec.get("profile") != "full" or rec.get("overrides"):
            continue
        if not isinstance(rec.get("wall_time_s"), (int, float)):
            continue
        out.setdefault(rec.get("chapter") or "", []).append(rec)
    return out


def _cell(entry) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("seconds"), (int, float)):
        return NOT_MEASURED
    return _nowrap(format_seconds(entry["seconds"]))


def _nowrap(text: str) -> str:
    """Non-breaking spaces, so that "2 min 29 s" never wraps inside a narrow table cell."""
    return text.replace(" ", "\u00a0")


def timings_table(timings: str | Path = TIMINGS, results_dir: str | Path = RESULTS_DIR,
                  root: str | Path = ROOT, out: str | Path | None = OUTPUT) -> str:
    """The landing page's timings table as MyST markdown; written to ``out`` unless None.

    One row per notebook (the TOC's chapters first, in order, then any other timed notebook),
    one column per profile with the wall time ``python -m lessons_lib.execute`` measured,
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
            raise ValueError(f"timings must be a JSON file written by lessons_lib.execute; "
                             f"{timings} is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"timings must hold a JSON object; {timings} holds {type(data).__name__}")
    in_toc = toc_notebooks(root)
    rows = in_toc + sorted(k for k in data if k not in in_toc and (root / k).is_file())
    reproduced = _reproduce_times(results_dir)

    lines = [
        "| notebook | smoke | standard | full | the chapter's full-profile experiments (`reproduce`) |",
        "|---|---|---|---|---|",
    ]
    devices: dict[str, set] = {}
    for nb in rows:
        entry = data.get(nb, {})
        stem = Path(nb).with_suffix("").as_posix()
        # the notebook's file name, linked to its page: short enough for a narrow column
        name = f"{{doc}}`{Path(nb).name} </{stem}>`" if nb in in_toc else f"`{nb}`"
        cells = [_cell(entry.get(p)) for p in PROFILES]
        for p in PROFILES:
            if _cell(entry.get(p)) != NOT_MEASURED:
                devices.setdefault(p, set()).add(str(entry[p].get("device", "unknown device")))
        recs = reproduced.get(Path(nb).stem, [])
        if recs:
            total = sum(r["wall_time_s"] for r in recs)
            gpus = sorted({str(r.get("environment", {}).get("device", "unknown device")) for r in recs})
            cells.append(f"{_nowrap(format_seconds(total))} for {len(recs)} experiment{'s' * (len(recs) != 1)}"
                         f" on {', '.join(gpus)}")
        else:
            cells.append(NOT_MEASURED)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if not rows:
        lines.append("| (no notebooks yet) | " + " | ".join([NOT_MEASURED] * 4) + " |")
    notes = [f"`{p}` on {', '.join(sorted(d))}" for p, d in devices.items()]
    text = "\n".join(lines) + "\n\n" + f"{NOT_MEASURED}: not yet measured."
    if notes:
        text += " Notebooks measured by `python -m lessons_lib.execute`: " + "; ".join(notes) + "."
    text += "\n"
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.is_file() or out.read_text() != text:
            out.write_text(text)
    return text


GENERATED = "book/_generated"


def _on_config_inited(app, config) -> None:
    root = Path(app.srcdir)
    timings_table(root / "results" / TIMINGS.name, root / "results", root,
                  root / GENERATED / OUTPUT.name)
    # Included into pages, never pages of their own.
    if GENERATED not in config.exclude_patterns:
        config.exclude_patterns.append(GENERATED)


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
    """Sphinx extension: regenerate the timings table at the start of every build, and
    keep each page's scripts free of duplicates."""
    app.connect("config-inited", _on_config_inited)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def time_notebooks(paths, profile: str, timeout: int = 1800) -> dict:
    """Execute each notebook at ``profile`` without saving its outputs; record and return the wall times.

    For a profile whose outputs are not the stored ones (smoke in CI, full on a GPU): the
    committed notebook is left untouched. Each run uses a hidden copy beside the original (so
    relative paths behave the same) and records the time under the original's name, exactly
    as ``python -m lessons_lib.execute`` does.
    """
    import shutil

    from .execute import execute_notebook, record_timing

    times = {}
    for path in paths:
        path = Path(path)
        if path.suffix != ".ipynb" or not path.is_file():
            raise ValueError(f"paths must be existing .ipynb files; got {str(path)!r}")
        copy = path.with_name(f".{path.stem}.timing.ipynb")
        shutil.copyfile(path, copy)
        try:
            print(f"timing {path} at profile {profile} ...", flush=True)
            secs = execute_notebook(copy, profile, timeout)
        finally:
            copy.unlink(missing_ok=True)
        record_timing(path, profile, secs)
        print(f"  {format_seconds(secs)}", flush=True)
        times[str(path)] = secs
    return times


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lessons_lib.pages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", metavar="PROFILE", help="first execute notebooks at PROFILE without saving "
                        "their outputs and record their wall time (e.g. smoke)")
    parser.add_argument("notebooks", nargs="*", help="with --time: the notebooks (default: the TOC's)")
    args = parser.parse_args(argv)
    if args.notebooks and not args.time:
        parser.error("notebooks are only taken with --time")
    try:
        if args.time:
            time_notebooks(args.notebooks or [ROOT / p for p in toc_notebooks()], args.time)
        timings_table()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
