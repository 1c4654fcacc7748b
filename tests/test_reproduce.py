import json
import subprocess
import sys

import pytest
import torch

from lessons_lib import reproduce
from lessons_lib.registry import register, REGISTRY


def test_registered_example_runs_end_to_end(tmp_path):
    record = reproduce.run("lenet_caffe", profile="smoke", seeds=2, out=tmp_path, device="cpu", verbose=False)
    stored = json.loads((tmp_path / "lenet_caffe.json").read_text())
    assert stored["name"] == "lenet_caffe" and stored["profile"] == "smoke" and stored["seeds"] == [0, 1]
    s = stored["summary"]["test_accuracy"]
    accs = [r["metrics"]["test_accuracy"] for r in stored["runs"]]
    assert s["n"] == 2 and s["mean"] == pytest.approx(sum(accs) / 2)
    assert 0.3 < s["mean"] <= 1.0  # one epoch on 3,000 images learns something
    env = stored["environment"]
    for key in ("device", "torch", "torchvision", "numpy", "python", "commit"):
        assert key in env
    assert stored["wall_time_s"] > 0 and stored["runs"][0]["history"][0]["epoch"] == 1
    assert stored["claims"][0]["value"] == 0.9938
    assert record["summary"] == stored["summary"]


def test_results_dir_takes_full_gpu_runs_only():
    with pytest.raises(ValueError, match="results/ holds full-profile GPU runs only.*pass --out"):
        reproduce.run("lenet_caffe", profile="full", seeds=1, out=None, device="cpu", verbose=False)


def test_unknown_experiment_and_profile():
    with pytest.raises(ValueError, match="unknown experiment 'lenet9'; registered: .*lenet_caffe"):
        reproduce.get("lenet9")
    with pytest.raises(ValueError, match="profile must be one of"):
        reproduce.run("lenet_caffe", profile="huge", out="/tmp/x")


def test_overrides_reach_the_experiment(tmp_path):
    rec = reproduce.run("lenet_caffe", profile="smoke", seeds=[4], out=tmp_path, device="cpu",
                        overrides={"epochs": 2}, verbose=False)
    assert rec["seeds"] == [4] and len(rec["runs"][0]["history"]) == 2 and rec["overrides"] == {"epochs": 2}


def test_cli_lists_and_rejects(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lessons_lib.reproduce", "--list"], capture_output=True, text=True)
    assert out.returncode == 0 and "lenet_caffe" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "lessons_lib.reproduce", "nope", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown experiment 'nope'" in bad.stderr


def test_show_result_says_when_not_measured(tmp_path, capsys):
    reproduce.show_result("lenet_caffe", results_dir=tmp_path)
    assert "not yet measured" in capsys.readouterr().out
    reproduce.run("lenet_caffe", profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False)
    reproduce.show_result("lenet_caffe", results_dir=tmp_path)
    out = capsys.readouterr().out
    assert "test_accuracy" in out and "profile smoke" in out


def test_experiment_without_metrics_is_rejected(tmp_path):
    register("_broken", description="returns nothing")(lambda profile, seed, device: {})
    try:
        with pytest.raises(ValueError, match="returned no 'metrics'"):
            reproduce.run("_broken", profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False)
    finally:
        REGISTRY.pop("_broken")


def test_parallel_jobs_give_the_same_numbers_as_sequential(tmp_path):
    seq = reproduce.run("lenet_caffe", profile="smoke", seeds=2, out=tmp_path / "a", device="cpu", verbose=False)
    par = reproduce.run("lenet_caffe", profile="smoke", seeds=2, out=tmp_path / "b", device="cpu", verbose=False, jobs=2)
    assert par["concurrent_jobs"] == 2
    assert [r["metrics"]["test_accuracy"] for r in seq["runs"]] == [r["metrics"]["test_accuracy"] for r in par["runs"]]
