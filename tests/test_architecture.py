import pytest
import torch
from torch import nn

from lessons_lib.analysis.architecture import (empirical_receptive_field, fmt_shape, layer_table, receptive_fields,
                                                theoretical_box)
from lessons_lib.models import LeNet


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


def random_stack(g, dilation=True):
    """A random chain of convolutions and poolings with padding, stride and (optionally) dilation."""
    layers, c = [], 1
    for _ in range(int(torch.randint(2, 6, (1,), generator=g))):
        kind = torch.randint(0, 3, (1,), generator=g).item()
        k = int(torch.randint(1, 6, (1,), generator=g))
        s = int(torch.randint(1, 3, (1,), generator=g))
        if kind == 0:
            out = int(torch.randint(1, 4, (1,), generator=g))
            d = int(torch.randint(1, 3, (1,), generator=g)) if dilation else 1
            s = min(s, k)  # a stride larger than the kernel would leave holes in the field
            layers += [nn.Conv2d(c, out, k, stride=s, padding=int(torch.randint(0, k // 2 + 1, (1,), generator=g)), dilation=d), nn.ReLU()]
            c = out
        elif kind == 1:
            layers.append(nn.MaxPool2d(max(k, 2), stride=s, padding=int(torch.randint(0, max(k, 2) // 2 + 1, (1,), generator=g))))
        else:
            layers.append(nn.AvgPool2d(k, stride=min(s, k)))
    return nn.Sequential(*layers)


@pytest.mark.parametrize("seed", range(8))
def test_receptive_field_formula_matches_gradient_measurement(seed):
    """Exact boxes for corner and centre units (padding clips them); dilated kernels, which
    leave holes at the border, in half of the stacks, checked by the interior size."""
    g = torch.Generator().manual_seed(seed)
    dilated = seed % 2 == 1
    model = random_stack(g, dilation=dilated)
    size = 96
    table = layer_table(model, (1, size, size))
    for info in table:
        if info.type not in ("Conv2d", "MaxPool2d", "AvgPool2d"):
            continue
        h, w = info.output_shape[1:]
        for unit in [(h // 2, w // 2)] + ([] if dilated else [(0, 0), (h - 1, w - 1)]):
            rows, cols, box = empirical_receptive_field(model, (1, size, size), info.name, unit)
            assert box == theoretical_box(info, unit, (size, size)), (info, unit)
        if (h, w) != (1, 1):
            # an interior unit sees its whole field: the formula's size exactly
            rows, cols, _ = empirical_receptive_field(model, (1, size, size), info.name)
            if rows < size and cols < size and info.rf[0] < size // 2:
                assert (rows, cols) == info.rf


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
