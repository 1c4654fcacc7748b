import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from pathlib import Path

from testsupport import ROOT, on_tmpfs
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


def checkout_copy(tmp_path):
    """A copy of this checkout's library and committed lenet_caffe record, to run the command line on."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "lessons_lib", copy / "lessons_lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy)
    (copy / "results").mkdir()
    shutil.copy(ROOT / "results" / "lenet_caffe.json", copy / "results")
    return copy


def cli(copy, *args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(copy), "OMP_NUM_THREADS": "1", "LESSONS_RESULTS": ""}
    return subprocess.run([sys.executable, "-m", "lessons_lib.reproduce", *map(str, args)], cwd=cwd or copy,
                          env=env, capture_output=True, text=True, timeout=600)


def test_the_issue_command_never_replaces_the_committed_record(tmp_path):
    """`reproduce lenet_caffe --profile smoke --seeds 1 --device cpu --out results` (the issue's
    command) and the same with results/ named by another path, or copied elsewhere: refused before
    any training, the committed full-scale record untouched."""
    copy = checkout_copy(tmp_path)
    committed = (copy / "results" / "lenet_caffe.json").read_bytes()
    assert results.is_full_scale(json.loads(committed))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(copy / "results" / "lenet_caffe.json", elsewhere)
    command = ["lenet_caffe", "--profile", "smoke", "--seeds", "1", "--device", "cpu", "--checkpoints", tmp_path / "ck"]
    for out, cwd, message in (("results", copy, "cannot go to results/: profile 'smoke'"),
                              (copy / "results" / ".." / "results", tmp_path, "cannot go to results/"),
                              (elsewhere, tmp_path, f"{elsewhere / 'lenet_caffe'}.json is a full-scale record")):
        start = time.monotonic()
        done = cli(copy, *command, "--out", out, cwd=cwd)
        assert done.returncode == 2 and message in done.stderr, (out, done.stdout, done.stderr)
        assert time.monotonic() - start < 60 and "seed=0" not in done.stdout  # refused before training
    assert (copy / "results" / "lenet_caffe.json").read_bytes() == committed
    assert (elsewhere / "lenet_caffe.json").read_bytes() == committed
    assert sorted(p.name for p in (copy / "results").iterdir()) == ["lenet_caffe.json"]


def test_a_check_may_replace_a_record_that_is_not_full_scale(tmp_path):
    (tmp_path / "lenet_caffe.json").write_text(json.dumps({"name": "lenet_caffe", "profile": "smoke"}))
    assert reproduce._check_out("smoke", {}, tmp_path, "abc", ["lenet_caffe"]) == tmp_path


def quick(profile, seed, device, checkpoints=None, gate=None):
    """A run of a moment; with ``gate``, it says it started and waits until the file ``gate`` exists."""
    if gate is not None:
        Path(f"{gate}.started").touch()
        while not Path(gate).exists():
            time.sleep(0.05)
    return {"metrics": {"acc": 0.5 + seed}}


def test_unwritable_output_is_found_before_training(tmp_path, monkeypatch):
    """As root too: an output under a regular file cannot be created by anyone."""
    calls = []
    monkeypatch.setitem(EXPERIMENTS, "_quick", Experiment("_quick", lambda **kw: calls.append(1) or quick(**kw),
                                                          "x", "x", "quick"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for kw, message in ((dict(out=blocker / "out"), f"output folder \\(--out\\) {blocker / 'out'} is not writable"),
                        (dict(out=tmp_path / "out", checkpoints=blocker / "ck"),
                         f"checkpoints folder \\(--checkpoints\\) {blocker / 'ck'} is not writable")):
        with pytest.raises(ValueError, match=message):
            run("_quick", seeds=1, **kw)
    assert calls == [] and sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "out"]
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("readonly", [True, False], ids=["read-only", "full"])
def test_read_only_or_full_output_is_found_before_training(tmp_path, readonly):
    """A real read-only, or full, file system as --out (root cannot write either): the command
    fails in seconds, before any training, and leaves nothing behind."""
    mount = tmp_path / "disk"
    code = ("import os, sys, time; from lessons_lib import reproduce\n"
            "if sys.argv[2] == 'full':\n    open(os.path.join(sys.argv[1], 'filler'), 'wb').write(bytes(64 * 1024))\n"
            "start = time.time()\n"
            "rc = reproduce.main(['lenet_caffe', '--profile', 'smoke', '--seeds', '1', '--device', 'cpu', '--out',"
            " os.path.join(sys.argv[1], 'out'), '--checkpoints', sys.argv[3]])\n"
            "print(rc, round(time.time() - start), sorted(os.listdir(sys.argv[1])))")
    out = on_tmpfs(mount, code, mount, "read-only" if readonly else "full", tmp_path / "ck", size_kb=64,
                   readonly=readonly)
    reason = "Read-only file system" if readonly else "No space left on device"
    assert f"error: output folder (--out) {mount / 'out'} is not writable ({reason})" in out.stderr, out.stderr
    rc, seconds, listing = out.stdout.split(" ", 2)
    assert rc == "2" and int(seconds) < 30 and "seed=" not in out.stdout
    assert listing.strip() == ("[]" if readonly else "['filler', 'out']")
    assert not (tmp_path / "ck").exists() or not any((tmp_path / "ck").rglob("*.json"))


def test_two_runs_to_one_folder(tmp_path):
    """Real concurrent processes: two experiments into one folder both land; a second run of the
    same experiment into the same folder fails at once instead of replacing the first one's record."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from test_reproduce import quick\n"
            "from lessons_lib import reproduce; from lessons_lib.experiments import EXPERIMENTS, Experiment\n"
            "name, gate = sys.argv[2], sys.argv[5]\n"
            "EXPERIMENTS[name] = Experiment(name, lambda **kw: quick(gate=gate, **kw), 'x', 'x', 'waits for its gate')\n"
            "sys.exit(reproduce.main([name, '--profile', 'smoke', '--seeds', '2', '--device', 'cpu',"
            " '--out', sys.argv[3], '--checkpoints', sys.argv[4]]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "out"

    def start(name, ck, gate):
        return subprocess.Popen([sys.executable, "-c", code, str(ROOT / "tests"), name, str(out), str(tmp_path / ck),
                                 str(tmp_path / gate)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def wait_until(path):
        deadline = time.monotonic() + 120
        while not path.exists():
            assert time.monotonic() < deadline, f"{path} never appeared"
            time.sleep(0.05)

    started = []
    try:
        a, b = start("_a", "ck1", "gate"), start("_b", "ck2", "gate")
        started += [a, b]
        wait_until(tmp_path / "gate.started")
        (tmp_path / "gate").touch()
        assert (a.wait(timeout=300), b.wait(timeout=300)) == (0, 0)
        for name in ("_a", "_b"):
            assert json.loads((out / f"{name}.json").read_text())["seeds"] == [0, 1]
        first = start("_a", "ck1", "gate2")
        started.append(first)
        wait_until(tmp_path / "gate2.started")  # the first run is training: it holds its record
        second = start("_a", "ck3", "gate3")  # another checkpoints folder: only the record is shared
        started.append(second)
        assert second.wait(timeout=120) == 2
        assert f"another run is writing {out / '_a.json'}" in second.stderr.read()
        (tmp_path / "gate2").touch()
        assert first.wait(timeout=300) == 0
    finally:
        for proc in started:
            proc.kill()
            proc.wait()
    assert json.loads((out / "_a.json").read_text())["seeds"] == [0, 1]
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".lock")) == ["_a.json", "_b.json"]
    assert not (tmp_path / "gate3.started").exists()  # the second run never started training


def test_a_run_killed_mid_epoch_resumes_to_the_same_record(tmp_path):
    """`kill -9` during seed 1's second epoch; the same command again: seed 0 is not rerun, seed 1
    resumes from its checkpoint, and the record equals an uninterrupted run's."""
    command = ["lenet_caffe", "--profile", "smoke", "--seeds", "2", "--set", "epochs=2", "--device", "cpu"]
    reference = cli(ROOT, *command, "--out", tmp_path / "ref", "--checkpoints", tmp_path / "ck-ref")
    assert reference.returncode == 0, reference.stderr
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lessons_lib.reproduce", *command, "--out", str(tmp_path / "out"),
                             "--checkpoints", str(tmp_path / "ck")], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not list((tmp_path / "ck").glob("lenet_caffe-*/seed1/lenet.pt")):  # seed 1's first epoch is done
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        proc.kill()
    assert proc.wait() == -9 and not (tmp_path / "out" / "lenet_caffe.json").exists()
    assert len(list((tmp_path / "ck").glob("lenet_caffe-*/seed0.json"))) == 1
    again = cli(ROOT, *command, "--out", tmp_path / "out", "--checkpoints", tmp_path / "ck")
    assert again.returncode == 0, again.stderr
    assert "seed=0" in again.stdout and "(0.0s)" not in again.stdout.split("seed=1")[1]

    def outcome(folder):
        record = json.loads((tmp_path / folder / "lenet_caffe.json").read_text())
        def timeless(d):  # wall times differ from run to run
            return {k: v for k, v in d.items() if "time" not in k}

        return [(r["seed"], timeless(r["metrics"]), [timeless(row) for row in r["history"]]) for r in record["runs"]]

    assert outcome("out") == outcome("ref")
    # seed 1's time counts the second call only, and the record says so
    assert [r["resumed"] for r in json.loads((tmp_path / "out" / "lenet_caffe.json").read_text())["runs"]] == [False, True]
    assert not any(r["resumed"] for r in json.loads((tmp_path / "ref" / "lenet_caffe.json").read_text())["runs"])
    assert not [p for p in (tmp_path / "ck").glob("lenet_caffe-*") if p.is_dir()]  # finished: the work folder is gone


def test_a_full_disk_during_a_run_then_the_same_command_resumes(tmp_path):
    """--checkpoints on a real 5 MB tmpfs: room for LeNet's first checkpoint, not for the second.
    The command stops with a one-line error naming the file; with room made (the tmpfs grown), the
    same command resumes from epoch 1 and finishes."""
    mount = tmp_path / "disk"
    code = ("import subprocess, sys; from lessons_lib import reproduce\n"
            "argv = ['lenet_caffe', '--profile', 'smoke', '--seeds', '1', '--set', 'epochs=2', '--device', 'cpu',"
            " '--out', sys.argv[2], '--checkpoints', sys.argv[1]]\n"
            "print('first', reproduce.main(argv), flush=True)\n"
            "import glob, torch; (kept,) = glob.glob(sys.argv[1] + '/lenet_caffe-*/seed0/lenet.pt')\n"
            "print('kept', torch.load(kept, weights_only=False)['history'][0]['time'], flush=True)\n"
            "subprocess.run(['mount', '-o', 'remount,size=20m', sys.argv[1]], check=True)\n"
            "print('again', reproduce.main(argv), flush=True)")
    out = on_tmpfs(mount, code, mount, tmp_path / "out", size_kb=5 * 1024)
    assert "first 1" in out.stdout and "again 0" in out.stdout, out.stdout + out.stderr
    first_error = out.stderr.splitlines()[0]
    assert first_error.startswith("error: [Errno 28] could not write ") and "lenet.pt (No space left on device)" in first_error
    assert "Training stopped after epoch 2;" in first_error and "still holds 1 epoch" in first_error
    record = json.loads((tmp_path / "out" / "lenet_caffe.json").read_text())
    assert [row["epoch"] for row in record["runs"][0]["history"]] == [1, 2]
    kept = float(out.stdout.split("kept ")[1].split()[0])
    assert record["runs"][0]["history"][0]["time"] == kept  # epoch 1 came from the checkpoint, not run again


@pytest.mark.parametrize("name, key, value", [
    ("lenet_caffe", "epochs", 0), ("lenet_caffe", "epochs", 2.5), ("alexnet_mnist", "epochs", 0),
    ("alexnet_relu_tanh", "steps", 0), ("rnn_loop_vs_fused", "steps", 0), ("rnn_adding", "epochs", "two"),
    ("rnn_adding", "hidden", 0), ("autoencoders_code_size", "deep_epochs", -1)])
def test_an_override_that_is_not_a_count_is_refused_before_training(tmp_path, name, key, value):
    """`--set epochs=0` was an IndexError after the data was loaded (a KeyError once the Trainer took
    epochs=0); `steps=0` a torch error, or an empty record."""
    with pytest.raises(ValueError, match=f"--set {key}={value!r}: {key} counts something .*expected a positive int"):
        run(name, seeds=1, out=tmp_path, overrides={key: value}, checkpoints=tmp_path / "ck")
    assert not list(tmp_path.iterdir())  # refused before anything was written
    done = cli(ROOT, name, "--profile", "smoke", "--set", f"{key}={value}", "--out", tmp_path, "--checkpoints",
               tmp_path / "ck") if name == "lenet_caffe" and value == 0 else None
    assert done is None or (done.returncode == 2 and "error: --set epochs=0: epochs counts something" in done.stderr)


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


def test_seed_time_prefers_cpu_time_on_a_cpu_and_says_when_a_seed_resumed():
    runs = [{"wall_time_s": 600.0, "cpu_time_s": 240.0, "resumed": False},
            {"wall_time_s": 1200.0, "cpu_time_s": 360.0, "resumed": False}]
    record = {"runs": runs, "environment": {"device": "cpu (1 threads, x86_64)"}}
    assert results.seed_time(record) == "5 min 00 s of CPU time a seed"
    assert results.seed_time({**record, "environment": {"device": "cuda (NVIDIA H200)"}}) == "15 min 00 s a seed"
    old = {"runs": [{"wall_time_s": 120.0}], "environment": {"device": "cpu (2 threads, x86_64)"}}
    assert results.seed_time(old) == "2 min 00 s a seed"  # records from before CPU time was kept
    assert results.seed_time({"runs": [{"wall_time_s": 28.4}], "environment": {"device": "cuda"}}) == "28 s a seed"
    runs[1]["resumed"] = True
    assert results.seed_time(record).endswith("(resumed after an interruption: the last session only)")
