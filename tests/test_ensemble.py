"""Several seeds as one stacked model: lessons_lib.ensemble, StackedLoader, the Trainer's
per-member columns, and ``reproduce --batch-seeds``."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lessons_lib import reproduce
from lessons_lib.data import DeviceLoader, StackedLoader
from lessons_lib.device import seed_everything
from lessons_lib.ensemble import Ensemble, member_histories
from lessons_lib.experiments.lenet import train_lenet, train_lenet_seeds
from lessons_lib.models import LeNet
from lessons_lib.optim import SGD
from lessons_lib.train import Trainer

QUIET = dict(progress=False, live_plot=False, verbose=False)


def lenets(seeds, **kw):
    out = []
    for s in seeds:
        seed_everything(s)
        out.append(LeNet(**kw))
    return out


def small(sample, n_train=320, n_test=200):
    train, test = sample
    return train.subset(n_train), test.subset(n_test)


def test_forward_and_gradients_equal_the_members_own():
    models = lenets([0, 1, 2], conv_relu=True)
    ens = Ensemble(models)
    x, y = torch.randn(3, 8, 1, 28, 28), torch.randint(0, 10, (3, 8))
    out = ens(x)
    assert out.shape == (3, 8, 10)
    sum(F.cross_entropy(out[i], y[i]) for i in range(3)).backward()
    for i, m in enumerate(models):
        own = m(x[i])
        torch.testing.assert_close(out[i], own, rtol=1e-5, atol=1e-6)
        F.cross_entropy(own, y[i]).backward()
        for name, p in m.named_parameters():
            torch.testing.assert_close(ens.stacked()[name].grad[i], p.grad, rtol=1e-5, atol=1e-6)


def test_members_are_independent_copies_with_the_trained_weights():
    ens = Ensemble(lenets([0, 1]))
    with torch.no_grad():
        ens.stacked()["classifier.4.bias"][1].fill_(7.0)
    members = ens.members()
    assert len(members) == 2 and all(isinstance(m, LeNet) for m in members)
    assert torch.all(members[1].classifier[4].bias == 7.0) and not torch.any(members[0].classifier[4].bias == 7.0)
    with torch.no_grad():
        members[0].classifier[4].bias.fill_(-1.0)
    assert not torch.any(ens.stacked()["classifier.4.bias"][0] == -1.0)  # a copy, not a view


def test_train_and_eval_modes_reach_the_members():
    ens = Ensemble(lenets([0, 1], dropout=0.5))
    x = torch.randn(2, 16, 1, 28, 28)
    ens.eval()
    torch.testing.assert_close(ens(x), ens(x))  # no dropout in eval mode
    ens.train()
    assert not torch.equal(ens(x), ens(x))  # dropout masks drawn anew
    a = ens(torch.stack([x[0], x[0]]))
    assert not torch.equal(a[0], a[1])  # ... and differently for each member


@pytest.mark.parametrize("models, message", [
    (LeNet(), "takes a list of models"),
    ([], "non-empty list"),
    ([LeNet(), "LeNet"], "member 1 is str"),
    ([LeNet(), LeNet(pool="avg"), LeNet(conv_relu=True)], None),  # same shapes: allowed
    ([LeNet(), LeNet(pool=None)], "share one architecture; member 1"),
    ([nn.BatchNorm1d(3), nn.BatchNorm1d(3)], "without buffers"),
])
def test_bad_members_are_named(models, message):
    if message is None:
        assert Ensemble(models).size == 3
        return
    with pytest.raises(ValueError, match=message):
        Ensemble(models)


def test_wrong_input_shape_names_the_expected_one():
    ens = Ensemble(lenets([0, 1]))
    with pytest.raises(ValueError, match=r"expects inputs of shape \(2, batch, \.\.\.\).*got \(8, 1, 28, 28\)"):
        ens(torch.randn(8, 1, 28, 28))


def test_stacked_loader_zips_each_members_batches(sample):
    train, _ = small(sample)
    a = DeviceLoader(train.images, train.labels, 64, drop_last=True, seed=0)
    b = DeviceLoader(train.images, train.labels, 64, drop_last=True, seed=1)
    stacked = StackedLoader([a, b])
    assert len(stacked) == 5 and stacked.drop_last and stacked.batch_size == 64
    state = stacked.state_dict()
    batches = list(stacked)
    singles = list(zip(DeviceLoader(train.images, train.labels, 64, drop_last=True, seed=0),
                       DeviceLoader(train.images, train.labels, 64, drop_last=True, seed=1)))
    for (x, y), ((x0, y0), (x1, y1)) in zip(batches, singles):
        assert x.shape == (2, 64, 1, 28, 28) and torch.equal(x[0], x0) and torch.equal(x[1], x1)
        assert torch.equal(y, torch.stack([y0, y1]))
    stacked.load_state_dict(state)  # resuming replays the same epoch
    assert all(torch.equal(x, x2) for (x, _), (x2, _) in zip(batches, stacked))
    with pytest.raises(ValueError, match="one length and batch size; got lengths \\[5, 2\\]"):
        StackedLoader([a, DeviceLoader(train.images, train.labels, 128, drop_last=True)])
    with pytest.raises(ValueError, match="non-empty"):
        StackedLoader([])


def test_each_member_ends_where_its_own_run_ends(sample):
    """Without dropout, member i of train_lenet_seeds is train_lenet(seed=i), up to rounding."""
    data = small(sample)
    ens = train_lenet_seeds("conv_relu", 2, [0, 1], "cpu", data, **QUIET)
    for i, seed in enumerate([0, 1]):
        own = train_lenet("conv_relu", 2, seed, "cpu", data, **QUIET)
        for p, q in zip(ens.model.members()[i].parameters(), own.model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
        for mine, theirs in zip(member_histories(ens.history, 2)[i], own.history):
            assert mine["epoch"] == theirs["epoch"] and mine["lr"] == pytest.approx(theirs["lr"])
            for k in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
                assert mine[k] == pytest.approx(theirs[k], rel=1e-4, abs=1e-4), k
    row = ens.history.last
    assert row["test_accuracy"] == pytest.approx(sum(row["test_accuracy_members"]) / 2)


def test_ensemble_training_resumes_from_its_checkpoint(sample, tmp_path):
    data = small(sample)

    def make(checkpoint=None):
        models = lenets([3, 4], conv_relu=True)
        ens = Ensemble(models)
        opt = SGD(ens.parameters(), lr=0.01, momentum=0.9)
        loader = StackedLoader([DeviceLoader(data[0].images, data[0].labels, 64, drop_last=True, seed=s)
                                for s in (3, 4)])
        return Trainer(ens, opt, device="cpu", checkpoint=checkpoint, **QUIET), loader

    straight, loader = make()
    straight.fit(loader, epochs=3)
    first, loader = make(tmp_path / "ens.pt")
    first.fit(loader, epochs=2)
    resumed, loader = make(tmp_path / "ens.pt")
    resumed.fit(loader, epochs=3)
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(p, q)
    flat = lambda h: [v for r in h for v in r["train_loss_members"]]  # noqa: E731
    assert flat(resumed.history) == pytest.approx(flat(straight.history))


def test_trainer_refuses_grad_clip_for_an_ensemble():
    ens = Ensemble(lenets([0, 1]))
    with pytest.raises(ValueError, match="grad_clip is not supported for an Ensemble"):
        Trainer(ens, SGD(ens.parameters(), lr=0.1), device="cpu", grad_clip=1.0, **QUIET)


def test_member_histories_splits_columns():
    rows = [{"epoch": 1, "time": 2.0, "loss": 0.5, "loss_members": [0.4, 0.6]}]
    assert member_histories(rows, 2) == [[{"epoch": 1, "time": 2.0, "loss": 0.4}],
                                         [{"epoch": 1, "time": 2.0, "loss": 0.6}]]
    with pytest.raises(ValueError, match="holds 2 values; expected 3"):
        member_histories(rows, 3)


def test_reproduce_batch_seeds_writes_one_run_per_seed(tmp_path):
    batched = reproduce.run("lenet_caffe", profile="smoke", seeds=2, out=tmp_path / "b", device="cpu",
                            verbose=False, batch_seeds=True)
    single = reproduce.run("lenet_caffe", profile="smoke", seeds=2, out=tmp_path / "s", device="cpu", verbose=False)
    assert batched["seeds_batched"] and not single["seeds_batched"]
    assert [r["seed"] for r in batched["runs"]] == [0, 1]
    assert all(r["batched_seeds"] == [0, 1] for r in batched["runs"])
    assert set(batched["runs"][0]["history"][0]) == set(single["runs"][0]["history"][0])
    for b, s in zip(batched["runs"], single["runs"]):  # the same runs, up to floating-point rounding
        assert b["metrics"]["test_accuracy"] == pytest.approx(s["metrics"]["test_accuracy"], abs=0.01)
