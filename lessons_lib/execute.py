"""Execute notebooks in place at a profile and store their outputs.

    python -m lessons_lib.execute                      # every notebook in book/, standard profile
    python -m lessons_lib.execute book/lenet.ipynb --profile smoke

The book renders these stored outputs and never executes anything itself. The kernel gets
``LESSONS_PROFILE`` and ``LESSONS_EXECUTING=1`` (progress bars off, one line per epoch, one
final figure per training run). A notebook is written back only when every cell succeeded,
so an interrupted or failed run leaves the committed file as it was.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .config import PROFILES, check_profile
from .train import HEADLESS_ENV

BOOK_DIR = Path(__file__).resolve().parent.parent / "book"
TIMINGS = Path(__file__).resolve().parent.parent / "results" / "notebook_timings.json"


def record_timing(path: Path, profile: str, seconds: float) -> None:
    """Keep the measured wall time of each notebook per profile, for the landing page."""
    import json

    from .device import describe_device, pick_device

    data = json.loads(TIMINGS.read_text()) if TIMINGS.is_file() else {}
    key = path.resolve().relative_to(BOOK_DIR.parent).as_posix() if path.resolve().is_relative_to(BOOK_DIR.parent) else path.name
    data.setdefault(key, {})[profile] = {
        "seconds": round(seconds, 1), "device": describe_device(pick_device(verbose=False)),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    tmp = TIMINGS.with_name(TIMINGS.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, TIMINGS)


def execute_notebook(path: str | Path, profile: str = "standard", timeout: int = 1800) -> float:
    """Run every cell of ``path`` with a fresh kernel; write the outputs back; return seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"path must be an existing .ipynb file; got {str(path)!r}")
    check_profile(profile)
    nb = nbformat.read(path, as_version=4)
    old = {k: os.environ.get(k) for k in ("LESSONS_PROFILE", HEADLESS_ENV)}
    os.environ.update({"LESSONS_PROFILE": profile, HEADLESS_ENV: "1"})
    t0 = time.time()
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    tmp = path.with_name(path.name + ".tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)
    return time.time() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessons_lib.execute", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: every notebook in book/)")
    parser.add_argument("--profile", default="standard", help=f"one of {', '.join(PROFILES)} (default standard)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    paths = [Path(p) for p in args.notebooks] or sorted(BOOK_DIR.rglob("*.ipynb"))
    paths = [p for p in paths if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts]
    try:
        check_profile(args.profile)
        for p in paths:
            print(f"executing {p} at profile {args.profile} ...", flush=True)
            secs = execute_notebook(p, args.profile, args.timeout)
            record_timing(p, args.profile, secs)
            print(f"  done in {secs:.0f} s", flush=True)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
