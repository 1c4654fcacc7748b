import pytest
import torch
from torch import nn

from lessons_lib.analysis.architecture import (UNKNOWN, empirical_receptive_field, fmt_shape, layer_table,
                                                receptive_fields, theoretical_box)
from lessons_lib.models import LeNet, MnistAlexNet, Subsample
from lessons_lib.models.layers import LocallyConnected2d
from lessons_lib.models.rnn import SequenceModel


def test_lenet_table_matches_hand_arithmetic():
    t = layer_table(LeNet(), (1, 28, 28))
    convs_pools = [L for L in t if L.type in ("Conv2d", "MaxPool2d")]
    assert [fmt_shape(L.input_shape) for L in convs_pools] == ["28 x 28 x 1", "24 x 24 x 20", "12 x 12 x 20", "8 x 8 x 50"]
    assert [L.rf for L in convs_pools] == [(5, 5), (6, 6), (14, 14), (16, 16)]
    assert [L.jump for L in convs_pools] == [(1, 1), (2, 2), (2, 2), (4, 4)]
    assert t.total_params == 431_080  # Han et al. 2016: "431K"
    assert t.find("features.conv1").macs == 24 * 24 * 20 * 25
    assert t.find("classifier.ip1").input_shape == (800,) and t.find("classifier.ip1").rf is None
    text = str(t)
    assert "24 x 24 x 20" in text and "431,080 parameters" in text
    assert "<table" in t._repr_html_()


def random_stack(g, dilation=True, size=96):
    """A random chain of convolutions (with padding, 'same' padding, stride and, optionally,
    dilation), poolings (max pooling dilated too), the library's LocallyConnected2d and the
    AlexNet chapter's Subsample."""
    def draw(low, high):
        return int(torch.randint(low, high, (1,), generator=g))

    layers, x = [], torch.zeros(1, 1, size, size)
    for _ in range(draw(2, 6)):
        c, h = x.shape[1], x.shape[-1]
        kind, k, s = draw(0, 6), draw(1, 6), draw(1, 3)
        d = draw(1, 3) if dilation else 1
        if kind == 0:
            s = min(s, k)  # a stride larger than the kernel would leave holes in the field
            layer = nn.Conv2d(c, draw(1, 4), k, stride=s, padding=draw(0, k // 2 + 1), dilation=d)
        elif kind == 1:
            layer = nn.Conv2d(c, draw(1, 4), k, padding="same", dilation=d)
        elif kind == 2:
            k = max(k, 2)
            layer = nn.MaxPool2d(k, stride=min(s, k), padding=draw(0, k // 2 + 1), dilation=d if k * d < h else 1)
        elif kind == 3:
            layer = nn.AvgPool2d(k, stride=min(s, k))
        elif kind == 4 and h > 8:
            layer = LocallyConnected2d(c, draw(1, 3), min(k, 3), (h, h), stride=min(s, k, 3))
        else:
            layer = Subsample()
        layers += [layer, nn.ReLU()]
        x = layer(x)
        if x.shape[-1] < 3:
            break
    return nn.Sequential(*layers)


@pytest.mark.parametrize("seed", range(8))
def test_receptive_field_formula_matches_gradient_measurement(seed):
    """Exact boxes for corner and centre units (padding clips them); dilated kernels, which
    leave holes at the border, in half of the stacks, checked by the interior size."""
    g = torch.Generator().manual_seed(seed)
    dilated = seed % 2 == 1
    size = 96
    model = random_stack(g, dilation=dilated, size=size)
    table = layer_table(model, (1, size, size))
    checked = 0
    for info in table:
        if info.type == "ReLU":
            continue
        assert isinstance(info.rf, tuple), info  # every layer of these stacks has a known geometry
        h, w = info.output_shape[1:]
        for unit in [(h // 2, w // 2)] + ([] if dilated else [(0, 0), (h - 1, w - 1)]):
            rows, cols, box = empirical_receptive_field(model, (1, size, size), info.name, unit)
            assert box == theoretical_box(info, unit, (size, size)), (info, unit)
            checked += 1
        if (h, w) != (1, 1):
            # an interior unit sees its whole field: the formula's size exactly
            rows, cols, _ = empirical_receptive_field(model, (1, size, size), info.name)
            if rows < size and cols < size and info.rf[0] < size // 2:
                assert (rows, cols) == info.rf
    assert checked


def test_library_layers_have_their_geometry_and_cost():
    """LocallyConnected2d is a convolution's window without sharing; Subsample keeps max pooling's
    subsampling: neither is an identity."""
    model = nn.Sequential(nn.Conv2d(1, 4, 5), LocallyConnected2d(4, 6, 5, (24, 24), stride=2), nn.ReLU(), nn.Conv2d(6, 2, 3))
    t = layer_table(model, (1, 28, 28))
    lc = t.find("1")
    assert (lc.kernel, lc.stride, lc.padding, lc.rf, lc.jump) == ((5, 5), (2, 2), (0, 0), (9, 9), (2, 2))
    assert lc.macs == 10 * 10 * 6 * 4 * 5 * 5 and lc.params == 100 * 6 * 100 + 6 * 100
    assert t.find("3").rf == (13, 13) == empirical_receptive_field(model, (1, 28, 28), "3")[:2]
    assert t.total_macs == sum(L.macs for L in t) and "?" not in str(t)

    net = MnistAlexNet(224, pool="none").features
    t = layer_table(net, (1, 224, 224))
    sub = t.find("2")
    assert (sub.type, sub.kernel, sub.stride, sub.padding, sub.jump) == ("Subsample", (1, 1), (2, 2), (-1, -1), (8, 8))
    for name, rf in (("3", 43), ("12", 139)):  # the issue measured 43 where the table said 27
        assert t.find(name).rf == (rf, rf) == empirical_receptive_field(net, (1, 224, 224), name)[:2]
    assert t.find("12").output_shape == layer_table(MnistAlexNet(224).features, (1, 224, 224)).find("12").output_shape


def test_measurement_through_a_dilated_max_pool():
    model = nn.Sequential(nn.MaxPool2d(3, stride=1, dilation=2))
    assert layer_table(model, (1, 15, 15)).find("0").rf == (5, 5)
    assert empirical_receptive_field(model, (1, 15, 15), "0")[:2] == (5, 5)  # was 3: the dilation was dropped
    for d in (1, 2):  # ceil mode: the last window reaches past the edge
        ceil = nn.Sequential(nn.MaxPool2d(3, stride=2, dilation=d, ceil_mode=True), nn.Conv2d(1, 1, 2))
        t = layer_table(ceil, (1, 16, 16))
        h, w = t.find("1").output_shape[1:]
        assert empirical_receptive_field(ceil, (1, 16, 16), "1", (1, 1))[:2] == t.find("1").rf
        if d == 1:  # (a dilated window's last pixel may fall outside: compare the boxes without dilation)
            for unit in ((0, 0), (h - 1, w - 1)):
                assert empirical_receptive_field(ceil, (1, 16, 16), "1", unit)[2] == \
                    theoretical_box(t.find("1"), unit, (16, 16))


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("k, d", [(3, 1), (4, 1), (4, 2), (5, 3)])
def test_same_and_valid_padding(k, d):
    model = nn.Sequential(nn.Conv2d(1, 2, k, padding="same", dilation=d), nn.Conv2d(2, 1, k, padding="valid"))
    t = layer_table(model, (1, 20, 20))
    same = t.find("0")
    assert same.output_shape == (2, 20, 20) and same.padding == ((d * (k - 1)) // 2,) * 2
    assert same.rf == (d * (k - 1) + 1,) * 2 and t.find("1").padding == (0, 0)
    for info in t:
        h, w = info.output_shape[1:]
        for unit in ((0, 0), (h // 2, w // 2), (h - 1, w - 1)):
            if d == 1:  # dilated kernels leave holes at the border: compared in the random stacks
                assert empirical_receptive_field(model, (1, 20, 20), info.name, unit)[2] == \
                    theoretical_box(info, unit, (20, 20)), (info, unit)


def test_recurrent_models():
    """Sequence models (T, F): rows per layer (per call for a from-scratch cell), parameters counted
    once, multiply-adds per time step; no receptive field (every step sees the whole past)."""
    lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True, bidirectional=True)
    t = layer_table(lstm, (10, 4))
    (row,) = t
    assert row.params == sum(p.numel() for p in lstm.parameters()) and row.rf is None
    per_step = sum(p.numel() for n, p in lstm.named_parameters() if n.startswith("weight"))
    assert row.macs == 10 * per_step and row.output_shape == (10, 16)
    fused = layer_table(SequenceModel("gru", 28, 16, 10), (28, 28))
    scratch_model = SequenceModel("gru", 28, 16, 10, scratch=True)
    scratch = layer_table(scratch_model, (28, 28))
    assert len(fused) == 2 and len(scratch) == 28 + 1  # the cell runs once per row of the image
    assert fused.total_params == scratch.total_params == sum(p.numel() for p in scratch_model.parameters())
    assert fused.total_macs == scratch.total_macs == 28 * 3 * 16 * (28 + 16) + 16 * 10
    assert "whole input" in str(fused) and "?" not in str(scratch)


def test_a_layer_the_table_cannot_follow_is_unknown_never_wrong():
    class Mystery(nn.Module):  # a custom layer with parameters and its own arithmetic
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.w

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ConvTranspose2d(2, 2, 2, stride=2), nn.Conv2d(2, 2, 3), Mystery(),
                          nn.Upsample(scale_factor=2), nn.Conv2d(2, 1, 3))
    t = layer_table(model, (1, 16, 16))
    assert [L.rf for L in t] == [(3, 3), UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN]
    assert t.find("1").macs == 14 * 14 * 2 * 2 * 2 * 2 and t.find("3").macs is None
    assert "unknown" in str(t) and "not counting the 1 layer marked ?" in str(t)
    assert list(receptive_fields(model, (1, 16, 16))) == ["0"]
    with pytest.raises(ValueError, match="no receptive field the formula knows"):
        theoretical_box(t.find("2"), (0, 0), (16, 16))
    adaptive = layer_table(nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(5)), (1, 15, 15))
    assert adaptive.find("1").rf == UNKNOWN  # 13 -> 5: windows of 3 and 4 pixels


def test_a_layer_used_twice_counts_its_parameters_once():
    conv, pool = nn.Conv2d(2, 2, 3, padding=1), nn.MaxPool2d(2)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.conv, self.pool = nn.Conv2d(1, 2, 3), conv, pool

        def forward(self, x):
            return self.pool(self.conv(self.pool(self.conv(self.stem(x)))))

    t = layer_table(Twice(), (1, 18, 18))
    assert [L.name for L in t] == ["stem", "conv", "pool", "conv", "pool"]
    assert t.total_params == 20 + 38 and [L.params for L in t] == [20, 38, 0, 0, 0]
    assert t.find("stem").rf == (3, 3) and t[-1].rf == (3 + 2 + 1 + 2 * 2 + 2, ) * 2


def test_receptive_fields_dict_and_errors():
    rf = receptive_fields(LeNet(), (1, 28, 28))
    assert rf["features.conv2"] == ((14, 14), (2, 2))
    with pytest.raises(ValueError, match="input_size must be a tuple of positive ints"):
        layer_table(LeNet(), (28, 28, 0))
    with pytest.raises(ValueError, match="does not accept an input of size"):
        layer_table(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 28, 28))
    with pytest.raises(ValueError, match="layer must be one of the model's module names"):
        empirical_receptive_field(LeNet(), (1, 28, 28), "conv9")
    with pytest.raises(ValueError, match="spatial"):
        empirical_receptive_field(LeNet(), (1, 28, 28), "classifier.ip1")


@pytest.mark.parametrize("name", ["lenet", "alexnet2012", "torchvision"])
def test_multiply_adds_agree_with_torch_flop_counter(name):
    """The layer table counts one multiply-add per weight use; PyTorch's FlopCounterMode counts two
    FLOPs per multiply-add of every convolution and matrix product."""
    from torch.utils.flop_counter import FlopCounterMode

    from lessons_lib.models import AlexNet2012, TorchvisionAlexNet

    model, size = {"lenet": (LeNet(), (1, 28, 28)), "alexnet2012": (AlexNet2012(), AlexNet2012.input_size),
                   "torchvision": (TorchvisionAlexNet(), TorchvisionAlexNet.input_size)}[name]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(1, *size))
    assert layer_table(model, size).total_macs == counter.get_total_flops() // 2
