"""DistributedDataParallel through lessons_lib's Trainer: 2 CPU processes (gloo) under torchrun
must end with the weights of one process trained on the same global batches."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from testsupport import ROOT

from lessons_lib import distributed
from lessons_lib.models import AlexNet2012, LeNet


def test_shard_covers_the_global_batch_in_order():
    x = torch.arange(10)
    a, b = distributed.shard(x, 0, 2), distributed.shard(x, 1, 2)
    assert a.tolist() == [0, 2, 4, 6, 8] and b.tolist() == [1, 3, 5, 7, 9]
    # step k of both ranks with batch 2 = items 4k..4k+3 of one process with batch 4
    assert sorted(torch.cat([a[2:4], b[2:4]]).tolist()) == [4, 5, 6, 7]
    assert len(distributed.shard(torch.arange(7), 2, 3)) == 2  # equal lengths on every rank


@pytest.mark.parametrize("kwargs, match", [(dict(rank=2, world_size=2), "rank"), (dict(rank=0, world_size=0), "world_size")])
def test_shard_rejects_bad_ranks(kwargs, match):
    with pytest.raises(ValueError, match=match):
        distributed.shard(torch.arange(4), **kwargs)


def test_init_without_torchrun_is_one_process(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    rank, world, _ = distributed.init()
    assert (rank, world) == (0, 1)


def test_training_memory_of_the_paper_model():
    m = distributed.training_memory(AlexNet2012(), (3, 227, 227), batch_size=128)
    assert m["weights"] == 60_965_224 * 4 and m["gradients"] == m["weights"]
    from math import prod

    from lessons_lib.analysis.architecture import layer_table

    stored = [L.output_shape for L in layer_table(AlexNet2012(), (3, 227, 227)) if L.type != "ReLU"]  # ReLUs are in place
    assert m["activations"] == 128 * 4 * (3 * 227 * 227 + sum(prod(s) for s in stored))
    assert m["total"] == sum(v for k, v in m.items() if k != "total")
    with pytest.raises(ValueError, match="batch_size"):
        distributed.training_memory(AlexNet2012(), (3, 227, 227), batch_size=0)


def test_two_gloo_processes_match_one_process(tmp_path):
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LESSONS_PROFILE": "smoke"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "lessons_lib.distributed", "--model", "lenet", "--source", "sample", "--n-train", "512",
           "--batch-size", "64", "--epochs", "2", "--no-shuffle", "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ddp = torch.load(out, weights_only=False)
    assert ddp["world_size"] == 2

    # one process, the same 512 images, the same global batch of 64, no shuffling
    from lessons_lib.data import DeviceLoader, mnist
    from lessons_lib.device import seed_everything
    from lessons_lib.training import Trainer

    train, test = mnist("sample", n_train=512)
    seed_everything(0)
    net = LeNet()
    loader = DeviceLoader(train.images, train.labels, 64, shuffle=False, drop_last=True, scale=1 / 256)
    trainer = Trainer(net, torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9), device="cpu",
                      live_plot=False, verbose=False)
    trainer.fit(loader, epochs=2)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(ddp["state_dict"][k], v, rtol=1e-4, atol=1e-5, msg=f"parameter {k}")
    # the epoch statistics were summed over both ranks: the same loss as one process
    for row_ddp, row_one in zip(ddp["history"], trainer.history):
        assert row_ddp["train_loss"] == pytest.approx(row_one["train_loss"], rel=1e-5)
        assert row_ddp["train_accuracy"] == pytest.approx(row_one["train_accuracy"])


# -- faults: a stalled worker, a killed launcher ------------------------------------------------
def torchrun(*args):
    """torchrun with 2 CPU processes training LeNet on the sample for a long time, rank 0 printing;
    its output lines arrive in ``proc.lines`` (a queue; None at the end)."""
    import queue
    import threading

    env = {**os.environ, "OMP_NUM_THREADS": "1", "LESSONS_PROFILE": "smoke", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
           "lessons_lib.distributed", "--source", "sample", "--n-train", "512", "--epochs", "500", *args]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    proc.lines = queue.Queue()
    threading.Thread(target=lambda: [proc.lines.put(line) for line in proc.stdout] + [proc.lines.put(None)],
                     daemon=True).start()
    return proc


def wait_for_line(proc, text: str, seconds: float) -> float:
    """Seconds until a line containing ``text`` arrives; fails after ``seconds``."""
    import queue

    start, seen = time.monotonic(), []
    while time.monotonic() - start < seconds:
        try:
            line = proc.lines.get(timeout=max(0.01, seconds - (time.monotonic() - start)))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if text in line:
            return time.monotonic() - start
    raise AssertionError(f"no line with {text!r} within {seconds} s; the last lines:\n" + "".join(seen[-20:]))


def workers(agent: int) -> dict:
    """{rank: pid} of the processes torchrun's agent started (from /proc)."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1]) == agent:
                env = dict(v.split("=", 1) for v in open(f"/proc/{entry}/environ").read().split("\0") if "=" in v)
                found[int(env["RANK"])] = int(entry)
        except (OSError, KeyError, ValueError):
            pass
    return found


def alive(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the workers through /proc")
def test_a_stalled_worker_fails_the_others_in_bounded_time():
    """SIGSTOP one worker in the middle of training: rank 0 gives up after --timeout seconds with
    a message that says why, and torchrun ends the job (it was 12 minutes of silence)."""
    proc = torchrun("--timeout", "10")
    pids = {}
    try:
        wait_for_line(proc, "epoch   1/", 300)
        pids = workers(proc.pid)
        assert sorted(pids) == [0, 1]
        os.kill(pids[1], signal.SIGSTOP)
        stopped = time.monotonic()
        assert wait_for_line(proc, "rank 0: no answer from another process for 10 s", 10 + 20)
        assert proc.wait(timeout=10 + 60) != 0  # torchrun ends the job: SIGTERM, then SIGKILL after 30 s
        assert time.monotonic() - stopped < 10 + 60
    finally:
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="finds the workers through /proc")
def test_workers_exit_when_the_launcher_is_killed():
    proc = torchrun()
    pids = {}
    try:
        wait_for_line(proc, "epoch   1/", 300)
        pids = workers(proc.pid)
        assert sorted(pids) == [0, 1]
        proc.kill()  # kill -9 of torchrun's agent: nothing tells the workers
        proc.wait()
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [rank for rank, pid in pids.items() if alive(pid)], "orphaned workers still running"
    finally:
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
