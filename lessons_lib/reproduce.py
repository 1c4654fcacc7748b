"""Run a registered experiment without Jupyter and write ``results/NAME.json`` with provenance.

    python -m lessons_lib.reproduce --list
    python -m lessons_lib.reproduce lenet_caffe --profile full --seeds 3
    python -m lessons_lib.reproduce --all --profile full
    python -m lessons_lib.reproduce lenet_caffe --profile full --set epochs=2 --out /tmp/check

A chapter registers its headline experiments with :func:`register`; each is a function
``fn(profile, seed, device, **overrides) -> {"metrics": {...}, "history": [...], ...}``.
The file holds the metrics per seed, their mean and spread, each seed's history, the device,
library versions, git commit, seeds and wall time. Only full-profile runs on a GPU, without
overrides, go to ``results/`` by default: anything else needs an explicit ``--out``, so a CPU
check is never mistaken for the full-scale figure.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from .config import PROFILES, check_profile
from .device import environment, pick_device
from .registry import REGISTRY, Experiment, register  # noqa: F401  (register is re-exported)

RESULTS_DIR = Path(__file__).resolve().parent.parent / "results"


def experiments() -> dict[str, Experiment]:
    """All registered experiments (importing the chapters' modules registers them)."""
    from . import experiments as _  # noqa: F401
    return REGISTRY


def get(name: str) -> Experiment:
    reg = experiments()
    if name not in reg:
        raise ValueError(f"unknown experiment {name!r}; registered: {', '.join(sorted(reg)) or 'none'}")
    return reg[name]


def summarize(values: list[float]) -> dict:
    mean = statistics.fmean(values)
    return {"mean": mean, "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable))
    os.replace(tmp, path)


def _jsonable(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, float) and not math.isfinite(o):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _check_out(profile: str, device: torch.device, overrides: dict, out):
    if out is not None:
        return Path(out)
    if profile != "full" or device.type != "cuda" or overrides:
        raise ValueError(
            "results/ holds full-profile GPU runs only; this run is "
            f"profile={profile!r}, device={device.type!r}, overrides={overrides or 'none'}: pass --out DIR"
        )
    return RESULTS_DIR


def _run_seed(name: str, profile: str, seed: int, device: str, overrides: dict) -> dict:
    """One seed of one experiment; a top-level function so that worker processes can run it."""
    os.environ["LESSONS_PROFILE"] = profile  # the experiment's own helpers read the profile too
    exp = get(name)
    start = time.time()
    result = exp.fn(profile=profile, seed=seed, device=torch.device(device), **dict(overrides))
    if not isinstance(result, dict) or "metrics" not in result:
        raise ValueError(f"experiment {name!r} returned no 'metrics' (got {type(result).__name__} "
                         f"with keys {sorted(result) if isinstance(result, dict) else '-'})")
    return {"seed": seed, "started": start, "wall_time_s": time.time() - start, **result}


def _run_seeds(name: str, profile: str, seeds, device: str, overrides: dict) -> list[dict]:
    """All ``seeds`` of one experiment at once, through its ``batched`` function (one stacked
    model); each result's wall time is the shared wall time of the batch."""
    os.environ["LESSONS_PROFILE"] = profile
    exp = get(name)
    start = time.time()
    results = exp.batched(profile=profile, seeds=list(seeds), device=torch.device(device), **dict(overrides))
    if not isinstance(results, list) or len(results) != len(seeds) or not all(
            isinstance(r, dict) and "metrics" in r for r in results):
        raise ValueError(f"experiment {name!r}: its batched function must return one result dict with 'metrics' "
                         f"per seed ({len(seeds)}); got {type(results).__name__}")
    wall = time.time() - start
    return [{"seed": s, "started": start, "wall_time_s": wall, "batched_seeds": list(seeds), **r}
            for s, r in zip(seeds, results)]


def _run_task(name: str, profile: str, seed, device: str, overrides: dict) -> list[dict]:
    """One task of ``run_many``: a seed (int) or a batch of seeds (tuple); a list of results."""
    if isinstance(seed, tuple):
        return _run_seeds(name, profile, seed, device, overrides)
    return [_run_seed(name, profile, seed, device, overrides)]


def run_many(names: list[str], profile: str = "full", seeds: int | list[int] | None = None,
             out: str | Path | None = None, device=None, overrides: dict | None = None, jobs: int = 1,
             verbose: bool = True, keep_going: bool = False, batch_seeds: bool = False) -> list[dict]:
    """Run several experiments, each for its seeds, ``jobs`` (experiment, seed) runs at a time.

    With ``jobs > 1`` every run is a separate process, so the seeds of an experiment (and
    different experiments) train concurrently on one GPU; small models leave most of a GPU
    idle, so this multiplies throughput. With ``batch_seeds``, an experiment that registered a
    ``batched`` function trains all its seeds in one run, as one stacked model
    (:class:`~lessons_lib.ensemble.Ensemble`). Each ``<out>/<name>.json`` is written as soon as
    all its seeds are done, so an interrupted ``--all`` keeps what finished.
    """
    check_profile(profile)
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive int; got {jobs!r}")
    overrides = dict(overrides or {})
    exps = [get(n) for n in names]
    device = torch.device(device) if device is not None else pick_device(verbose=verbose)
    out = _check_out(profile, device, overrides, out)
    plan = {}
    for exp in exps:
        seed_list = seeds if isinstance(seeds, list) else list(range(seeds if isinstance(seeds, int) else exp.default_seeds))
        if not seed_list:
            raise ValueError(f"seeds must be a positive number or a non-empty list; got {seeds!r}")
        plan[exp.name] = seed_list
    tasks = []
    for n, sl in plan.items():
        if batch_seeds and get(n).batched is not None and len(sl) > 1:
            tasks.append((n, tuple(sl)))
        else:
            tasks.extend((n, s) for s in sl)
    done: dict[str, list] = {n: [] for n in plan}
    records, failures = [], []

    def finish(name, results):
        for result in results:
            done[name].append(result)
            if verbose:
                print(f"[{name}] seed={result['seed']} " + ", ".join(
                    f"{k}={v:.5g}" for k, v in _flat(result["metrics"]).items()) + f" ({result['wall_time_s']:.1f}s)",
                    flush=True)
        if len(done[name]) == len(plan[name]):
            records.append(_write_record(get(name), profile, overrides, done[name], device, out, jobs, verbose))

    if jobs == 1:
        for name, seed in tasks:
            if verbose:
                print(f"[{name}] profile={profile} seed={seed} ...", flush=True)
            try:
                finish(name, _run_task(name, profile, seed, str(device), overrides))
            except Exception as exc:
                if not keep_going:
                    raise
                failures.append((name, seed, exc))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_run_task, n, profile, s, str(device), overrides): (n, s) for n, s in tasks}
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


def _write_record(exp, profile, overrides, runs, device, out, jobs, verbose) -> dict:
    runs = sorted(runs, key=lambda r: r["seed"])
    metrics = sorted(_flat(runs[0]["metrics"]))
    first = min(r["started"] for r in runs)
    last = max(r["started"] + r["wall_time_s"] for r in runs)
    record = {
        "name": exp.name,
        "description": exp.description,
        "chapter": exp.chapter,
        "claims": exp.claims,
        "profile": profile,
        "overrides": overrides,
        "seeds": [r["seed"] for r in runs],
        "summary": {m: summarize([_flat(r["metrics"])[m] for r in runs]) for m in metrics},
        "runs": runs,
        "wall_time_s": last - first,
        "concurrent_jobs": jobs,
        "seeds_batched": any("batched_seeds" in r for r in runs),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": {**environment(device), "profile": profile},
    }
    path = Path(out) / f"{exp.name}.json"
    _write_json(path, record)
    if verbose:
        print(f"[{exp.name}] wrote {path} ({record['wall_time_s']:.1f}s wall)", flush=True)
    return record


def run(name: str, profile: str = "full", seeds: int | list[int] | None = None, out: str | Path | None = None,
        device=None, overrides: dict | None = None, verbose: bool = True, jobs: int = 1,
        batch_seeds: bool = False) -> dict:
    """Run experiment ``name`` for each seed and write ``<out>/<name>.json``; return the record."""
    return run_many([name], profile, seeds, out, device, overrides, jobs, verbose, batch_seeds=batch_seeds)[0]


def _flat(metrics: dict, prefix: str = "") -> dict:
    """Nested metric dicts flattened to ``a.b`` keys of numbers."""
    flat = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            flat.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            flat[f"{prefix}{k}"] = float(v)
    return flat


def load_result(name: str, results_dir: str | Path | None = None) -> dict | None:
    """The stored record of ``name``, or None when it has not been produced yet."""
    path = Path(results_dir or RESULTS_DIR) / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def provenance(record: dict) -> str:
    env = record["environment"]
    return (f"profile {record['profile']}, {len(record['seeds'])} seed(s), {env['device']}, torch {env['torch']}, "
            f"commit {str(env.get('commit'))[:12]}, {record['wall_time_s']:.0f} s wall, finished {record['finished']}")


def show_result(name: str, metrics: list[str] | None = None, results_dir=None, scale: float = 1.0,
                unit: str = "") -> None:
    """Print a stored result's summary and provenance, or say plainly that it is not measured yet."""
    record = load_result(name, results_dir)
    if record is None:
        print(f"{name}: not yet measured at the full profile (run `python -m lessons_lib.reproduce {name} "
              "--profile full` on a GPU to produce results/" f"{name}.json)")
        return
    for m, s in record["summary"].items():
        if metrics is None or m in metrics:
            print(f"{name} {m}: {s['mean'] * scale:.4g}{unit} ± {s['std'] * scale:.2g}{unit} "
                  f"(mean ± std over {s['n']} seeds; min {s['min'] * scale:.4g}, max {s['max'] * scale:.4g})")
    print("  " + provenance(record))


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lessons_lib.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="experiments to run")
    parser.add_argument("--all", action="store_true", help="run every registered experiment")
    parser.add_argument("--list", action="store_true", help="list the registered experiments")
    parser.add_argument("--profile", default="full", help=f"one of {', '.join(PROFILES)} (default full)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the experiment's)")
    parser.add_argument("--out", default=None, help="output folder (default results/, full profile on a GPU only)")
    parser.add_argument("--device", default=None, help="force a device, e.g. cpu")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at a time, each in its own process (seeds train concurrently on one GPU)")
    parser.add_argument("--keep-going", action="store_true", help="finish the other runs when one fails")
    parser.add_argument("--batch-seeds", action="store_true",
                        help="train all seeds of an experiment at once as one stacked model, where it supports it")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an experiment setting, e.g. --set epochs=2 (needs --out)")
    args = parser.parse_args(argv)
    reg = experiments()
    if args.list:
        for e in reg.values():
            print(f"{e.name:28s} {e.chapter:14s} {e.description}")
        return 0
    names = sorted(reg) if args.all else args.names
    if not names:
        parser.error("name at least one experiment, or --all, or --list")
    overrides = {}
    for item in args.set:
        if "=" not in item:
            parser.error(f"--set expects KEY=VALUE; got {item!r}")
        k, v = item.split("=", 1)
        overrides[k] = _parse_value(v)
    try:
        check_profile(args.profile)
        for name in names:
            get(name)
        run_many(names, args.profile, args.seeds, args.out, args.device, overrides, args.jobs,
                 keep_going=args.keep_going, batch_seeds=args.batch_seeds)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
