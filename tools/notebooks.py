"""The chapters' notebooks: sync them from their text sources, check the pairs, execute them.

    python tools/notebooks.py sync                      # book/src/*.md -> book/*.ipynb, outputs kept
    python tools/notebooks.py check                     # exit 1 when a pair is out of sync
    python tools/notebooks.py execute [NB ...]          # execute in place at the standard profile
    python tools/notebooks.py execute --copy            # execute copies in memory; the notebooks stay

Each chapter's source is a MyST Markdown notebook in ``book/src/``, paired by jupytext (see
``jupytext.toml``) with the executed notebook in ``book/`` that the book renders and Colab opens.
``sync`` writes every cell's text from the source into the notebook and keeps the stored outputs
of cells whose code did not change. ``execute`` runs a notebook with a fresh kernel, with
``LESSONS_PROFILE`` set and ``LESSONS_EXECUTING=1`` (no live plots); it writes the notebook back
only when every cell succeeded, and records the wall time of the book's notebooks in
``results/notebook_timings.json`` for the landing page (when that file cannot be written, it says
so and goes on). With ``--copy`` it executes temporary copies (CI: every hidden check runs, the
committed outputs stay) and records nothing. A failing notebook is reported, the others still
run, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "book" / "src"
TIMINGS = ROOT / "results" / "notebook_timings.json"
PROFILES = ("smoke", "standard", "full")


def pairs() -> list[tuple[Path, Path]]:
    """(source, notebook) for every chapter source in book/src/."""
    return [(md, ROOT / "book" / f"{md.stem}.ipynb") for md in sorted(SOURCES.glob("*.md"))]


def _cells(nb) -> list[tuple]:
    """What a source decides about each cell: its type, text and tags/metadata the book reads."""
    out = []
    for c in nb.cells:
        meta = {k: c.metadata[k] for k in ("tags", "mystnb") if k in c.metadata}
        out.append((c.cell_type, c.source.strip(), json.dumps(meta, sort_keys=True)))
    return out


def out_of_sync() -> list[str]:
    """The notebooks whose cells differ from their sources' (or that are missing)."""
    import jupytext

    stale = []
    for md, ipynb in pairs():
        if not ipynb.is_file() or _cells(jupytext.read(md, fmt="md:myst")) != _cells(jupytext.read(ipynb)):
            stale.append(f"{ipynb.relative_to(ROOT)} (source {md.relative_to(ROOT)})")
    return stale


def sync() -> list[Path]:
    """Write each source into its notebook, keeping the outputs of unchanged code cells."""
    import jupytext
    from jupytext.combine import combine_inputs_with_outputs

    changed = []
    for md, ipynb in pairs():
        new = jupytext.read(md, fmt="md:myst")
        if ipynb.is_file():
            old = jupytext.read(ipynb)
            if _cells(new) == _cells(old):
                continue
            new = combine_inputs_with_outputs(new, old, fmt="md:myst")
        new.metadata.pop("jupytext", None)
        new.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
        _write_notebook(new, ipynb)
        changed.append(ipynb)
    return changed


def _write_notebook(nb, path: Path) -> None:
    import nbformat

    sys.path.insert(0, str(ROOT))
    from lessons_lib.files import atomic_write

    with atomic_write(path, "w") as f:
        nbformat.write(nb, f)


def execute(path: Path, profile: str, timeout: int = 1800, copy: bool = False) -> tuple[float, float]:
    """Run every cell of ``path`` with a fresh kernel in ``path``'s folder; write the outputs back
    (unless ``copy``: then the executed copy stays in memory); return the wall seconds taken and the
    kernel's CPU seconds (all its threads; unlike the wall time, not inflated by other work on a
    shared machine)."""
    import resource

    import nbformat
    from nbclient import NotebookClient

    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"expected an existing .ipynb file; got {str(path)!r}")
    nb = nbformat.read(path, as_version=4)
    env = {"LESSONS_PROFILE": profile, "LESSONS_EXECUTING": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    def children_cpu():  # CPU seconds of this process's finished children: the kernel, once shut down
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    start, cpu_start = time.time(), children_cpu()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    seconds, cpu_seconds = time.time() - start, children_cpu() - cpu_start
    if not copy:
        _write_notebook(nb, path)
    return seconds, cpu_seconds


def record_timing(path: Path, profile: str, seconds: float, cpu_seconds: float | None = None) -> str:
    """Keep the measured wall time of a notebook of the book per profile, for the landing page
    (a locked update); return what happened, in words: a notebook outside the book, or a results
    folder that cannot be written (read-only, full), is not recorded, and the message says why."""
    sys.path.insert(0, str(ROOT))
    from lessons_lib.device import describe_device, pick_device
    from lessons_lib.files import locked, write_text

    if not path.resolve().is_relative_to(ROOT / "book"):
        return f"timing not recorded: {path} is not a notebook of the book in {ROOT / 'book'}"
    key = path.resolve().relative_to(ROOT).as_posix()
    try:
        with locked(TIMINGS):
            data = json.loads(TIMINGS.read_text()) if TIMINGS.is_file() else {}
            entry = {"seconds": round(seconds, 1), "date": time.strftime("%Y-%m-%d"),
                     "device": describe_device(pick_device(verbose=False))}
            if cpu_seconds is not None:
                entry["cpu_seconds"] = round(cpu_seconds, 1)
            data.setdefault(key, {})[profile] = entry
            write_text(TIMINGS, json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        return f"could not record the timing in {TIMINGS} ({exc.strerror or exc}); the notebook itself is saved"
    return f"timing recorded in {TIMINGS.relative_to(ROOT) if TIMINGS.is_relative_to(ROOT) else TIMINGS}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/notebooks.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sync", help="write book/src/*.md into book/*.ipynb, keeping outputs")
    sub.add_parser("check", help="exit 1 when a notebook differs from its source")
    ex = sub.add_parser("execute", help="execute notebooks (default: every chapter)")
    ex.add_argument("notebooks", nargs="*", type=Path)
    ex.add_argument("--profile", default="standard", choices=PROFILES)
    ex.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    ex.add_argument("--copy", action="store_true", help="execute copies in memory: nothing is written or recorded")
    args = parser.parse_args(argv)
    if args.command == "sync":
        for path in sync():
            print(f"synced {path.relative_to(ROOT)}")
        return 0
    if args.command == "check":
        stale = out_of_sync()
        for s in stale:
            print(f"out of sync: {s}; run `make sync`", file=sys.stderr)
        return 1 if stale else 0
    stale = out_of_sync()
    if stale:
        print("error: sync first (`make sync`): " + ", ".join(stale), file=sys.stderr)
        return 2
    paths = args.notebooks or [ipynb for _, ipynb in pairs()]
    if not paths:
        print(f"error: no notebooks to execute: name them, or run this in a checkout of the repository (no "
              f"chapter sources in {SOURCES})", file=sys.stderr)
        return 2
    failed = []
    for path in paths:
        print(f"executing {path} at the {args.profile} profile ...", flush=True)
        try:
            seconds, cpu_seconds = execute(path, args.profile, args.timeout, copy=args.copy)
        except Exception as exc:  # report every notebook, then fail
            failed.append(path)
            print(f"  FAILED: {type(exc).__name__}: {str(exc)[-3000:]}", flush=True)
            continue
        recorded = "" if args.copy else "; " + record_timing(path, args.profile, seconds, cpu_seconds)
        print(f"  done in {seconds:.0f} s ({cpu_seconds:.0f} s of CPU){recorded}", flush=True)
    if failed:
        print(f"error: {len(failed)} notebook(s) failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
