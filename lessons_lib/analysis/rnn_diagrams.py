"""Drawings of the recurrent networks of the RNN chapter, in matplotlib (each function returns a figure).

draw_recurrence()   the lecture's picture: one node per layer, a cycle on the hidden node, and the
                    same network unfolded over T steps next to it.
draw_bptt()         the unfolded network with the gradient flowing back from the loss, one Jacobian
                    per step.
draw_lstm_cell(), draw_gru_cell()   the gated cells, with the additive path drawn on top.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

INPUT, HIDDEN, OUTPUT, GATE, PATH, GRAD = "#dbe9f6", "#fde7c8", "#d9f0d3", "#f3d9ea", "#b35806", "#c0392b"


def _box(ax, x, y, text, w=0.9, h=0.6, color=HIDDEN, fontsize=12, lw=1.2):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.12",
                                fc=color, ec="black", lw=lw, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)


def _op(ax, x, y, text, r=0.17, fontsize=12):
    ax.add_patch(Circle((x, y), r, fc="white", ec="black", lw=1.2, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3)


def _arrow(ax, p, q, color="black", lw=1.3, style="-|>", rad=0.0, label=None, label_xy=None, fontsize=10,
           shrink=0.0, ls="-"):
    ax.add_patch(FancyArrowPatch(p, q, arrowstyle=style, mutation_scale=12, color=color, lw=lw, ls=ls,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=shrink, shrinkB=shrink, zorder=1))
    if label:
        lx, ly = label_xy if label_xy else ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
        ax.text(lx, ly, label, ha="center", va="center", fontsize=fontsize, color=color, zorder=4,
                bbox=dict(fc="white", ec="none", pad=0.5))


def _line(ax, pts, color="black", lw=1.3):
    xs, ys = zip(*pts)
    ax.plot(xs, ys, color=color, lw=lw, zorder=1, solid_capstyle="round")


def _canvas(w, h, xlim, ylim, title=None):
    fig, ax = plt.subplots(figsize=(w, h))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=12)
    return fig, ax


def draw_recurrence(names=("1", "2", "3", None, "T")):
    """Left: x -> h -> y with the cycle W_hh on h. Right: the same network unfolded (None draws a gap)."""
    n = len(names)
    fig, ax = _canvas(10, 3.5, (-0.6, 4.3 + 1.5 * n), (-0.6, 2.85),
                      "A recurrent network and the same network unfolded in time")
    # folded
    _box(ax, 0.4, 0.0, "$x_t$", color=INPUT)
    _box(ax, 0.4, 1.2, "$h_t$", color=HIDDEN)
    _box(ax, 0.4, 2.4, "$y_t$", color=OUTPUT)
    _arrow(ax, (0.4, 0.3), (0.4, 0.9), label="$W_{ih}$", label_xy=(0.0, 0.6))
    _arrow(ax, (0.4, 1.5), (0.4, 2.1), label="$W_{hy}$", label_xy=(0.0, 1.8))
    ax.add_patch(FancyArrowPatch((0.85, 1.32), (0.85, 1.08), color=PATH, lw=1.8, arrowstyle="-|>",
                                 mutation_scale=12, connectionstyle="arc,angleA=0,angleB=0,armA=28,armB=28,rad=8"))
    ax.text(1.45, 1.2, "$W_{hh}$", color=PATH, fontsize=11, va="center")
    ax.text(0.4, -0.55, "folded: a cycle", ha="center", fontsize=10, style="italic")
    _arrow(ax, (2.1, 1.2), (3.0, 1.2), lw=2.0, style="simple", color="0.5")
    ax.text(2.55, 1.5, "unfold", ha="center", fontsize=10, color="0.35")
    # unfolded
    x0 = 3.75
    _box(ax, x0, 1.2, "$h_0$", w=0.6, color="white")
    prev = x0 + 0.3
    for k, name in enumerate(names, 1):
        x = x0 + 1.5 * k
        if name is None:
            ax.text(x, 1.2, "...", ha="center", va="center", fontsize=14)
            _arrow(ax, (prev, 1.2), (x - 0.3, 1.2), color=PATH, lw=1.8)
            prev = x + 0.3
            continue
        _box(ax, x, 0.0, f"$x_{{{name}}}$", color=INPUT)
        _box(ax, x, 1.2, f"$h_{{{name}}}$", color=HIDDEN)
        _box(ax, x, 2.4, f"$y_{{{name}}}$", color=OUTPUT)
        _arrow(ax, (x, 0.3), (x, 0.9))
        _arrow(ax, (x, 1.5), (x, 2.1))
        _arrow(ax, (prev, 1.2), (x - 0.45, 1.2), color=PATH, lw=1.8)
        ax.text((prev + x - 0.45) / 2, 1.42, "$W_{hh}$", ha="center", fontsize=9, color=PATH)
        prev = x + 0.45
    ax.text(x0 + 0.75 * (n + 1), -0.55,
            "unfolded: one layer per step, every layer with the same $W_{ih}$, $W_{hh}$, $W_{hy}$",
            ha="center", fontsize=10, style="italic")
    return fig


def draw_bptt(names=("1", None, "t", "t+1", None, "T")):
    """The unfolded network with a loss on the last step and the gradient flowing back through it."""
    n = len(names)
    fig, ax = _canvas(10, 3.3, (-0.2, 1.5 * n + 1.6), (-1.15, 2.3),
                      "Backpropagation through time: one Jacobian per step between the loss and $h_t$")
    prev, prev_name = None, None
    for k, name in enumerate(names):
        x = 0.6 + 1.5 * k
        if name is None:
            ax.text(x, 1.2, "...", ha="center", va="center", fontsize=14)
            right = x - 0.3
        else:
            _box(ax, x, 0.0, f"$x_{{{name}}}$", color=INPUT)
            _box(ax, x, 1.2, f"$h_{{{name}}}$", color=HIDDEN, w=0.95)
            _arrow(ax, (x, 0.3), (x, 0.9))
            right = x - 0.475
        if prev is not None:
            _arrow(ax, (prev, 1.3), (right, 1.3), color=PATH)
            _arrow(ax, (right, 1.1), (prev, 1.1), color=GRAD, lw=1.6)
            if name is not None and prev_name is not None:
                ax.text((prev + right) / 2, 1.78, f"$\\partial h_{{{name}}}/\\partial h_{{{prev_name}}}$",
                        ha="center", fontsize=10, color=GRAD)
        prev = x + (0.3 if name is None else 0.475)
        prev_name = name
    xl = 0.6 + 1.5 * n
    _box(ax, xl, 1.2, "$L$", w=0.6, color=OUTPUT)
    _arrow(ax, (prev, 1.3), (xl - 0.3, 1.3), color=PATH)
    _arrow(ax, (xl - 0.3, 1.1), (prev, 1.1), color=GRAD, lw=1.6)
    ax.text((prev + xl - 0.3) / 2, 1.78, "$\\partial L/\\partial h_T$", ha="center", fontsize=10, color=GRAD)
    ax.text(1.5 * n / 2 + 0.6, -0.62,
            "$\\partial L/\\partial h_t = \\partial L/\\partial h_T \\;\\cdot\\; \\partial h_T/\\partial h_{T-1}"
            " \\cdots \\partial h_{t+1}/\\partial h_t$: a product of $T-t$ Jacobians,"
            " each $\\mathrm{diag}(1-h_k^2)\\,W_{hh}$ for the tanh cell", color=GRAD, ha="center", fontsize=10.5)
    ax.text(1.5 * n / 2 + 0.6, -1.05, "forward: the state (orange arrows); backward: the gradient (red arrows)",
            ha="center", fontsize=9.5, color="0.3")
    return fig


def _gate(ax, x, y, text, name):
    _box(ax, x, y, text, w=0.62, h=0.42, color=GATE, fontsize=11)
    ax.text(x, y - 0.33, name, ha="center", va="top", fontsize=8.5, color="0.25", zorder=3,
            bbox=dict(fc="#f7f7f7", ec="none", pad=0.3))


def draw_lstm_cell():
    """The LSTM cell: the cell state runs along the top, changed only by a product and a sum."""
    fig, ax = _canvas(8.6, 4.7, (-1.3, 8.2), (-1.2, 4.3), "The LSTM cell")
    ax.add_patch(FancyBboxPatch((0.0, -0.25), 6.6, 3.9, boxstyle="round,pad=0.05,rounding_size=0.3",
                                fc="#f7f7f7", ec="0.6", lw=1.0, zorder=0))
    top, low = 3.1, 0.3
    xs = {"f": 1.2, "i": 2.35, "g": 3.5, "o": 4.75}
    # the cell-state path: one product, one sum
    _line(ax, [(-1.0, top), (xs["f"] - 0.17, top)], color=PATH, lw=2.4)
    _op(ax, xs["f"], top, "×")
    _line(ax, [(xs["f"] + 0.17, top), (xs["g"] - 0.17, top)], color=PATH, lw=2.4)
    _op(ax, xs["g"], top, "+")
    _arrow(ax, (xs["g"] + 0.17, top), (7.9, top), color=PATH, lw=2.4)
    ax.text(-1.0, top + 0.2, "$c_{t-1}$", fontsize=12, color=PATH)
    ax.text(7.3, top + 0.2, "$c_t$", fontsize=12, color=PATH)
    ax.text(3.3, 3.95, "cell state: multiplied by $f_t$, then added to; no weight matrix, no squashing",
            ha="center", fontsize=9.5, color=PATH)
    # h_{t-1} and x_t feed the four gates
    _line(ax, [(-1.0, low), (xs["o"], low)])
    ax.text(-1.0, low + 0.12, "$h_{t-1}$", fontsize=12)
    _line(ax, [(0.45, -1.0), (0.45, low)])
    ax.text(0.6, -0.95, "$x_t$", fontsize=12)
    labels = {"f": ("σ", "forget $f_t$"), "i": ("σ", "input $i_t$"), "g": ("tanh", "candidate $g_t$"),
              "o": ("σ", "output $o_t$")}
    for k, (sym, name) in labels.items():
        _line(ax, [(xs[k], low), (xs[k], 1.12)])
        _gate(ax, xs[k], 1.33, sym, name)
    _arrow(ax, (xs["f"], 1.55), (xs["f"], top - 0.17))
    xm = (xs["i"] + xs["g"]) / 2
    _op(ax, xm, 2.25, "×")
    _arrow(ax, (xs["i"], 1.55), (xm - 0.12, 2.13))
    _arrow(ax, (xs["g"], 1.55), (xm + 0.12, 2.13))
    _arrow(ax, (xm + 0.1, 2.39), (xs["g"] - 0.1, top - 0.15))
    # output: h_t = o_t * tanh(c_t)
    xh = 5.85
    _line(ax, [(xh, top), (xh, 2.6)])
    _box(ax, xh, 2.4, "tanh", w=0.62, h=0.38, color="white", fontsize=10)
    _op(ax, xh, 1.33, "×")
    _arrow(ax, (xh, 2.21), (xh, 1.5))
    _arrow(ax, (xs["o"] + 0.31, 1.33), (xh - 0.17, 1.33))
    _line(ax, [(xh, 1.16), (xh, -0.6)])
    _arrow(ax, (xh, -0.6), (7.9, -0.6))
    ax.text(6.75, -0.45, "$h_t$", fontsize=12)
    return fig


def draw_gru_cell():
    """The GRU cell: the state runs along the top, a blend of the old state and a candidate."""
    fig, ax = _canvas(8.6, 4.7, (-1.3, 8.2), (-1.2, 4.3), "The GRU cell")
    ax.add_patch(FancyBboxPatch((0.0, -0.25), 6.6, 3.9, boxstyle="round,pad=0.05,rounding_size=0.3",
                                fc="#f7f7f7", ec="0.6", lw=1.0, zorder=0))
    top, low = 3.1, 0.3
    xs = {"z": 1.5, "r": 2.75, "n": 4.0}
    xm, xp = 4.55, 5.3
    _line(ax, [(-1.0, top), (xs["z"] - 0.17, top)], color=PATH, lw=2.4)
    _op(ax, xs["z"], top, "×")
    _line(ax, [(xs["z"] + 0.17, top), (xp - 0.17, top)], color=PATH, lw=2.4)
    _op(ax, xp, top, "+")
    _arrow(ax, (xp + 0.17, top), (7.9, top), color=PATH, lw=2.4)
    ax.text(-1.0, top + 0.2, "$h_{t-1}$", fontsize=12, color=PATH)
    ax.text(7.3, top + 0.2, "$h_t$", fontsize=12, color=PATH)
    ax.text(3.3, 3.95, "state: keeps $z_t$ of itself and takes $1-z_t$ of the candidate",
            ha="center", fontsize=9.5, color=PATH)
    # h_{t-1} drops to the gates; x_t joins it
    _line(ax, [(0.45, top), (0.45, low), (xs["n"], low)])
    _line(ax, [(0.9, -1.0), (0.9, low)])
    ax.text(1.05, -0.95, "$x_t$", fontsize=12)
    labels = {"z": ("σ", "update $z_t$"), "r": ("σ", "reset $r_t$"), "n": ("tanh", "candidate $n_t$")}
    for k, (sym, name) in labels.items():
        _line(ax, [(xs[k], low), (xs[k], 1.12)])
        _gate(ax, xs[k], 1.33, sym, name)
    # z: straight up to the product on the path, and through "1 -" to the candidate's product
    _arrow(ax, (xs["z"], 1.55), (xs["z"], top - 0.17))
    _box(ax, 3.3, 2.35, "1 −", w=0.5, h=0.34, color="white", fontsize=10)
    _arrow(ax, (xs["z"], 2.35), (3.05, 2.35))
    _op(ax, xm, 2.35, "×")
    _arrow(ax, (3.55, 2.35), (xm - 0.17, 2.35))
    _arrow(ax, (xs["n"], 1.55), (xm - 0.1, 2.22))
    _arrow(ax, (xm + 0.1, 2.48), (xp - 0.1, top - 0.15))
    # r acts inside the candidate, on W_hn h_{t-1}
    _arrow(ax, (xs["r"] + 0.31, 1.33), (xs["n"] - 0.31, 1.33))
    return fig


