"""Recurrent cells written from scratch, and the small models the RNN chapter trains.

Each cell computes one step, ``h_t = cell(x_t, h_{t-1})``, with parameters named and shaped as
in ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``; the gates stacked in PyTorch's order), so that weights copy across one to one and
the chapter can check outputs and gradients against the fused modules.
:class:`Recurrent` runs a cell along a sequence with a Python loop: that loop *is* the
unfolded network. :func:`unroll` builds the same network with one separate copy of the cell
per step, which is the lecture's question ("what is it equivalent to, unfolded?") made concrete.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

KINDS = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # blocks of hidden_size rows in weight_ih / weight_hh


class _Cell(nn.Module):
    """Parameters shared by the three cells, initialised like PyTorch's: U(-1/sqrt(H), 1/sqrt(H))."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name} must be a positive int; got {v!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        g, h = self.gates, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g * h, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g * h, h))
        self.bias_ih = nn.Parameter(torch.empty(g * h))
        self.bias_hh = nn.Parameter(torch.empty(g * h))
        bound = 1 / math.sqrt(h)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def init_state(self, batch: int, device=None, dtype=None):
        return torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)


class RNNCell(_Cell):
    """Elman's cell: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

    gates = 1

    def forward(self, x, h):
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih
                          + h @ self.weight_hh.T + self.bias_hh)


class LSTMCell(_Cell):
    """Hochreiter & Schmidhuber's cell with a forget gate; the state is the pair (h, c).

    i, f, o = sigmoid(...), g = tanh(...)   (input, forget, output gates; candidate)
    c_t = f * c_{t-1} + i * g               (the cell: an additive path through time)
    h_t = o * tanh(c_t)
    """

    gates = 4

    def init_state(self, batch, device=None, dtype=None):
        z = super().init_state(batch, device, dtype)
        return (z, z.clone())

    def forward(self, x, state):
        h, c = state
        i, f, g, o = self.gate_values(x, h)
        c = f * c + i * g            # keep a fraction f of the cell, add i of g
        return o * torch.tanh(c), c  # show a fraction o of it

    def gate_values(self, x, h):
        """Input and forget gates, candidate, output gate: one matrix product."""
        i, f, g, o = (x @ self.weight_ih.T + self.bias_ih
                      + h @ self.weight_hh.T + self.bias_hh).chunk(4, dim=-1)
        return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


class GRUCell(_Cell):
    """Cho et al.'s gated recurrent unit, in PyTorch's convention (reset after W_hn h).

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)         reset gate
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)         update gate
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      candidate
    h_t = z * h_{t-1} + (1 - z) * n
    """

    gates = 3

    def forward(self, x, h):
        r, z, n = self.gate_values(x, h)
        return z * h + (1 - z) * n   # keep a fraction z of h, take 1 - z of n

    def gate_values(self, x, h):
        """Reset and update gates, and the candidate (recurrent part scaled by r)."""
        xr, xz, xn = (x @ self.weight_ih.T + self.bias_ih).chunk(3, dim=-1)
        hr, hz, hn = (h @ self.weight_hh.T + self.bias_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        return r, z, torch.tanh(xn + r * hn)


CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    return kind


def _hidden(state):
    return state[0] if isinstance(state, tuple) else state


def _check_lengths(lengths, batch, steps):
    if lengths is None:
        return None
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or len(lengths) != batch:
        raise ValueError(f"lengths must hold one length per sequence of the batch ({batch}); "
                         f"got shape {tuple(lengths.shape)}")
    if lengths.min() < 1 or lengths.max() > steps:
        raise ValueError(f"lengths must lie in 1..{steps} (the padded length); got {lengths.tolist()}")
    return lengths


class Recurrent(nn.Module):
    """Run ``cell`` over a batch of sequences x (B, T, I), one step at a time.

    Returns ``(outputs, state)``: outputs (B, T, H) are the hidden states h_1..h_T, state is the
    final state (h, or (h, c) for the LSTM). With ``lengths``, sequence b stops at its own
    length: its state is frozen after step lengths[b] (and later outputs are zero), so padding
    never leaks into the final state. ``keep_states=True`` also keeps every step's state
    tensor in ``self.states`` (for measuring dL/dh_t).
    """

    def __init__(self, cell: _Cell):
        super().__init__()
        if not isinstance(cell, _Cell):
            raise ValueError(f"cell must be an RNNCell, LSTMCell or GRUCell; got {type(cell).__name__}")
        self.cell = cell
        self.states = []

    def forward(self, x, state=None, lengths=None, keep_states=False):
        if x.ndim != 3 or x.shape[-1] != self.cell.input_size:
            raise ValueError(f"x must be (batch, steps, {self.cell.input_size});"
                             f" got {tuple(x.shape)}")
        B, T, _ = x.shape
        lengths = _check_lengths(lengths, B, T)
        state = self.cell.init_state(B, x.device, x.dtype) if state is None else state
        outputs, self.states = [], []
        for t in range(T):
            new = self.cell(x[:, t], state)
            if lengths is not None:  # keep the old state where the sequence has ended
                alive = (t < lengths).to(x.device)[:, None]
                if isinstance(new, tuple):
                    new = tuple(torch.where(alive, n, s) for n, s in zip(new, state))
                else:
                    new = torch.where(alive, new, state)
                outputs.append(_hidden(new) * alive)
            else:
                outputs.append(_hidden(new))
            state = new
            if keep_states:
                _hidden(state).retain_grad()
                self.states.append(_hidden(state))
        return torch.stack(outputs, dim=1), state


class Unrolled(nn.Module):
    """The recurrent network unfolded over T steps: a T-layer feedforward net, one cell per layer.

    Built by :func:`unroll` with T copies of one cell, so every layer starts with the same
    weights; nothing ties them afterwards. Layer t reads x_t and the previous layer's output.
    """

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x, state=None):
        if x.shape[1] != len(self.layers):
            raise ValueError(f"x must have {len(self.layers)} steps (one per layer); got {x.shape[1]}")
        state = self.layers[0].init_state(x.shape[0], x.device, x.dtype) if state is None else state
        outputs = []
        for t, layer in enumerate(self.layers):
            state = layer(x[:, t], state)
            outputs.append(_hidden(state))
        return torch.stack(outputs, dim=1), state


def unroll(cell: _Cell, steps: int) -> Unrolled:
    """``steps`` independent copies of ``cell`` stacked as layers."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    return Unrolled([copy.deepcopy(cell) for _ in range(steps)])


def torch_module(kind: str, input_size: int, hidden_size: int) -> nn.Module:
    """The fused PyTorch module (one layer, batch_first) that matches ``CELLS[kind]``."""
    return {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[_check_kind(kind)](
        input_size, hidden_size, batch_first=True)


@torch.no_grad()
def copy_weights(src: nn.Module, dst: nn.Module) -> nn.Module:
    """Copy the weights of a cell into a fused one-layer module or back; return ``dst``.

    The fused modules name them ``weight_ih_l0`` etc.; the cells ``weight_ih`` etc.
    """
    def params(m):
        cell = m.cell if isinstance(m, Recurrent) else m
        if isinstance(cell, _Cell):
            return {k: getattr(cell, k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        if isinstance(m, nn.RNNBase) and m.num_layers == 1 and not m.bidirectional:
            return {k: getattr(m, k + "_l0") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        raise ValueError(f"expected a cell, a Recurrent or a one-layer unidirectional nn.RNN/LSTM/GRU; "
                         f"got {type(m).__name__}")
    a, b = params(src), params(dst)
    for k in a:
        if a[k].shape != b[k].shape:
            raise ValueError(f"{k} shapes differ: {tuple(a[k].shape)} in src, {tuple(b[k].shape)} in dst "
                             "(same kind, input_size and hidden_size?)")
        b[k].copy_(a[k])
    return dst


def parameter_count(kind: str, input_size: int, hidden_size: int) -> int:
    """gates * (H*I + H*H + 2H): the closed form the chapter checks against the modules."""
    g = GATES[_check_kind(kind)]
    return g * (hidden_size * input_size + hidden_size * hidden_size + 2 * hidden_size)


class _Body(nn.Module):
    """A recurrent layer: fused (``torch.nn``) or from scratch, one interface (B, T, I) -> (B, T, H)."""

    def __init__(self, kind, input_size, hidden_size, scratch=False, forget_bias=0.0):
        super().__init__()
        _check_kind(kind)
        self.kind = kind
        self.rnn = Recurrent(CELLS[kind](input_size, hidden_size)) if scratch \
            else torch_module(kind, input_size, hidden_size)
        if kind == "lstm" and forget_bias:
            with torch.no_grad():  # rows H..2H of both biases are the forget gate's
                for name, p in self.rnn.named_parameters():
                    if "bias" in name:
                        p[hidden_size:2 * hidden_size].fill_(forget_bias / 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        return out


class SequenceModel(nn.Module):
    """x (B, ...) read as a sequence of ``input_size`` vectors -> recurrent layer -> linear head.

    ``many_to_one`` (the adding problem, row-MNIST): the head reads the last step's hidden
    state and returns (B, out) (or (B,) when ``out_features == 1``). Otherwise (language models)
    it reads every step and returns (B, T, out). An ``embedding`` turns token ids (B, T) into
    vectors first. Inputs of any trailing shape are reshaped to (B, -1, input_size), so a
    (B, 1, 28, 28) MNIST batch is read as 28 rows of 28 pixels.
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, out_features: int,
                 many_to_one: bool = True, embedding: int | None = None, scratch: bool = False,
                 forget_bias: float = 0.0):
        super().__init__()
        self.input_size, self.many_to_one = input_size, many_to_one
        self.embed = nn.Embedding(embedding, input_size) if embedding else None
        self.body = _Body(kind, input_size, hidden_size, scratch, forget_bias)
        self.head = nn.Linear(hidden_size, out_features)

    def forward(self, x):
        x = self.embed(x.long()) if self.embed is not None else x.reshape(x.shape[0], -1, self.input_size)
        h = self.body(x)
        if self.many_to_one:
            y = self.head(h[:, -1])
            return y.squeeze(-1) if y.shape[-1] == 1 else y
        return self.head(h)
