import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from torch import nn

from testsupport import ROOT, on_tmpfs, python

from lessons_lib.data import DeviceLoader
from lessons_lib.device import seed_everything
from lessons_lib.models import LeNet
from lessons_lib.training import (SGD, CheckpointMismatch, FastTrainer, History, NonFiniteLossError, Trainer,
                                  caffe_inv)


def make(sample, seed=0, checkpoint=None, model=None, **kw):
    train, test = sample
    seed_everything(seed)
    model = model or LeNet(conv_relu=True, dropout=0.3)  # dropout: the RNG must be restored too
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, lr_lambda=caffe_inv())
    tl = DeviceLoader(train.images[:640], train.labels[:640], 64, drop_last=True, seed=seed, shift=1)
    vl = DeviceLoader(test.images[:200], test.labels[:200], 100, shuffle=False)
    trainer = Trainer(model, opt, device="cpu", checkpoint=checkpoint, live_plot=False, verbose=False, **kw)
    return trainer, tl, vl


def test_history_has_every_column(sample):
    trainer, tl, vl = make(sample)
    h = trainer.fit(tl, vl, epochs=2)
    assert isinstance(h, History) and len(h) == 2
    assert set(h[0]) == {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "time", "lr"}
    assert h.column("epoch") == [1, 2]
    assert 0 <= h.last["test_accuracy"] <= 1
    assert h[1]["lr"] < 0.01  # the inv schedule decays
    with pytest.raises(ValueError, match="no column 'acc'"):
        h.column("acc")


def test_same_seed_same_history_on_cpu(sample):
    runs = []
    for _ in range(2):
        trainer, tl, vl = make(sample, seed=7)
        runs.append(trainer.fit(tl, vl, epochs=2))
    strip = lambda h: [{k: v for k, v in r.items() if k != "time"} for r in h]  # noqa: E731
    assert strip(runs[0]) == strip(runs[1])
    trainer, tl, vl = make(sample, seed=8)
    assert strip(trainer.fit(tl, vl, epochs=2)) != strip(runs[0])


def test_resume_reaches_the_same_weights(sample, tmp_path):
    ckpt = tmp_path / "run.pt"
    full, tl, vl = make(sample, seed=3)
    full.fit(tl, vl, epochs=3)
    first, tl, vl = make(sample, seed=3, checkpoint=ckpt)
    first.fit(tl, vl, epochs=2)  # "interrupted" after epoch 2
    assert ckpt.is_file() and [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left
    # A fresh process would build everything anew with another seed; the checkpoint restores it all.
    resumed, tl, vl = make(sample, seed=99, checkpoint=ckpt)
    h = resumed.fit(tl, vl, epochs=3)
    assert h.column("epoch") == [1, 2, 3]
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_interrupt_keeps_last_checkpoint(sample, tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    trainer, tl, vl = make(sample, checkpoint=ckpt)
    steps = {"n": 0}
    step = trainer.step

    def interrupted_step(x, y):  # Ctrl-C in the middle of epoch 3
        steps["n"] += 1
        if steps["n"] == 2 * len(tl) + 4:
            raise KeyboardInterrupt
        return step(x, y)

    trainer.step = interrupted_step
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(tl, vl, epochs=5)
    assert "holds the 2 epochs done" in capsys.readouterr().out
    assert len(torch.load(ckpt, weights_only=False)["history"]) == 2


# A training run in its own process, as a user runs one: LeNet with dropout and shifts (so every
# random number generator matters), the inv schedule, a checkpoint after every epoch.
TRAIN = """
import sys, torch
from lessons_lib.data import DeviceLoader, load_sample
from lessons_lib.device import seed_everything
from lessons_lib.models import LeNet
from lessons_lib.training import SGD, Trainer, caffe_inv
checkpoint, out, seed, epochs = sys.argv[1] or None, sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
train, _ = load_sample()
seed_everything(seed)
model = LeNet(conv_relu=True, dropout=0.3)
opt = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, lr_lambda=caffe_inv())
loader = DeviceLoader(train.images[:1280], train.labels[:1280], 64, drop_last=True, seed=seed, shift=1)
trainer = Trainer(model, opt, device="cpu", checkpoint=checkpoint, live_plot=False, verbose=False)
step = trainer.step
def step_and_say(x, y):
    result = step(x, y)
    print("step", flush=True)
    return result
trainer.step = step_and_say
if len(sys.argv) > 5:  # after the first epoch, files larger than this many bytes cannot be written
    import resource, signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    trainer.fit(loader, epochs=1)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[5]), int(sys.argv[5])))
trainer.fit(loader, epochs=epochs)
torch.save(model.state_dict(), out)
"""


def test_resume_after_kill_9_mid_epoch_is_bit_identical(tmp_path):
    """A real process killed with SIGKILL in the middle of epoch 2, resumed, killed again in the
    middle of epoch 3, resumed: the same weights, bit for bit, as a run never interrupted."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    uninterrupted = python(TRAIN, "", tmp_path / "reference.pt", 0, 3)
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    ckpt = tmp_path / "ck" / "run.pt"
    for kill_after, epochs_kept in ((27, 1), (30, 2)):  # 20 steps an epoch; the second run resumes at step 21
        proc = subprocess.Popen([sys.executable, "-c", TRAIN, str(ckpt), str(tmp_path / "x.pt"), "0", "3"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(kill_after):
            assert proc.stdout.readline() == "step\n", proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
        assert len(torch.load(ckpt, weights_only=False)["history"]) == epochs_kept
    resumed = python(TRAIN, ckpt, tmp_path / "resumed.pt", 99, 3)  # another seed: everything comes from the checkpoint
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("step") == 20  # only epoch 3 ran again
    reference, result = (torch.load(tmp_path / f, weights_only=True) for f in ("reference.pt", "resumed.pt"))
    for k in reference:
        assert torch.equal(reference[k], result[k]), k
    assert [p.name for p in ckpt.parent.iterdir()] == ["run.pt"]  # no temporary file left by the kills


def test_a_full_disk_during_a_checkpoint_stops_clearly_and_keeps_the_previous_one(tmp_path):
    """Files above 1 MB cannot be written after epoch 1 (RLIMIT_FSIZE: a full disk that even root
    meets): the error names the checkpoint and what it still holds; the next run resumes from it."""
    ckpt = tmp_path / "run.pt"
    out = python(TRAIN, ckpt, tmp_path / "x.pt", 0, 3, 1_000_000)
    assert out.returncode == 1
    assert (f"could not write {ckpt} (File too large); nothing was changed: its previous version, if any, is intact. "
            f"Training stopped after epoch 2; {ckpt} still holds 1 epoch: make room and call fit() again"
            in out.stderr), out.stderr[-2000:]
    assert len(torch.load(ckpt, weights_only=False)["history"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]
    again = python(TRAIN, ckpt, tmp_path / "x.pt", 0, 2)
    assert again.returncode == 0 and again.stdout.count("step") == 20


def test_a_real_full_file_system_during_a_checkpoint(tmp_path):
    """The same on a 5 MB tmpfs: room for one checkpoint of LeNet (3.5 MB with its momentum), not two."""
    mount = tmp_path / "disk"
    code = TRAIN.replace("checkpoint, out, seed, epochs = sys.argv[1] or None, sys.argv[2], int(sys.argv[3]), "
                         "int(sys.argv[4])", "checkpoint, out, seed, epochs = sys.argv[1], None, 0, 2")
    code = code.replace("torch.save(model.state_dict(), out)", "")
    code = code.replace("trainer.fit(loader, epochs=epochs)", (
        "import os\ntry:\n    trainer.fit(loader, epochs=epochs)\nexcept OSError as exc:\n    print(exc)\n"
        "print(len(torch.load(checkpoint, weights_only=False)['history']), sorted(os.listdir(os.path.dirname(checkpoint))))"))
    out = on_tmpfs(mount, code, mount / "run.pt", size_kb=5 * 1024)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"could not write {mount / 'run.pt'} (No space left on device)" in out.stdout
    assert f"Training stopped after epoch 2; {mount / 'run.pt'} still holds 1 epoch" in out.stdout
    assert out.stdout.splitlines()[-1] == "1 ['run.pt']"


def test_nan_in_the_first_epoch_names_no_checkpoint(sample, tmp_path):
    """A checkpoint file is asked for, but none was written yet: the message must not name one."""
    trainer, tl, vl = make(sample, checkpoint=tmp_path / "run.pt")
    trainer.loss_fn = lambda out, y: nn.functional.cross_entropy(out, y) * float("nan")
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit(tl, vl, epochs=2)
    assert "run.pt" not in str(err.value) and not (tmp_path / "run.pt").exists()


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(sample, tmp_path):
    trainer, tl, vl = make(sample, checkpoint=tmp_path / "run.pt")
    calls = {"n": 0}

    def loss_fn(out, y):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] == 12 + 3 else loss  # epoch 1: 10 steps + 2 test batches

    trainer.loss_fn = loss_fn
    with pytest.raises(NonFiniteLossError, match=f"epoch 2; training stopped. {tmp_path / 'run.pt'} holds"):
        trainer.fit(tl, vl, epochs=3)
    assert len(torch.load(tmp_path / "run.pt", weights_only=False)["history"]) == 1


def test_nan_loss_without_a_checkpoint_names_none(sample):
    trainer, tl, vl = make(sample)
    trainer.loss_fn = lambda out, y: nn.functional.cross_entropy(out, y) * float("nan")
    with pytest.raises(NonFiniteLossError) as err:
        trainer.fit(tl, vl, epochs=1)
    assert "holds" not in str(err.value)


def test_step_is_the_hand_written_loop(sample):
    """One epoch of the trainer equals the five lines written out by hand, bit for bit on the CPU."""
    train, _ = sample
    x, y = train.images[:256].float().div(255).unsqueeze(1), train.labels[:256]
    results = []
    for by_hand in (True, False):
        seed_everything(0)
        model = LeNet()
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        if by_hand:
            for i in range(0, 256, 64):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
                loss.backward()
                opt.step()
        else:
            Trainer(model, opt, device="cpu", verbose=False, live_plot=False).train_epoch(
                DeviceLoader(x, y, 64, shuffle=False))
        results.append(model.state_dict())
    for k in results[0]:
        assert torch.equal(results[0][k], results[1][k]), k


def test_checkpoint_of_another_run_is_refused(sample, tmp_path):
    ckpt = tmp_path / "run.pt"
    trainer, tl, vl = make(sample, checkpoint=ckpt, settings={"variant": "a"})
    trainer.fit(tl, vl, epochs=1)
    other, tl, vl = make(sample, checkpoint=ckpt, settings={"variant": "b"})
    with pytest.raises(CheckpointMismatch, match=r"settings: checkpoint \{'variant': \"'a'\"\}"):
        other.fit(tl, vl, epochs=2)
    model = LeNet(conv_relu=True, dropout=0.3)
    faster = Trainer(model, SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, lr_lambda=caffe_inv()),
                     device="cpu", checkpoint=ckpt, settings={"variant": "a"}, verbose=False, live_plot=False)
    with pytest.raises(CheckpointMismatch, match="hyperparameters"):
        faster.fit(tl, vl, epochs=2)


def test_checkpoint_of_a_run_on_other_data_is_refused(sample, tmp_path):
    ckpt = tmp_path / "run.pt"
    trainer, tl, vl = make(sample, checkpoint=ckpt)
    trainer.fit(tl, vl, epochs=1)
    train, _ = sample
    for other in (dict(x=train.images[:1280], y=train.labels[:1280]), dict(x=train.images[:640], y=train.labels[:640],
                                                                           shift=0)):
        again, _, vl = make(sample, checkpoint=ckpt)
        loader = DeviceLoader(batch_size=64, drop_last=True, seed=0, **{"shift": 1, **other})
        with pytest.raises(CheckpointMismatch, match="data: checkpoint .*'items': 640"):
            again.fit(loader, vl, epochs=2)
    again, tl, vl = make(sample, checkpoint=ckpt)
    assert len(again.fit(tl, vl, epochs=2)) == 2  # the same data: resumed


def test_checkpoint_with_more_epochs_than_asked_is_refused(sample, tmp_path):
    ckpt = tmp_path / "run.pt"
    trainer, tl, vl = make(sample, checkpoint=ckpt)
    trainer.fit(tl, vl, epochs=3)
    again, tl, vl = make(sample, checkpoint=ckpt)
    with pytest.raises(ValueError, match="holds 3 epochs, more than the 2 asked for"):
        again.fit(tl, vl, epochs=2)


@pytest.mark.parametrize("content, message", [(b"", "is empty"), (b"not a checkpoint", "cannot be read")])
def test_damaged_checkpoint_gets_a_clear_error(sample, tmp_path, content, message):
    ckpt = tmp_path / "run.pt"
    ckpt.write_bytes(content)
    trainer, tl, vl = make(sample, checkpoint=ckpt)
    with pytest.raises(ValueError, match=f"checkpoint {ckpt} {message}"):
        trainer.fit(tl, vl, epochs=1)


def test_unsupervised_training_with_a_custom_metric(sample):
    train, test = sample
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 784), nn.Unflatten(1, (1, 28, 28)))

    def sq_error(out, x):
        return ((out - x) ** 2).mean(dim=(1, 2, 3)).sum()

    trainer = Trainer(model, torch.optim.Adam(model.parameters(), 1e-3), nn.functional.mse_loss, metric=sq_error,
                      device="cpu", live_plot=False, verbose=False)
    h = trainer.fit(DeviceLoader(train.images, None, 100), DeviceLoader(test.images, None, 500, shuffle=False), epochs=2)
    assert h[1]["test_sq_error"] < h[0]["test_sq_error"]
    assert h.last["test_sq_error"] == pytest.approx(h.last["test_loss"], rel=1e-5)


def test_torch_scheduler_steps_every_batch_and_resumes(sample, tmp_path):
    train, _ = sample
    loader = DeviceLoader(train.images[:128], train.labels[:128], 64)
    model = LeNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    trainer = Trainer(model, opt, scheduler=sched, device="cpu", live_plot=False, verbose=False,
                      checkpoint=tmp_path / "run.pt")
    assert trainer.fit(loader, epochs=1).column("lr") == [0.025]  # two steps of the schedule
    model = LeNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    resumed = Trainer(model, opt, scheduler=sched, device="cpu", live_plot=False, verbose=False,
                      checkpoint=tmp_path / "run.pt")
    assert resumed.fit(loader, epochs=2).column("lr") == [0.025, 0.00625]


def test_graph_warm_up_is_undone():
    """FastTrainer's capture runs warm-up steps first; the state it restores afterwards is the
    state before them. On the CPU we check the restoring half (the capture itself needs CUDA)."""
    from lessons_lib.training.fast import _state_tensors

    model = nn.Linear(4, 2)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    before = [t.clone() for t in _state_tensors(opt)]
    assert len(before) == 3  # the step counter and two momentum buffers
    assert float(before[0]) == 1.0


@pytest.mark.parametrize("flag", ["bf16", "channels_last", "cuda_graph"])
def test_gpu_options_need_cuda(flag):
    model = LeNet()
    with pytest.raises(ValueError, match=f"{flag}=True needs a CUDA device; got device 'cpu'"):
        FastTrainer(model, torch.optim.SGD(model.parameters(), 0.1), device="cpu", **{flag: True})


def test_bad_arguments_are_named():
    model = LeNet()
    opt = torch.optim.SGD(model.parameters(), 0.1)
    with pytest.raises(ValueError, match="model must be a torch.nn.Module; got str"):
        Trainer("lenet", opt)
    with pytest.raises(ValueError, match="optimizer must be a torch.optim.Optimizer; got list"):
        Trainer(model, [])
    with pytest.raises(ValueError, match="metric must be 'accuracy', a function or None; got 'f1'"):
        Trainer(model, opt, metric="f1", device="cpu")
    for clip in (-1, 0):
        with pytest.raises(ValueError, match=f"grad_clip must be a positive number or None; got {clip}"):
            Trainer(model, opt, device="cpu", grad_clip=clip)
    for epochs in (-1, 2.5, True):
        with pytest.raises(ValueError, match=f"epochs must be a non-negative int; got {epochs}"):
            Trainer(model, opt, device="cpu", live_plot=False).fit([], epochs=epochs)


def test_empty_loader_is_an_error_not_a_zero_loss():
    model = LeNet()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), 0.1), device="cpu", verbose=False, live_plot=False)
    with pytest.raises(ValueError, match="yielded no batches"):
        trainer.fit([], epochs=1)


def test_accuracy_on_a_regression_is_refused():
    model = nn.Linear(3, 1)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), 0.1), nn.functional.mse_loss, device="cpu",
                      verbose=False, live_plot=False)
    loader = DeviceLoader(torch.randn(8, 3), torch.randn(8, 1), 4)
    with pytest.raises(ValueError, match="pass metric=None for a regression"):
        trainer.fit(loader, epochs=1)


def test_augmenting_test_loader_is_refused(sample):
    """By evaluate(), and by fit() before the first epoch (not an hour later)."""
    trainer, tl, _ = make(sample)
    test = sample[1]
    steps = []
    trainer.step = lambda x, y: steps.append(1)
    for aug in (dict(shift=2), dict(noise_std=0.1)):
        augmented = DeviceLoader(test.images[:100], test.labels[:100], 100, shuffle=False, **aug)
        with pytest.raises(ValueError, match="augments its inputs"):
            trainer.evaluate(augmented)
        with pytest.raises(ValueError, match="augments its inputs"):
            trainer.fit(tl, augmented, epochs=1)
    assert steps == []


def test_model_rejects_wrong_input_size():
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 1, 28, 28\); got \(2, 3, 32, 32\)"):
        LeNet()(torch.zeros(2, 3, 32, 32))


def test_optim_sgd_matches_torch_sgd_with_lambda_lr():
    torch.manual_seed(0)
    a, b = nn.Linear(6, 3), nn.Linear(6, 3)
    b.load_state_dict(a.state_dict())
    oa = torch.optim.SGD(a.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    sa = torch.optim.lr_scheduler.LambdaLR(oa, lambda it: (1 + 0.01 * it) ** -0.75)
    ob = SGD(b.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4, lr_lambda=caffe_inv(0.01, 0.75))
    for _ in range(50):
        x = torch.randn(8, 6)
        for m, o in ((a, oa), (b, ob)):
            o.zero_grad()
            m(x).pow(2).sum().backward()
            o.step()
        sa.step()
    assert torch.allclose(a.weight, b.weight, rtol=1e-5, atol=1e-6)
    assert ob.current_lr().item() == pytest.approx(oa.param_groups[0]["lr"])


@pytest.mark.parametrize("kwargs, message", [(dict(lr=0), "lr must be positive"),
                                             (dict(lr=0.1, momentum=1.0), "momentum must be in"),
                                             (dict(lr=0.1, weight_decay=-1), "weight_decay must be")])
def test_optim_sgd_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SGD(nn.Linear(2, 2).parameters(), **kwargs)
