"""Layer tables and receptive fields, computed from a model and an input size.

``layer_table(model, (1, 28, 28))`` runs one forward pass with hooks on the leaf modules and
lists, per layer: output shape written H x W x C as in the lecture's tables, kernel / stride /
padding, receptive field and jump (the distance in input pixels between neighbouring units),
parameters and multiply-adds.

Receptive-field arithmetic for a chain of convolutions and poolings (square or not), with
``r`` the receptive field, ``j`` the jump and ``c`` the input coordinate of the centre of
unit 0, for a layer of kernel k, stride s, padding p and dilation d::

    k_eff = d (k - 1) + 1
    r_out = r_in + (k_eff - 1) j_in
    j_out = j_in s
    c_out = c_in + ((k_eff - 1) / 2 - p) j_in

A layer has this geometry when it says so the way ``nn.Conv2d`` and the poolings do, with
``kernel_size``, ``stride``, ``padding`` (``'same'`` and ``'valid'`` too; a negative padding crops)
and ``dilation`` attributes: the library's ``LocallyConnected2d`` and the AlexNet chapter's
``Subsample`` (a 1 x 1 window every 2 pixels, the border cropped) do. A layer that changes the
height or width in any other way (a transposed convolution, an upsampling, an adaptive pooling
of unequal windows) makes the receptive fields from there on ``"unknown"``, never a wrong
number. ``empirical_receptive_field`` checks the formula by measurement: the input pixels with a
non-zero gradient for one output unit.

Multiply-adds are counted for convolutions (and locally connected layers), linear layers (once
per position of their input) and recurrent layers (once per time step); a layer with parameters
that the table cannot count shows ``?`` and is left out of the total.
"""
from __future__ import annotations

import copy
import html
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

FLATTENING = (nn.Flatten, nn.Linear)
UNKNOWN = "unknown"  # the receptive field after a layer whose geometry the table cannot know


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


@dataclass
class LayerInfo:
    name: str
    type: str
    input_shape: tuple
    output_shape: tuple
    kernel: tuple | None = None
    stride: tuple | None = None
    padding: tuple | None = None
    rf: tuple | str | None = None  # receptive field (rows, cols) in input pixels; None = whole input; or UNKNOWN
    jump: tuple | None = None    # effective stride (rows, cols); None once flattened
    start: tuple | None = None   # input coordinate of the centre of unit (0, 0)
    params: int = 0
    macs: int | None = 0         # None: a layer with parameters whose multiply-adds the table cannot count
    extra: dict = field(default_factory=dict)

    @property
    def channels(self) -> int | None:
        return self.output_shape[0] if len(self.output_shape) == 3 else None


def fmt_shape(shape: tuple) -> str:
    """(C, H, W) -> 'H x W x C' as in the lecture's tables; (F,) -> 'F'."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h} x {w} x {c}"
    return " x ".join(str(s) for s in shape)


def _fmt_pair(p, suffix=""):
    if p is None:
        return ""
    p = tuple(int(v) if float(v).is_integer() else round(float(v), 2) for v in p)
    return f"{p[0]} x {p[1]}{suffix}" if p[0] != p[1] or suffix == "" else f"{p[0]} x {p[1]}{suffix}"


class LayerTable(list):
    """A list of :class:`LayerInfo` that renders as a table in notebooks and as text."""

    columns = ("layer", "name", "type", "input", "output", "kernel", "stride", "padding",
               "receptive field", "jump", "params", "mult-adds")

    def row_strings(self):
        for i, L in enumerate(self, 1):
            rf = "whole input" if L.rf is None else L.rf if L.rf == UNKNOWN else _fmt_pair(L.rf)
            yield (str(i), L.name, L.type, fmt_shape(L.input_shape), fmt_shape(L.output_shape),
                   _fmt_pair(L.kernel), _fmt_pair(L.stride), _fmt_pair(L.padding), rf,
                   _fmt_pair(L.jump), f"{L.params:,}", "?" if L.macs is None else f"{L.macs:,}")

    @property
    def total_params(self) -> int:
        """Every parameter counted once, also when a layer runs several times or shares its weights."""
        return sum(L.params for L in self)

    @property
    def total_macs(self) -> int:
        """The multiply-adds of the layers that the table can count (see ``footer``)."""
        return sum(L.macs for L in self if L.macs is not None)

    def footer(self) -> str:
        unknown = sum(L.macs is None for L in self)
        left_out = f" (not counting the {unknown} layer{'s' * (unknown > 1)} marked ?)" if unknown else ""
        return f"total: {self.total_params:,} parameters, {self.total_macs:,} multiply-adds per image{left_out}"

    def __str__(self) -> str:
        rows = [self.columns, *self.row_strings()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.columns))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines + [self.footer()])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in self.row_strings())
        return (f"<table class='layer-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p>{html.escape(self.footer())}</p>")

    def __repr__(self) -> str:
        return str(self)

    def find(self, name: str) -> LayerInfo:
        for L in self:
            if L.name == name:
                return L
        raise ValueError(f"no layer named {name!r}; layers are {[L.name for L in self]}")


def _check_input_size(input_size) -> tuple:
    if not isinstance(input_size, (tuple, list)) or not all(isinstance(v, int) and v > 0 for v in input_size):
        raise ValueError(f"input_size must be a tuple of positive ints such as (1, 28, 28) (C, H, W); got {input_size!r}")
    return tuple(input_size)


def _geometry(m: nn.Module, in_shape: tuple, out_shape: tuple):
    """Kernel, stride, padding (before the first row and column), dilation of a layer, as
    (rows, cols) pairs, or None when the layer does not declare them or its output size says
    otherwise (then its geometry is not the one declared)."""
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        if any(i % o for i, o in zip(in_shape[1:], out_shape[1:])):
            return None  # windows of unequal sizes: no single kernel and stride
        k = tuple(i // o for i, o in zip(in_shape[1:], out_shape[1:]))
        return k, k, (0, 0), (1, 1)
    if not hasattr(m, "kernel_size") or not hasattr(m, "stride") or isinstance(m, nn.modules.conv._ConvTransposeNd):
        return None
    k, s, d = _pair(m.kernel_size), _pair(m.stride), _pair(getattr(m, "dilation", 1))
    pad = getattr(m, "padding", 0)
    if isinstance(pad, str):  # 'valid', or 'same': d (k - 1) in all, the smaller half first
        before = tuple(0 if pad == "valid" else di * (ki - 1) // 2 for ki, di in zip(k, d))
        after = tuple(0 if pad == "valid" else di * (ki - 1) - b for ki, di, b in zip(k, d, before))
    else:
        before = after = _pair(pad)
    if not all(len(v) == 2 and all(isinstance(i, int) for i in v) for v in (k, s, d, before)):
        return None
    ceil = getattr(m, "ceil_mode", False)
    size = []
    for i, ki, si, di, b, a in zip(in_shape[1:], k, s, d, before, after):
        span = i + b + a - di * (ki - 1) - 1  # PyTorch's output size, ceil mode included
        o = (span + (si - 1 if ceil else 0)) // si + 1
        size.append(o - 1 if ceil and (o - 1) * si >= i + b else o)
    return (k, s, before, d) if tuple(size) == tuple(out_shape[1:]) else None


def _macs(m: nn.Module, x: torch.Tensor, in_shape: tuple, out_shape: tuple) -> int | None:
    """Multiply-adds of one call of ``m`` on one item (None: not countable here)."""
    weights = dict(m.named_parameters(recurse=False))
    recurrent = [p.numel() for n, p in weights.items() if n.startswith(("weight_ih", "weight_hh", "weight_hr"))]
    if recurrent:  # one matrix-vector product per matrix and time step
        steps = x.shape[1 if getattr(m, "batch_first", False) else 0] if isinstance(m, nn.RNNBase) else 1
        return sum(recurrent) * steps
    if isinstance(m, nn.Linear):  # once per position of its input (every time step, every pixel)
        return m.in_features * m.out_features * math.prod(out_shape[:-1])
    if isinstance(m, nn.modules.conv._ConvTransposeNd):  # every input value times a kernel per output channel
        return math.prod(in_shape) * (m.out_channels // m.groups) * math.prod(_pair(m.kernel_size))
    if hasattr(m, "in_channels") and hasattr(m, "kernel_size"):  # convolutions, locally connected layers
        k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size,)
        return math.prod(out_shape) * (m.in_channels // getattr(m, "groups", 1)) * math.prod(k)
    if weights and not type(m).__module__.startswith("torch.nn"):
        return None  # a custom layer with parameters: its cost is not known here
    return 0  # activations, poolings, normalisations, embeddings (look-ups): no multiply-adds counted


def _placeholder(module: nn.Module) -> bool:
    """Layers that compute nothing: ``nn.Identity`` and dropout with ``p=0`` (switched-off options)."""
    return isinstance(module, nn.Identity) or (isinstance(module, nn.Dropout) and module.p == 0)


def _first_tensor(value):
    """The tensor of a layer's input or output (recurrent layers return (output, state))."""
    while isinstance(value, (tuple, list)) and value:
        value = value[0]
    return value if isinstance(value, torch.Tensor) else None


def layer_table(model: nn.Module, input_size, device=None) -> LayerTable:
    """Run one input of ``input_size`` (C, H, W), or (T, F) for a sequence model, through ``model``
    and tabulate every call of every leaf layer.

    Layers that compute nothing (``nn.Identity``, dropout with ``p=0``) are left out. A layer
    that runs several times (a recurrent cell at each time step, a pooling used twice) has a row
    per call, its parameters counted at the first.
    """
    input_size = _check_input_size(input_size)
    records = []

    def hook(module, inputs, output):
        x, y = _first_tensor(inputs), _first_tensor(output)
        if x is not None and y is not None:
            records.append((module, x, tuple(x.shape[1:]), tuple(y.shape[1:])))

    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    names = {id(m): n for n, m in leaves}
    handles = [m.register_forward_hook(hook) for _, m in leaves]
    was_training = model.training
    try:
        device = device or next((p.device for p in model.parameters()), torch.device("cpu"))
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=device))
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"model does not accept an input of size {input_size} ((C, H, W) for an image model, "
                         f"(T, F) for a sequence model): {type(exc).__name__}: {exc}") from exc
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    table = LayerTable()
    rf, jump, start = (1, 1), (1, 1), (0.0, 0.0)
    flattened = len(input_size) != 3
    counted = set()  # parameters already counted (a layer called again, shared weights)
    for module, x, in_shape, out_shape in records:
        if _placeholder(module):
            continue
        info = LayerInfo(names[id(module)], type(module).__name__, in_shape, out_shape)
        info.params = sum(p.numel() for p in module.parameters(recurse=False) if id(p) not in counted)
        counted.update(id(p) for p in module.parameters(recurse=False))
        info.macs = _macs(module, x, in_shape, out_shape)
        if getattr(module, "groups", 1) > 1:
            info.extra["groups"] = module.groups
        spatial = len(in_shape) == 3 and len(out_shape) == 3
        geo = _geometry(module, in_shape, out_shape) if spatial else None
        if not flattened and rf != UNKNOWN:
            if geo is not None:
                k, s, p, d = geo
                k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
                start = tuple(c + ((ke - 1) / 2 - pi) * j for c, ke, pi, j in zip(start, k_eff, p, jump))
                rf = tuple(r + (ke - 1) * j for r, ke, j in zip(rf, k_eff, jump))
                jump = tuple(j * si for j, si in zip(jump, s))
                info.kernel, info.stride, info.padding = k, s, p
            elif spatial and in_shape[1:] != out_shape[1:]:
                rf = UNKNOWN  # the layer moves pixels in a way the formula does not cover
        if isinstance(module, FLATTENING) or (not flattened and len(out_shape) != 3):
            flattened = True
        if not flattened:
            info.rf, info.jump, info.start = (rf, None, None) if rf == UNKNOWN else (rf, jump, start)
        table.append(info)
    return table


def receptive_fields(model: nn.Module, input_size) -> dict:
    """``{layer name: (receptive field, jump)}`` for every layer before flattening."""
    return {L.name: (L.rf, L.jump) for L in layer_table(model, input_size) if isinstance(L.rf, tuple)}


class _WindowSum(nn.Module):
    """The windows of a max pooling (kernel, stride, padding, dilation, ceil mode), summed instead
    of maxed: every pixel of a window receives gradient."""

    def __init__(self, pool: nn.Module):
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.pool, nn.AdaptiveMaxPool2d):
            return F.adaptive_avg_pool2d(x, self.pool.output_size)
        k, s, p, d = (_pair(getattr(self.pool, a)) for a in ("kernel_size", "stride", "padding", "dilation"))
        n, c, h, w = x.shape
        out = self.pool(x.detach()).shape[-2:]  # the pooling's own output size (ceil mode included)
        # pad the bottom and right so that the last window exists (ceil mode lets it reach past the edge)
        extra = [max(0, (o - 1) * si + di * (ki - 1) + 1 - (size + 2 * pi))
                 for o, si, di, ki, size, pi in zip(out, s, d, k, (h, w), p)]
        padded = F.pad(x.reshape(n * c, 1, h, w), (p[1], p[1] + extra[1], p[0], p[0] + extra[0]))
        windows = F.unfold(padded, k, dilation=d, stride=s)  # (N*C, kh*kw, out_h*out_w)
        return windows.sum(1).reshape(n, c, *out)


def _probe_copy(model: nn.Module) -> nn.Module:
    """A float64 copy in which every path carries gradient: positive weights, zero biases,
    max pooling replaced by the sum over the same windows (max pooling passes gradient to one
    input of each window only, which would hide the rest of the field)."""
    probe = copy.deepcopy(model).double().eval()
    for name, m in list(probe.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
                setattr(m, child_name, _WindowSum(child))
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in probe.named_parameters():
            if n.endswith("bias"):
                p.zero_()
            else:
                p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) + 0.5)
    return probe


def empirical_receptive_field(model: nn.Module, input_size, layer: str, unit: tuple | None = None):
    """Measure the receptive field of one unit of ``layer``'s output.

    Returns ``(rows, cols, box)``: the height and width of the bounding box of input pixels
    whose gradient is non-zero for the unit at spatial position ``unit`` (the centre by
    default), and the box itself ``(top, left, bottom, right)`` inclusive.
    """
    input_size = _check_input_size(input_size)
    probe = _probe_copy(model)
    modules = dict(probe.named_modules())
    if layer not in modules:
        raise ValueError(f"layer must be one of the model's module names; got {layer!r}")
    captured = {}

    class _Stop(Exception):
        pass

    def hook(module, inputs, output):
        captured["out"] = output
        raise _Stop

    handle = modules[layer].register_forward_hook(hook)
    x = (torch.rand(1, *input_size, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 0.5).requires_grad_()
    try:
        probe(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    out = captured["out"]
    if out.ndim != 4:
        raise ValueError(f"layer {layer!r} has output shape {tuple(out.shape[1:])}; a spatial (C, H, W) output is needed")
    h, w = out.shape[-2:]
    i, j = unit if unit is not None else (h // 2, w // 2)
    out[0, :, i, j].sum().backward()
    nz = (x.grad[0].abs().sum(0) > 0).nonzero()
    top, left = nz.min(0).values.tolist()
    bottom, right = nz.max(0).values.tolist()
    return bottom - top + 1, right - left + 1, (top, left, bottom, right)


def theoretical_box(info: LayerInfo, unit: tuple, input_hw: tuple) -> tuple:
    """The input box ``(top, left, bottom, right)`` that the formula gives for ``unit`` of a
    layer, clipped to the image (pixels in the padding do not exist)."""
    if not isinstance(info.rf, tuple):
        raise ValueError(f"layer {info.name!r} has no receptive field the formula knows (rf {info.rf!r}); "
                         "measure it with empirical_receptive_field")
    box = []
    for axis in (0, 1):
        centre = info.start[axis] + unit[axis] * info.jump[axis]
        half = (info.rf[axis] - 1) / 2
        box.append((max(0, int(round(centre - half))), min(input_hw[axis] - 1, int(round(centre + half)))))
    return box[0][0], box[1][0], box[0][1], box[1][1]
