import json
import subprocess
import sys

import pytest
import torch
from torch import nn

from lessons_lib.data import DeviceLoader
from lessons_lib.device import seed_everything
from lessons_lib.models import LeNet
from lessons_lib.optim import SGD, caffe_inv
from lessons_lib.train import History, NonFiniteLossError, Trainer


def make(sample, seed=0, checkpoint=None, model=None, **kw):
    train, test = sample
    seed_everything(seed)
    model = model or LeNet(conv_relu=True, dropout=0.3)  # dropout: the RNG must be restored too
    opt = SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, lr_lambda=caffe_inv())
    tl = DeviceLoader(train.images[:640], train.labels[:640], 64, drop_last=True, seed=seed, shift=1)
    vl = DeviceLoader(test.images[:200], test.labels[:200], 100, shuffle=False)
    trainer = Trainer(model, opt, device="cpu", checkpoint=checkpoint, progress=False, live_plot=False,
                      verbose=False, **kw)
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
    assert ckpt.is_file() and not (tmp_path / "run.pt.tmp").exists()
    # A fresh process would build everything anew with another seed; the checkpoint restores it all.
    resumed, tl, vl = make(sample, seed=99, checkpoint=ckpt)
    h = resumed.fit(tl, vl, epochs=3)
    assert h.column("epoch") == [1, 2, 3]
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_interrupt_keeps_last_checkpoint(sample, tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    trainer, tl, vl = make(sample, checkpoint=ckpt)

    def stop(t, row):
        if row["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.fit(tl, vl, epochs=5, on_epoch_end=stop)
    assert "resumes from it" in capsys.readouterr().out
    assert len(torch.load(ckpt, weights_only=False)["history"]) == 2


def test_nan_loss_names_epoch_and_step(sample):
    trainer, tl, vl = make(sample)
    calls = {"n": 0}

    def loss_fn(out, y):
        calls["n"] += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * float("nan") if calls["n"] == 12 + 3 else loss  # epoch 1: 10 steps + 2 test batches; then step 2

    trainer.loss_fn = loss_fn
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 2"):
        trainer.fit(tl, vl, epochs=3)


def test_unsupervised_training_with_a_custom_metric(sample):
    train, test = sample
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 784), nn.Unflatten(1, (1, 28, 28)))

    def sq_error(out, x):
        return ((out - x) ** 2).mean(dim=(1, 2, 3)).sum()

    trainer = Trainer(model, torch.optim.Adam(model.parameters(), 1e-3), nn.functional.mse_loss, metric=sq_error,
                      device="cpu", progress=False, live_plot=False, verbose=False)
    h = trainer.fit(DeviceLoader(train.images, None, 100), DeviceLoader(test.images, None, 500, shuffle=False), epochs=2)
    assert h[1]["test_sq_error"] < h[0]["test_sq_error"]
    assert h.last["test_sq_error"] == pytest.approx(h.last["test_loss"], rel=1e-5)


def test_torch_scheduler_per_epoch(sample):
    model = LeNet()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    trainer = Trainer(model, opt, scheduler=sched, scheduler_interval="epoch", device="cpu",
                      progress=False, live_plot=False, verbose=False)
    train, _ = sample
    h = trainer.fit(DeviceLoader(train.images[:128], train.labels[:128], 64), epochs=2)
    assert h.column("lr") == [0.05, 0.025]


def test_warm_up_for_graph_capture_leaves_no_trace(sample):
    """The CUDA-graph path runs warm-up steps before capture; on the CPU we check that they
    are undone exactly, so the captured run starts where the eager run would."""
    eager, tl, vl = make(sample, seed=5)
    ref = eager.fit(tl, vl, epochs=2)
    warmed, tl2, vl2 = make(sample, seed=5)
    x, y = next(iter(DeviceLoader(sample[0].images[:64], sample[0].labels[:64], 64, shuffle=False)))
    warmed._warm_up(x, y, steps=3)
    h = warmed.fit(tl2, vl2, epochs=2)
    assert [r["train_loss"] for r in h] == [r["train_loss"] for r in ref]
    for a, b in zip(eager.model.state_dict().values(), warmed.model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("flag", ["bf16", "channels_last", "cuda_graph"])
def test_gpu_options_need_cuda(flag):
    model = LeNet()
    with pytest.raises(ValueError, match=f"{flag}=True needs a CUDA device; got device 'cpu'"):
        Trainer(model, torch.optim.SGD(model.parameters(), 0.1), device="cpu", **{flag: True})


def test_bad_arguments_are_named():
    model = LeNet()
    opt = torch.optim.SGD(model.parameters(), 0.1)
    with pytest.raises(ValueError, match="model must be a torch.nn.Module; got str"):
        Trainer("lenet", opt)
    with pytest.raises(ValueError, match="optimizer must be a torch.optim.Optimizer; got list"):
        Trainer(model, [])
    with pytest.raises(ValueError, match="metric must be one of"):
        Trainer(model, opt, metric="f1", device="cpu")
    with pytest.raises(ValueError, match="epochs must be a non-negative int; got -1"):
        Trainer(model, opt, device="cpu", progress=False, live_plot=False).fit([], epochs=-1)


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


LIVE_PLOT_NOTEBOOK = r'''
import torch
from lessons_lib.data import DeviceLoader, load_sample
from lessons_lib.models import LeNet
from lessons_lib.train import Trainer
train, test = load_sample()
model = LeNet()
t = Trainer(model, torch.optim.SGD(model.parameters(), 0.01), device="cpu")
t.fit(DeviceLoader(train.images[:256], train.labels[:256], 64), DeviceLoader(test.images[:100], test.labels[:100], 100), epochs=3)
'''


def test_headless_notebook_keeps_exactly_one_figure(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from lessons_lib.execute import execute_notebook

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LIVE_PLOT_NOTEBOOK)])
    path = tmp_path / "live.ipynb"
    nbformat.write(nb, path)
    execute_notebook(path, profile="smoke", timeout=300)
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 1
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert text.count("epoch ") == 3 and "it/s" not in text  # one line per epoch, no progress bars
