"""The LeNet chapter's code: the model and its variants, the locally connected layer, the
visual helpers, and the registered experiments end to end at the smoke profile."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from lessons_lib import reproduce  # noqa: E402
from lessons_lib.analysis import architecture as inspect  # noqa: E402
from lessons_lib.analysis import plots as visualize  # noqa: E402
from lessons_lib.analysis import predictions  # noqa: E402
from lessons_lib.data import DeviceLoader, Split  # noqa: E402
from lessons_lib.experiments import lenet as exp  # noqa: E402
from lessons_lib.models.layers import LocallyConnected2d  # noqa: E402
from lessons_lib.models.lenet import LeNet, lenet_dense, lenet_locally_connected, mlp  # noqa: E402


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_lenet_matches_caffe_table():
    t = inspect.layer_table(LeNet(), (1, 28, 28))
    convs_pools = [L for L in t if L.type in ("Conv2d", "MaxPool2d")]
    assert [inspect.fmt_shape(L.input_shape) for L in convs_pools] == [
        "28 x 28 x 1", "24 x 24 x 20", "12 x 12 x 20", "8 x 8 x 50"]
    assert [L.rf for L in convs_pools] == [(5, 5), (6, 6), (14, 14), (16, 16)]
    assert [L.jump for L in convs_pools] == [(1, 1), (2, 2), (2, 2), (4, 4)]
    assert t.total_params == 431_080  # Han et al. 2016: Caffe LeNet-5 has 431K parameters


@pytest.mark.parametrize("layer", ["features.conv1", "features.pool1", "features.conv2", "features.pool2"])
def test_receptive_fields_measured(layer):
    model = LeNet()
    info = inspect.layer_table(model, (1, 28, 28)).find(layer)
    rows, cols, box = inspect.empirical_receptive_field(model, (1, 28, 28), layer)
    assert (rows, cols) == info.rf
    h, w = info.output_shape[1:]
    assert box == inspect.theoretical_box(info, (h // 2, w // 2), (28, 28))


def test_lenet_pool_options_and_bad_input():
    x = torch.zeros(2, 1, 28, 28)
    assert LeNet(pool="avg")(x).shape == (2, 10)
    nopool = LeNet(pool=None)
    assert nopool(x).shape == (2, 10)
    assert nopool.classifier.ip1.in_features == 20 * 20 * 50
    with pytest.raises(ValueError, match="pool"):
        LeNet(pool="min")
    with pytest.raises(ValueError, match="dropout"):
        LeNet(dropout=1.0)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        LeNet()(torch.zeros(1, 3, 32, 32))


def test_locally_connected_equals_conv_when_weights_are_tied():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, kernel_size=(3, 2), stride=(1, 2))
    lc = LocallyConnected2d.from_conv(conv, input_size=(7, 8))
    x = torch.randn(2, 3, 7, 8)
    torch.testing.assert_close(lc(x), conv(x))
    assert lc.output_size == conv(x).shape[2:]
    # untied: one filter bank per position
    assert lc.weight.numel() == conv.weight.numel() * lc.output_size[0] * lc.output_size[1]


def test_locally_connected_positions_are_independent():
    lc = LocallyConnected2d(1, 1, 2, input_size=(3, 3), bias=False)
    with torch.no_grad():
        lc.weight.zero_()
        lc.weight[3] = 1.0  # only the output position (1, 1) has non-zero weights
    out = lc(torch.ones(1, 1, 3, 3))
    assert out[0, 0].tolist() == [[0.0, 0.0], [0.0, 4.0]]


def test_locally_connected_bad_input():
    with pytest.raises(ValueError, match="kernel_size"):
        LocallyConnected2d(1, 2, 0, input_size=(5, 5))
    with pytest.raises(ValueError, match="smaller than kernel_size"):
        LocallyConnected2d(1, 2, 5, input_size=(3, 3))
    with pytest.raises(ValueError, match="in_channels"):
        LocallyConnected2d(0, 2, 3, input_size=(5, 5))
    with pytest.raises(ValueError, match="expects input"):
        LocallyConnected2d(1, 2, 3, input_size=(5, 5))(torch.zeros(1, 1, 6, 6))
    with pytest.raises(ValueError, match="conv"):
        LocallyConnected2d.from_conv(nn.Conv2d(1, 1, 3, padding=1), (5, 5))


def test_weight_sharing_models():
    x = torch.zeros(2, 1, 28, 28)
    lc, dense, small = lenet_locally_connected(), lenet_dense(), mlp()
    for m in (lc, dense, small):
        assert m(x).shape == (2, 10)
    conv1, conv2 = 20 * 25 + 20, 50 * 20 * 25 + 50
    assert n_params(lc) == 431_080 - conv1 - conv2 + 24 * 24 * (20 * 25 + 20) + 8 * 8 * (50 * 500 + 50)
    assert n_params(dense) == 431_080 - conv1 - conv2 + 784 * 11_520 + 11_520 + 2_880 * 3_200 + 3_200
    assert n_params(small) == 784 * 500 + 500 + 5010
    with pytest.raises(ValueError, match="hidden"):
        mlp(0)


def test_feature_maps_predict_and_errors():
    torch.manual_seed(0)
    model = LeNet()
    x = torch.rand(3, 1, 28, 28)
    maps = predictions.feature_maps(model, x, ["features.conv1", "features.pool2"])
    assert maps["features.conv1"].shape == (3, 20, 24, 24) and maps["features.pool2"].shape == (3, 50, 4, 4)
    with pytest.raises(ValueError, match="unknown"):
        predictions.feature_maps(model, x, ["nope"])
    loader = DeviceLoader(torch.randint(0, 255, (10, 28, 28), dtype=torch.uint8), torch.arange(10), 4, shuffle=False)
    probs, targets = predictions.predict(model, loader)
    assert probs.shape == (10, 10) and torch.allclose(probs.sum(1), torch.ones(10))
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
    idx, pred, conf = predictions.confident_errors(probs, torch.tensor([0, 0, 0, 1]), k=5)
    assert idx.tolist() == [1, 3, 2] and pred.tolist() == [1, 0, 1]
    assert conf.tolist() == pytest.approx([0.8, 0.7, 0.6])
    with pytest.raises(ValueError, match="probs"):
        predictions.confident_errors(probs, torch.tensor([0, 1]))


def test_draw_receptive_fields():
    ax = visualize.draw_receptive_fields(LeNet(), torch.rand(28, 28), ["features.conv1", "features.conv2"],
                                         centres_of="features.pool1")
    assert len(ax.patches) == 2
    plt.close(ax.figure)
    ax = visualize.draw_receptive_fields(LeNet(), torch.rand(28, 28), ["features.conv1"], labels={"features.conv1": "layer 1"})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["layer 1 (Conv2d): 5 x 5, jump 1"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="labels must name layers that are drawn"):
        visualize.draw_receptive_fields(LeNet(), torch.rand(28, 28), ["features.conv1"], labels={"conv9": "x"})
    with pytest.raises(ValueError, match="image"):
        visualize.draw_receptive_fields(LeNet(), torch.rand(2, 28, 28), ["features.conv1"])
    with pytest.raises(ValueError, match="spatial"):
        visualize.draw_receptive_fields(LeNet(), torch.rand(28, 28), ["classifier.ip1"])


def test_variants_and_experiments_listed():
    names = set(reproduce.experiments())
    assert {f"lenet_{v}" for v in exp.VARIANTS} <= names
    with pytest.raises(ValueError, match="variant must be one of"):
        exp.train_lenet("nope")
    P = exp.SETTINGS("full")
    assert P.epochs == 75 and P.source == "full"


def test_layer_table_leaves_out_placeholder_layers():
    names = [L.name for L in inspect.layer_table(LeNet(), (1, 28, 28))]
    # Caffe's layers and names only: no Identity, no Dropout(p=0) anywhere in the model
    assert names == ["features.conv1", "features.pool1", "features.conv2", "features.pool2", "classifier.flatten",
                     "classifier.ip1", "classifier.relu1", "classifier.ip2"]
    assert not [m for m in LeNet().modules() if isinstance(m, (nn.Identity, nn.Dropout))]
    variant = [n for n, _ in LeNet(conv_relu=True, dropout=0.5).named_modules()]
    assert {"features.relu_conv1", "features.relu_conv2", "classifier.drop1"} <= set(variant)
    assert variant.index("classifier.drop1") == variant.index("classifier.ip2") - 1


def test_caffe_xavier_filler_and_bias_learning_rate():
    torch.manual_seed(0)
    model = exp.caffe_xavier_(LeNet())
    conv2 = model.features.conv2  # 20 input maps x 5 x 5 = fan-in 500
    bound = (3 / 500) ** 0.5
    assert conv2.weight.abs().max() <= bound and conv2.weight.abs().max() > 0.95 * bound
    assert float(conv2.weight.detach().var()) == pytest.approx(1 / 500, rel=0.05)  # Caffe's variance: 1 / fan_in
    assert all(float(m.bias.detach().abs().max()) == 0 for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    opt = exp.caffe_sgd(model, bias_lr_mult=2.0)
    lrs = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lrs[id(conv2.bias)] == 0.02 and lrs[id(conv2.weight)] == 0.01
    assert all(g["weight_decay"] == 5e-4 for g in opt.param_groups)  # decay_mult stays 1


@pytest.mark.parametrize("variant", list(exp.VARIANTS))
def test_experiment_end_to_end_smoke(variant, tmp_path):
    name = f"lenet_{variant}"
    record = reproduce.run(name, profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False,
                           checkpoints=tmp_path / "ck")
    assert (tmp_path / f"{name}.json").is_file()
    acc = record["summary"]["test_accuracy"]["mean"]
    assert 0.1 < acc <= 1.0
    assert record["runs"][0]["settings"]["variant"] == variant


def test_lenet_draws_the_same_weights_as_caffes_layer_order():
    """A seed gives the weights of conv1, conv2, ip1, ip2 created in that order, whatever the variant
    (so the recorded full-scale runs of earlier versions of this class are this class's runs)."""
    torch.manual_seed(3)
    ref = [nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5), nn.Linear(800, 500), nn.Linear(500, 10)]
    for kw in ({}, dict(conv_relu=True, dropout=0.5), dict(pool="avg")):
        torch.manual_seed(3)
        model = LeNet(**kw)
        mine = [model.features.conv1, model.features.conv2, model.classifier.ip1, model.classifier.ip2]
        for a, b in zip(ref, mine):
            assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_train_to_convergence_and_mlp_run():
    g = torch.Generator().manual_seed(0)
    train = Split(torch.randint(0, 256, (128, 28, 28), dtype=torch.uint8, generator=g), torch.arange(128) % 10)
    test = Split(train.images[:50], train.labels[:50])
    out = exp.train_to_convergence(mlp, (train, test), epochs=3, seed=1)
    assert [r["epoch"] for r in out["history"]] == [1, 2, 3]  # 2 epochs, a test, then the third
    assert 0 <= out["two_thirds"] <= 1 and 0 <= out["end"] <= 1
    again = exp.train_to_convergence(mlp, (train, test), epochs=3, seed=1)
    assert again["end"] == out["end"] and again["history"][-1]["train_loss"] == out["history"][-1]["train_loss"]
    with pytest.raises(ValueError, match="at least 3"):
        exp.train_to_convergence(mlp, (train, test), epochs=2)
    with pytest.raises(ValueError, match="make_model must be a function"):
        exp.train_to_convergence(mlp(), (train, test), epochs=3)
    trainer = exp.train_mlp(epochs=1, seed=0, data=(train, test), verbose=False, live_plot=False)
    assert len(trainer.history) == 1 and "test_accuracy" in trainer.history.last
    assert "lenet_mlp" in reproduce.experiments()


def test_settings_have_three_seeds_everywhere():
    for profile in ("smoke", "standard", "full"):
        P = exp.SETTINGS(profile)
        assert len(P.seeds) >= 3 and P.lenet_epochs >= 3 and P.mlp_epochs >= 3
