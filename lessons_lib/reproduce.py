"""Run the chapters' experiments at full scale, without Jupyter, and record them with provenance.

    python -m lessons_lib.reproduce --list
    python -m lessons_lib.reproduce lenet_caffe --seeds 3              # full profile into results/
    python -m lessons_lib.reproduce --all --jobs 6                     # seeds as concurrent processes
    python -m lessons_lib.reproduce lenet_caffe --profile smoke --out /tmp/check

Each experiment of :data:`lessons_lib.experiments.EXPERIMENTS` is a function
``run(profile, seed, device, checkpoints, **overrides) -> {"metrics": {...}, "history": ..., "settings": ...}``.
The record ``<out>/NAME.json`` holds the metrics per seed, their summary (mean, spread; a level
never reached is counted, not averaged), each seed's history, the device, library versions,
commit and wall time.

``results/`` (the default ``--out``) accepts only what the book may publish: the full profile,
no overrides, from a clean commit; anything else needs an explicit ``--out``. What a run
guarantees when it is interrupted: each seed's result is kept as soon as that seed finishes and
each training run saves a checkpoint after every epoch (under ``--checkpoints``), so running
the same command again loses at most the epoch in progress; the record is written atomically
once every seed is done, so a reader never sees a half-written file.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import torch

from .config import PROFILES, check_profile
from .device import environment, pick_device
from .files import check_writable, write_text
from .results import CHECKOUT_RESULTS, summarize

DEFAULT_CHECKPOINTS = CHECKOUT_RESULTS.parent / "checkpoints"


def experiments() -> dict:
    from .experiments import EXPERIMENTS

    return EXPERIMENTS


def get(name: str):
    table = experiments()
    if name not in table:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(sorted(table))}")
    return table[name]


def _check_out(profile: str, overrides: dict, out, commit) -> Path:
    """The output folder, checked before any training: results/ takes only publishable runs."""
    folder = Path(out) if out is not None else CHECKOUT_RESULTS
    if folder.resolve() == CHECKOUT_RESULTS.resolve():
        problems = []
        if profile != "full":
            problems.append(f"profile {profile!r} (results/ holds the full profile only)")
        if overrides:
            problems.append(f"overrides {overrides} (results/ holds unmodified runs only)")
        if not commit or commit.endswith("-dirty"):
            problems.append(f"commit {commit or 'unknown'} (results/ holds runs of a clean, committed checkout)")
        if problems:
            raise ValueError("this run cannot go to results/: " + "; ".join(problems) + ". Pass --out DIR for a check")
    return check_writable(folder)


def _jsonable(value):
    """Metrics and histories as strict JSON: tensors as lists, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _flat(metrics: dict, prefix: str = "") -> dict:
    """Nested metric dicts flattened to ``a.b`` keys; numbers (and None for "not reached") only."""
    flat = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            flat.update(_flat(v, f"{prefix}{k}."))
        elif v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
            flat[f"{prefix}{k}"] = math.nan if v is None else float(v)
    return flat


def run_seed(name: str, profile: str, seed: int, device: str, overrides: dict, work: Path) -> dict:
    """One seed of one experiment (a top-level function, so that worker processes can run it).

    Its result is kept in ``work/seed<k>.json`` as soon as it is done, and training checkpoints
    go to ``work/seed<k>/``: a second call after an interruption resumes instead of restarting.
    """
    done = work / f"seed{seed}.json"
    if done.is_file():
        return json.loads(done.read_text())
    os.environ["LESSONS_PROFILE"] = profile  # the experiment's helpers read the profile too
    checkpoints = work / f"seed{seed}"
    # resumed from an earlier, interrupted call: the time below counts this call only
    resumed = checkpoints.is_dir() and any(checkpoints.iterdir())
    start, cpu_start = time.time(), time.process_time()
    result = get(name).run(profile=profile, seed=seed, device=torch.device(device),
                           checkpoints=checkpoints, **dict(overrides))
    if not isinstance(result, dict) or not isinstance(result.get("metrics"), dict):
        raise ValueError(f"experiment {name!r} must return a dict with a 'metrics' dict; got {type(result).__name__}")
    result = _jsonable({"seed": seed, "started": start, "wall_time_s": time.time() - start,
                        # CPU seconds of this process, all threads: unlike the wall time, not inflated by
                        # other work on a shared machine
                        "cpu_time_s": time.process_time() - cpu_start, "resumed": resumed,
                        **result})
    write_text(done, json.dumps(result, allow_nan=False))
    return result


def run_many(names: list[str], profile: str = "full", seeds: int | list[int] | None = None, out=None, device=None,
             overrides: dict | None = None, jobs: int = 1, checkpoints=None, keep_going: bool = False,
             verbose: bool = True) -> list[dict]:
    """Run each experiment for each seed, ``jobs`` seeds at a time (separate processes), and write
    ``<out>/<name>.json`` as soon as all seeds of an experiment are done."""
    check_profile(profile)
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int; got {jobs!r}")
    overrides = dict(overrides or {})
    exps = [get(n) for n in names]
    device = torch.device(device) if device is not None else pick_device(verbose=verbose)
    env = {**environment(device), "profile": profile}  # the commit as the run starts
    out = _check_out(profile, overrides, out, env["commit"])
    work_root = check_writable(Path(checkpoints) if checkpoints is not None else DEFAULT_CHECKPOINTS)
    plan = {}
    for exp in exps:
        seed_list = seeds if isinstance(seeds, list) else list(range(exp.default_seeds if seeds is None else seeds))
        if not seed_list or not all(isinstance(s, int) and s >= 0 for s in seed_list):
            raise ValueError(f"seeds must be a positive number or a list of non-negative ints; got {seeds!r}")
        plan[exp.name] = seed_list
    done = {n: [] for n in plan}
    records, failures = [], []
    work = {n: work_root / f"{n}-{profile}" for n in plan}

    def finish(name, result):
        done[name].append(result)
        if verbose:
            shown = ", ".join(f"{k}={v:.5g}" for k, v in _flat(result["metrics"]).items() if not math.isnan(v))
            print(f"[{name}] seed={result['seed']} {shown} ({result['wall_time_s']:.1f}s)", flush=True)
        if len(done[name]) == len(plan[name]):
            records.append(_write_record(get(name), profile, overrides, done[name], env, out, jobs, verbose))
            shutil.rmtree(work[name], ignore_errors=True)

    tasks = [(n, s) for n, sl in plan.items() for s in sl]
    with contextlib.ExitStack() as stack:
        for n in plan:
            stack.enter_context(_exclusive(work[n]))
        if jobs == 1:
            for name, seed in tasks:
                try:
                    finish(name, run_seed(name, profile, seed, str(device), overrides, work[name]))
                except Exception as exc:
                    if not keep_going:
                        raise
                    failures.append((name, seed, exc))
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(run_seed, n, profile, s, str(device), overrides, work[n]): (n, s)
                           for n, s in tasks}
                for fut in as_completed(futures):
                    name, seed = futures[fut]
                    try:
                        finish(name, fut.result())
                    except Exception as exc:
                        if not keep_going:
                            for f in futures:
                                f.cancel()
                            raise
                        failures.append((name, seed, exc))
    for name, seed, exc in failures:
        print(f"[{name}] seed={seed} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    if failures:
        raise RuntimeError(f"{len(failures)} run(s) failed: " + ", ".join(f"{n}/seed {s}" for n, s, _ in failures))
    return records


@contextlib.contextmanager
def _exclusive(work: Path):
    """Hold ``work``'s lock for the whole run: a second run of the same experiment fails at once."""
    import fcntl

    work.mkdir(parents=True, exist_ok=True)
    with open(work / "lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another run of this experiment is using {work}; wait for it to finish") from None
        yield


def _write_record(exp, profile, overrides, runs, env, out, jobs, verbose) -> dict:
    runs = sorted(runs, key=lambda r: r["seed"])
    flat = [_flat(r["metrics"]) for r in runs]
    keys = sorted({k for f in flat for k in f})
    first = min(r["started"] for r in runs)
    last = max(r["started"] + r["wall_time_s"] for r in runs)
    record = {
        "name": exp.name, "description": exp.description, "chapter": exp.chapter, "claims": exp.claims,
        "profile": profile, "overrides": overrides, "seeds": [r["seed"] for r in runs],
        "summary": {k: summarize([f.get(k, math.nan) for f in flat]) for k in keys},
        "runs": runs, "wall_time_s": last - first, "seed_wall_times_s": [r["wall_time_s"] for r in runs],
        "concurrent_jobs": jobs, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": env,
    }
    path = Path(out) / f"{exp.name}.json"
    write_text(path, json.dumps(_jsonable(record), indent=1, allow_nan=False))
    if verbose:
        print(f"[{exp.name}] wrote {path} ({record['wall_time_s']:.1f}s wall)", flush=True)
    return record


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessons_lib.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="experiments to run")
    parser.add_argument("--all", action="store_true", help="run every experiment")
    parser.add_argument("--list", action="store_true", help="list the experiments")
    parser.add_argument("--profile", default="full", help=f"one of {', '.join(PROFILES)} (default full)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the experiment's)")
    parser.add_argument("--out", default=None, help="output folder (default results/: full profile, clean commit)")
    parser.add_argument("--checkpoints", default=None, help="folder for checkpoints and finished seeds "
                        "(default checkpoints/); running the same command again resumes from it")
    parser.add_argument("--device", default=None, help="force a device, e.g. cpu")
    parser.add_argument("--jobs", type=int, default=1, help="seeds at a time, each in its own process")
    parser.add_argument("--keep-going", action="store_true", help="finish the other runs when one fails")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set epochs=2 (needs --out)")
    args = parser.parse_args(argv)
    table = experiments()
    if args.list:
        for e in table.values():
            print(f"{e.name:30s} {e.chapter:14s} {e.description}")
        return 0
    names = list(table) if args.all else args.names
    if not names:
        parser.error("name at least one experiment, or --all, or --list")
    overrides = {}
    for item in args.set:
        if "=" not in item:
            parser.error(f"--set expects KEY=VALUE; got {item!r}")
        k, v = item.split("=", 1)
        overrides[k] = _parse_value(v)
    try:
        run_many(names, args.profile, args.seeds, args.out, args.device, overrides, args.jobs, args.checkpoints,
                 keep_going=args.keep_going)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
