import json
import subprocess
import sys

import pytest

from lessons_lib import reproduce, results
from lessons_lib.experiments import EXPERIMENTS, Experiment


def run(name="lenet_caffe", **kw):
    kw.setdefault("profile", "smoke")
    kw.setdefault("device", "cpu")
    kw.setdefault("verbose", False)
    return reproduce.run_many([name], **kw)[0]


def test_experiment_runs_end_to_end(tmp_path):
    record = run(seeds=2, out=tmp_path, checkpoints=tmp_path / "ck")
    stored = json.loads((tmp_path / "lenet_caffe.json").read_text())
    assert stored["name"] == "lenet_caffe" and stored["profile"] == "smoke" and stored["seeds"] == [0, 1]
    s = stored["summary"]["test_accuracy"]
    accs = [r["metrics"]["test_accuracy"] for r in stored["runs"]]
    assert s["n"] == 2 and s["not_reached"] == 0 and s["mean"] == pytest.approx(sum(accs) / 2)
    assert 0.3 < s["mean"] <= 1.0  # one epoch on 3,000 images learns something
    for key in ("device", "torch", "torchvision", "numpy", "python", "commit"):
        assert key in stored["environment"]
    assert stored["runs"][0]["history"][0]["epoch"] == 1 and stored["claims"][0]["value"] == 0.9938
    assert record["summary"] == stored["summary"]
    assert not (tmp_path / "ck" / "lenet_caffe-smoke").exists()  # finished: its work folder is gone


def test_results_folder_takes_only_publishable_runs():
    for kw, reason in ((dict(profile="smoke"), "profile 'smoke'"), (dict(profile="full", overrides={"epochs": 1}),
                                                                     "overrides")):
        with pytest.raises(ValueError, match=f"cannot go to results/: .*{reason}.*Pass --out DIR"):
            run(seeds=1, out=None, **kw)


def test_unwritable_output_is_found_before_training(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if (locked / "probe").exists() or __import__("os").access(locked, __import__("os").W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(ValueError, match="is not writable"):
            run(seeds=1, out=locked / "sub")
    finally:
        locked.chmod(0o700)


def test_unknown_experiment_and_profile():
    with pytest.raises(ValueError, match="unknown experiment 'lenet9'; known: .*lenet_caffe"):
        reproduce.get("lenet9")
    with pytest.raises(ValueError, match="profile must be one of"):
        run(profile="huge", out="/tmp/x")


def test_overrides_reach_the_experiment(tmp_path):
    rec = run(seeds=[4], out=tmp_path, overrides={"epochs": 2}, checkpoints=tmp_path / "ck")
    assert rec["seeds"] == [4] and len(rec["runs"][0]["history"]) == 2 and rec["overrides"] == {"epochs": 2}


def test_cli_lists_and_rejects(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lessons_lib.reproduce", "--list"], capture_output=True, text=True)
    assert out.returncode == 0 and "lenet_caffe_xavier" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "lessons_lib.reproduce", "nope", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown experiment 'nope'" in bad.stderr


def test_experiment_without_metrics_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setitem(EXPERIMENTS, "_broken", Experiment("_broken", lambda **kw: {}, "x", "x", "returns nothing"))
    with pytest.raises(ValueError, match="must return a dict with a 'metrics' dict"):
        run("_broken", seeds=1, out=tmp_path, checkpoints=tmp_path / "ck")


def test_a_level_never_reached_keeps_every_seed(tmp_path, monkeypatch):
    """A NaN metric (e.g. epochs to an error rate never reached) is counted, not averaged, and
    loses no seed's result."""
    def never(profile, seed, device, checkpoints=None):
        return {"metrics": {"epochs_to_5pct": float("nan") if seed == 1 else 2.0 + seed, "acc": 0.5}}

    monkeypatch.setitem(EXPERIMENTS, "_never", Experiment("_never", never, "x", "x", "sometimes never"))
    rec = run("_never", seeds=3, out=tmp_path, checkpoints=tmp_path / "ck")
    s = json.loads((tmp_path / "_never.json").read_text())["summary"]["epochs_to_5pct"]
    assert s == {"n": 2, "not_reached": 1, "mean": 3.0, "std": pytest.approx(2 ** 0.5), "min": 2.0, "max": 4.0}
    assert [r["metrics"]["epochs_to_5pct"] for r in rec["runs"]] == [2.0, None, 4.0]


def test_finished_seeds_are_kept_when_a_later_one_fails(tmp_path, monkeypatch):
    calls = []

    def flaky(profile, seed, device, checkpoints=None):
        calls.append(seed)
        if seed == 1 and calls.count(1) == 1:
            raise RuntimeError("interrupted")
        return {"metrics": {"acc": float(seed)}}

    monkeypatch.setitem(EXPERIMENTS, "_flaky", Experiment("_flaky", flaky, "x", "x", "fails once"))
    with pytest.raises(RuntimeError, match="interrupted"):
        run("_flaky", seeds=2, out=tmp_path, checkpoints=tmp_path / "ck")
    assert (tmp_path / "ck" / "_flaky-smoke" / "seed0.json").is_file()
    run("_flaky", seeds=2, out=tmp_path, checkpoints=tmp_path / "ck")  # the same command again
    assert calls == [0, 1, 1]  # seed 0 was not run twice


def test_parallel_jobs_give_the_same_numbers_as_sequential(tmp_path):
    seq = run(seeds=2, out=tmp_path / "a", checkpoints=tmp_path / "ca")
    par = run(seeds=2, out=tmp_path / "b", checkpoints=tmp_path / "cb", jobs=2)
    assert par["concurrent_jobs"] == 2
    assert [r["metrics"]["test_accuracy"] for r in seq["runs"]] == [r["metrics"]["test_accuracy"] for r in par["runs"]]


def test_load_result_ignores_records_that_are_not_full_scale(tmp_path):
    record = {"name": "x", "profile": "full", "overrides": {}, "environment": {"commit": "abc"}}
    for change, shown in (({}, True), ({"profile": "smoke"}, False), ({"overrides": {"epochs": 1}}, False),
                          ({"environment": {"commit": "abc-dirty"}}, False), ({"environment": {"commit": None}}, True)):
        (tmp_path / "x.json").write_text(json.dumps({**record, **change}))
        assert (results.load_result("x", tmp_path) is not None) is shown, change
    (tmp_path / "x.json").write_text("{broken")
    with pytest.raises(ValueError, match="is not valid JSON"):
        results.load_result("x", tmp_path)
