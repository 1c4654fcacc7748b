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

``empirical_receptive_field`` checks this by measurement: the input pixels with a non-zero
gradient for one output unit.
"""
from __future__ import annotations

import copy
import html
from dataclasses import dataclass, field

import torch
from torch import nn

SPATIAL = (nn.Conv1d, nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)
FLATTENING = (nn.Flatten, nn.Linear)


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
    rf: tuple | None = None      # receptive field (rows, cols) in input pixels; None = whole input
    jump: tuple | None = None    # effective stride (rows, cols); None once flattened
    start: tuple | None = None   # input coordinate of the centre of unit (0, 0)
    params: int = 0
    macs: int = 0
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
            rf = "whole input" if L.rf is None else _fmt_pair(L.rf)
            yield (str(i), L.name, L.type, fmt_shape(L.input_shape), fmt_shape(L.output_shape),
                   _fmt_pair(L.kernel), _fmt_pair(L.stride), _fmt_pair(L.padding), rf,
                   _fmt_pair(L.jump), f"{L.params:,}", f"{L.macs:,}")

    @property
    def total_params(self) -> int:
        return sum(L.params for L in self)

    @property
    def total_macs(self) -> int:
        return sum(L.macs for L in self)

    def footer(self) -> str:
        return f"total: {self.total_params:,} parameters, {self.total_macs:,} multiply-adds per image"

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


def _geometry(m: nn.Module):
    """Kernel, stride, padding, dilation of a spatial layer as (rows, cols) pairs."""
    if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        dil = _pair(getattr(m, "dilation", 1))
        return _pair(m.kernel_size), _pair(m.stride), _pair(m.padding), dil
    return None


def _placeholder(module: nn.Module) -> bool:
    """Layers that compute nothing: ``nn.Identity`` and dropout with ``p=0`` (switched-off options)."""
    return isinstance(module, nn.Identity) or (isinstance(module, nn.Dropout) and module.p == 0)


def layer_table(model: nn.Module, input_size, device=None) -> LayerTable:
    """Run one input of ``input_size`` (C, H, W) through ``model`` and tabulate every leaf layer.

    Layers that compute nothing (``nn.Identity``, dropout with ``p=0``) are left out.
    """
    input_size = _check_input_size(input_size)
    records = []

    def hook(module, inputs, output):
        records.append((module, tuple(inputs[0].shape[1:]), tuple(output.shape[1:])))

    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    names = {id(m): n for n, m in leaves}
    handles = [m.register_forward_hook(hook) for _, m in leaves]
    was_training = model.training
    try:
        device = device or next((p.device for p in model.parameters()), torch.device("cpu"))
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=device))
    except RuntimeError as exc:
        raise ValueError(f"model does not accept an input of size {input_size} (C, H, W): {exc}") from exc
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    table = LayerTable()
    rf, jump, start = (1, 1), (1, 1), (0.0, 0.0)
    flattened = len(input_size) != 3
    for module, in_shape, out_shape in records:
        if _placeholder(module):
            continue
        info = LayerInfo(names[id(module)], type(module).__name__, in_shape, out_shape)
        info.params = sum(p.numel() for p in module.parameters(recurse=False))
        geo = _geometry(module)
        if isinstance(module, nn.AdaptiveAvgPool2d) and len(in_shape) == 3 and in_shape[1:] != out_shape[1:]:
            k = (in_shape[1] // out_shape[1], in_shape[2] // out_shape[2])
            geo = (k, k, (0, 0), (1, 1))  # exact when the input size is a multiple of the output size
        if geo is not None and not flattened:
            k, s, p, d = geo
            k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d))
            start = tuple(c + ((ke - 1) / 2 - pi) * j for c, ke, pi, j in zip(start, k_eff, p, jump))
            rf = tuple(r + (ke - 1) * j for r, ke, j in zip(rf, k_eff, jump))
            jump = tuple(j * si for j, si in zip(jump, s))
            info.kernel, info.stride, info.padding = k, s, p
        if isinstance(module, FLATTENING):
            flattened = True
        if not flattened:
            info.rf, info.jump, info.start = rf, jump, start
        if isinstance(module, nn.Conv2d):
            out_numel = out_shape[0] * out_shape[1] * out_shape[2]
            info.macs = out_numel * (module.in_channels // module.groups) * module.kernel_size[0] * module.kernel_size[1]
            if module.groups > 1:
                info.extra["groups"] = module.groups
        elif isinstance(module, nn.Linear):
            info.macs = module.in_features * module.out_features
        table.append(info)
    return table


def receptive_fields(model: nn.Module, input_size) -> dict:
    """``{layer name: (receptive field, jump)}`` for every layer before flattening."""
    return {L.name: (L.rf, L.jump) for L in layer_table(model, input_size) if L.rf is not None}


def _probe_copy(model: nn.Module) -> nn.Module:
    """A float64 copy in which every path carries gradient: positive weights, zero biases,
    max pooling replaced by average pooling of the same geometry (max pooling passes gradient
    to one input of each window only, which would hide the rest of the field)."""
    probe = copy.deepcopy(model).double().eval()
    for name, m in list(probe.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(m, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
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
    box = []
    for axis in (0, 1):
        centre = info.start[axis] + unit[axis] * info.jump[axis]
        half = (info.rf[axis] - 1) / 2
        box.append((max(0, int(round(centre - half))), min(input_hw[axis] - 1, int(round(centre + half)))))
    return box[0][0], box[1][0], box[0][1], box[1][1]
