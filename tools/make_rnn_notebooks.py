"""Write book/rnn.ipynb and book/rnn_applications.ipynb (unexecuted) from the cells below.

    python tools/make_rnn_notebooks.py && python -m lessons_lib.notebooks book/rnn.ipynb book/rnn_applications.ipynb
"""
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook

from lessons_lib.notebooks import code_cell as code, markdown_cell as md

ROOT = Path(__file__).resolve().parent.parent


CHECK = ("remove-input",)
NBVAL = ("nbval-check-output",)
REFS = md("## References\n\n```{bibliography}\n:filter: docname in docnames\n```")
REPORT = code("import lessons_lib; lessons_lib.report()")

# ------------------------------------------------------------------------------------------------
rnn = [
md("""
(rnn)=
# Recurrent networks, LSTM and GRU

The lecture's four RNN slides are reproduced in the appendix ({ref}`the lecture's RNN part <seed-recurrent>`).

The seed's last four slides leave convolutional networks for networks with cycles:

> Feedforward networks: Neurons are interconnected without any cycle in the connection.
> Recurrent neural networks: Allow directed cycles in connections between neurons
> -- Notion of "state" or temporal dynamics -- Necessity of internal memory.
> One clear benefit: Such networks could naturally model variable-length sequential data.

then ask a question, *"What is this network equivalent to, if we 'unfold' the cycles for a given
sequence of data?"*, warn that *"Training with BP algorithm may suffer from so-called vanishing
gradient problem"*, and name two answers, the LSTM and the GRU. This chapter writes each of those
cells from scratch in a few lines, checks every one against PyTorch's fused modules, answers the
unfolding question by building the unfolded network, measures the vanishing gradient, and
trains all three on the adding problem of {cite}`hochreiter1997lstm`. The applications (MNIST read
row by row, a character-level language model) are in {ref}`rnn-applications`.
"""),
code("""
import inspect

import matplotlib.pyplot as plt
import torch

from lessons_lib import config, notebooks, reproduce
from lessons_lib.device import pick_device, seed_everything
from lessons_lib.experiments import rnn as E
from lessons_lib.models import rnn as M
from lessons_lib.sequences import ADDING_BASELINE_MSE, adding_problem, pack, pad_sequences

device = pick_device()   # where the adding-problem models train; the from-scratch checks run on the CPU
"""),
md("The settings of the three profiles (smoke for CI, standard for a laptop CPU, full for one GPU):"),
code("""
P = config.settings(
    smoke=dict(lengths=[5], epochs=1, n_train=256, hidden=8, batch=32, lr=1e-2, forget_bias=0.0, grad_T=20,
               speed_steps=10, speed_repeats=1),
    standard=dict(lengths=[10, 20, 50, 100], epochs=8, n_train=3200, hidden=32, batch=32, lr=1e-2, forget_bias=0.0,
                  grad_T=100, speed_steps=100, speed_repeats=3),
    full=dict(lengths=[50, 100, 200, 400], epochs=24, n_train=25_600, hidden=32, batch=128, lr=1e-2, forget_bias=1.0,
              grad_T=200, speed_steps=100, speed_repeats=5),
)
P
"""),
md("""
(rnn-cell)=
## A recurrent cell in three lines

The seed's picture has one node per layer and an arrow from the hidden node back to itself. In
equations (Elman's network, PyTorch's `torch.nn.RNN`), one step reads the input $x_t$ and the
previous state $h_{t-1}$:

$$h_t = \\tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}).$$

The cycle is $W_{hh}$: the same matrix is applied at every step. Here is the cell, and the loop
that runs it along a sequence (both from `lessons_lib/models/rnn.py`):
"""),
code("""
print(inspect.getsource(M.RNNCell))
print(inspect.getsource(M.Recurrent.forward))
"""),
md("""
Shapes: a batch of 4 sequences of 7 steps with 3 features each, `x` of shape (4, 7, 3), and a
hidden state of 5 units. The cell's parameters have PyTorch's names and shapes, so we copy the
weights of a `torch.nn.RNN` into ours and compare outputs, and gradients of the same loss:
"""),
code("""
torch.manual_seed(0)
fused = M.torch_module("rnn", 3, 5)          # torch.nn.RNN(3, 5, batch_first=True)
mine = M.Recurrent(M.RNNCell(3, 5))
M.copy_weights(fused, mine)
x = torch.randn(4, 7, 3)
out_fused, h_fused = fused(x)
out_mine, h_mine = mine(x)
print("outputs:", tuple(out_mine.shape), " final state:", tuple(h_mine.shape))
print({name: tuple(p.shape) for name, p in mine.named_parameters()})
""", tags=NBVAL),
md("""
`compare_with_torch` does this for a given cell and precision, with a loss that reaches every
output and the final state, and returns the largest absolute differences:
"""),
code("""
checks = {(kind, str(dtype).split(".")[1]): E.compare_with_torch(kind, dtype=dtype)
          for kind in M.KINDS for dtype in (torch.float32, torch.float64)}
print(f"{'cell':5s} {'dtype':8s} {'output':>10s} {'final state':>12s} {'gradient':>10s}")
for (kind, dt), d in checks.items():
    print(f"{kind:5s} {dt:8s} {d['output']:10.1e} {d['final_state']:12.1e} {d['gradient']:10.1e}")
worst32 = max(max(d.values()) for (k, dt), d in checks.items() if dt == "float32")
worst64 = max(max(d.values()) for (k, dt), d in checks.items() if dt == "float64")
notebooks.glue("rnn_worst32", worst32)
notebooks.glue("rnn_worst64", worst64);
"""),
code("""
TOL32, TOL64 = 1e-4, 1e-12
assert worst32 < TOL32 and worst64 < TOL64, checks
""", tags=CHECK),
md("""
All three from-scratch cells (the LSTM and GRU are explained {ref}`below <rnn-gated>`) agree with
PyTorch: the largest difference in outputs, final states and gradients is
{glue:text}`rnn_worst32:.1e` in float32 and {glue:text}`rnn_worst64:.1e` in float64, which is
rounding (the page asserts below $10^{-4}$ in float32, where gradients of order 10 are summed over
steps, and below $10^{-12}$ in float64). The fused modules compute the same function; the rest of
the chapter trains with them because they are faster ({ref}`rnn-speed`).

(rnn-unfolding)=
## Unfolding: the seed's question answered

Over a sequence of $T$ steps, the loop above applies the cell $T$ times, each time to the
previous application's output. That *is* a feedforward network of $T$ layers, layer $t$ reading
$x_t$ and layer $t-1$'s output, in which all layers share one set of weights. `unroll` builds it
explicitly, with $T$ separate copies of the cell:
"""),
code("""
T = 5
torch.manual_seed(0)
cell = M.RNNCell(3, 4)
unrolled = M.unroll(cell, T)        # T independent deep copies of the cell, one per layer
print(unrolled)
""", tags=NBVAL),
md("""
Same input, same function; and the same loss backpropagated through both. In the recurrent
network the shared $W_{hh}$ gets one gradient; in the unrolled network each copy gets its own.
Backpropagation through time is ordinary backpropagation on the unrolled network followed by
summing the copies' gradients, because the shared weight's total derivative is the sum of its
partial derivatives at each use:
"""),
code("""
x = torch.randn(2, T, 3)
out_rec, _ = M.Recurrent(cell)(x)
out_unr, _ = unrolled(x)
(out_rec ** 2).sum().backward()
(out_unr ** 2).sum().backward()
per_copy = [layer.weight_hh.grad for layer in unrolled.layers]
same_function = (out_rec - out_unr).abs().max().item()
bptt_error = (cell.weight_hh.grad - sum(per_copy)).abs().max().item()
for t, g in enumerate(per_copy, 1):
    print(f"layer {t}: |dL/dW_hh of copy {t}| = {g.norm():.4f}")
print(f"shared weight: |dL/dW_hh| = {cell.weight_hh.grad.norm():.4f}")
print(f"max |output difference| = {same_function:.1e}; max |shared grad - sum of copies' grads| = {bptt_error:.1e}")
notebooks.glue("rnn_unroll_same", same_function)
notebooks.glue("rnn_bptt_error", bptt_error);
"""),
code("""
assert same_function < 1e-6 and bptt_error < 1e-5
""", tags=CHECK),
md("""
The outputs differ by {glue:text}`rnn_unroll_same:.1e` and the shared weight's gradient equals
the sum of the five copies' gradients to {glue:text}`rnn_bptt_error:.1e` (float32 rounding). The
first copy's gradient is exactly zero because its $W_{hh}$ multiplies the initial state $h_0 = 0$.
Here every step's output enters the loss; when only the last step counts, the early layers of the
unrolled network sit far from the loss, which is where gradients vanish ({ref}`rnn-vanishing`).

(rnn-variable-length)=
## Variable-length sequences: padding and packing

The unfolded network has as many layers as the sequence has steps, so one set of weights serves
sequences of any length. In a batch, the shorter sequences are padded to the longest; the padding
must then not change their final state. Two ways: the from-scratch loop freezes each sequence's
state after its own length (`lengths=`), and PyTorch's modules take a *packed* sequence, which
skips the padding altogether.
"""),
code("""
torch.manual_seed(0)
seqs = [torch.randn(n, 3) for n in (6, 2, 4)]     # three sequences of 6, 2 and 4 steps
padded, lengths = pad_sequences(seqs)
print("padded:", tuple(padded.shape), " lengths:", lengths.tolist())
gru = M.torch_module("gru", 3, 5)
mine = M.copy_weights(gru, M.Recurrent(M.GRUCell(3, 5)))
alone = torch.stack([gru(s[None])[1][0, 0] for s in seqs])            # each sequence run by itself
_, h_packed = gru(pack(padded, lengths, enforce_sorted=False))
_, h_masked = mine(padded, lengths=lengths)
_, h_naive = gru(padded)                                               # padding read as data
err_packed = (h_packed[0] - alone).abs().max().item()
err_masked = (h_masked - alone).abs().max().item()
err_naive = (h_naive[0] - alone).abs().max(dim=1).values
print(f"packed vs alone: {err_packed:.1e};  from-scratch with lengths vs alone: {err_masked:.1e}")
print("padded without lengths vs alone, per sequence:", [f"{e:.3f}" for e in err_naive.tolist()])
notebooks.glue("rnn_pack_err", max(err_packed, err_masked));
"""),
code("""
assert err_packed < 1e-6 and err_masked < 1e-6 and err_naive[0] < 1e-6 and (err_naive[1:] > 1e-3).all()
""", tags=CHECK),
md("""
Packed or masked, each final state equals the one of the sequence run alone (to
{glue:text}`rnn_pack_err:.1e`). Without lengths, only the longest sequence (no padding) is right;
the others have read zeros as data. `pack` checks its input before PyTorch does, and says what is
wrong:
"""),
code("""
for bad in (dict(lengths=[6, 2]), dict(lengths=[2, 6, 4]), dict(lengths=[7, 2, 4], enforce_sorted=False)):
    try:
        pack(padded, **bad)
    except ValueError as e:
        print(f"{bad}:\\n    ValueError: {e}")
""", tags=NBVAL),
md("""
(rnn-gated)=
## LSTM and GRU, from scratch

The LSTM {cite}`hochreiter1997lstm` (here with the forget gate, as in PyTorch) keeps a second state, the
*cell* $c_t$, updated additively. With $\\sigma$ the logistic function and $\\odot$ the elementwise
product, from the input and the previous hidden state it computes three gates and a candidate:

$$\\begin{aligned}
i_t &= \\sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) &&\\text{input gate}\\\\
f_t &= \\sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) &&\\text{forget gate}\\\\
g_t &= \\tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) &&\\text{candidate}\\\\
o_t &= \\sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) &&\\text{output gate}\\\\
c_t &= f_t \\odot c_{t-1} + i_t \\odot g_t, \\qquad h_t = o_t \\odot \\tanh(c_t).
\\end{aligned}$$

The derivative of $c_t$ with respect to $c_{t-1}$ along the direct path is $f_t$: while the
forget gate stays near 1, the gradient passes through many steps undiminished. The GRU
{cite}`cho2014gru` merges cell and hidden state and uses two gates, reset $r_t$ and update $z_t$
(PyTorch's convention, which applies the reset after the recurrent product):

$$\\begin{aligned}
r_t &= \\sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}), \\qquad
z_t = \\sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}),\\\\
n_t &= \\tanh(W_{in} x_t + b_{in} + r_t \\odot (W_{hn} h_{t-1} + b_{hn})), \\qquad
h_t = (1 - z_t) \\odot n_t + z_t \\odot h_{t-1}.
\\end{aligned}$$

In code, the four (LSTM) or three (GRU) matrices are stacked into one `weight_ih` and one
`weight_hh`, in PyTorch's order, so one matrix product computes all gates:
"""),
code("""
print(inspect.getsource(M.LSTMCell.forward))
print(inspect.getsource(M.GRUCell.forward))
"""),
md("""
Both were checked against `torch.nn.LSTM` and `torch.nn.GRU` with copied weights in the table of
{ref}`rnn-cell` (outputs, final states and gradients). Their cost in parameters follows from the
stacking: with input size $I$ and hidden size $H$, a cell with $g$ blocks ($g$ = 1 for the RNN, 4
for the LSTM, 3 for the GRU) has $g\\,(HI + H^2 + 2H)$ parameters (PyTorch keeps two bias vectors).
For row-MNIST's cells ($I = 28$, $H = 128$):
"""),
code("""
print(f"{'cell':5s} {'formula':>9s} {'from scratch':>13s} {'torch.nn':>9s}")
for kind in M.KINDS:
    ours = sum(p.numel() for p in M.CELLS[kind](28, 128).parameters())
    theirs = sum(p.numel() for p in M.torch_module(kind, 28, 128).parameters())
    print(f"{kind:5s} {M.parameter_count(kind, 28, 128):9,d} {ours:13,d} {theirs:9,d}")
    assert ours == theirs == M.parameter_count(kind, 28, 128)
""", tags=NBVAL),
md("""
(rnn-speed)=
### The loop against the fused module

The from-scratch loop launches a handful of small operations per step and per gate; the fused
modules run the whole sequence in one library call (cuDNN on a GPU). Seconds per forward and
backward pass of a batch of 64 sequences of {glue:text}`rnn_speed_steps` steps, 32 inputs, 128
hidden units, same weights, on this machine's CPU, and on its GPU when it has one:
"""),
code("""
torch.manual_seed(0)
speed_devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
speed = {(dev, kind): E.loop_vs_fused(kind, batch=64, steps=P.speed_steps, hidden=128, device=dev,
                                      repeats=P.speed_repeats)
         for dev in speed_devices for kind in M.KINDS}
print(f"{'device':6s} {'cell':5s} {'loop (ms)':>10s} {'fused (ms)':>11s} {'loop / fused':>13s}")
for (dev, kind), r in speed.items():
    print(f"{dev:6s} {kind:5s} {1e3 * r['loop_s']:10.1f} {1e3 * r['fused_s']:11.1f} {r['ratio']:13.1f}")
if "cuda" not in speed_devices:
    print("(no GPU on this machine: no GPU rows)")
for kind in M.KINDS:
    notebooks.glue(f"rnn_cpu_{kind}_ratio", speed["cpu", kind]["ratio"])
notebooks.glue("rnn_speed_steps", P.speed_steps)
notebooks.glue("rnn_speed_repeats", P.speed_repeats);
"""),
md("""
On this CPU the from-scratch loop took {glue:text}`rnn_cpu_lstm_ratio:.1f` times as long as the
fused module for the LSTM, {glue:text}`rnn_cpu_gru_ratio:.1f` times for the GRU and
{glue:text}`rnn_cpu_rnn_ratio:.1f` times for the RNN (fastest of {glue:text}`rnn_speed_repeats`
alternating runs each). A ratio below 1 means the fused module was the slower one. On a CPU the
fused modules do not call cuDNN: they run their own loop over the steps (the LSTM through a
different backend from the RNN and GRU), so the from-scratch loop is not necessarily at a
disadvantage there. These were measured on a shared 2-core machine where single timings move by
tens of percent, so measure on yours. On a GPU the fused modules call cuDNN, which runs the whole
sequence in one call, while the loop launches several small kernels per step; when this page runs on
a machine with a GPU, the table above has GPU rows. The book's GPU figure is the full-profile run
of the registered experiment `rnn_loop_vs_fused` (same sizes, 100 steps):
"""),
code("""
reproduce.show_result("rnn_loop_vs_fused", metrics=[f"{k}.ratio" for k in M.KINDS])
"""),
md("""
The lesson for practice: write the cell yourself to understand it or to try a new one; on a GPU,
train with `torch.nn.LSTM`/`GRU` (which compute the same function, as checked above); on a CPU,
time both on your sizes first.

(rnn-vanishing)=
## Vanishing gradients, measured

{cite}`bengio1994learning` showed why "training with BP may suffer from vanishing gradients": the
gradient reaching step $t$ from a loss at step $T$ is a product of $T - t$ Jacobians
$\\partial h_{k}/\\partial h_{k-1}$, which for a tanh RNN shrinks geometrically when the recurrent
weights are small (and explodes when they are large). We measure it: adding-problem sequences
({ref}`rnn-adding`), a loss on the last step's prediction only, and the norm of
$\\partial L / \\partial h_t$ at every step, for a tanh RNN, an LSTM and a GRU with PyTorch's default
initialisation, on the same batch. (`hidden_gradient_norms` runs a from-scratch copy of each model
so that every $h_t$ is a tensor whose gradient we can read.)
"""),
code("""
x_g, y_g = adding_problem(256, P.grad_T, seed=123)
grad_norms = {}
for kind in M.KINDS:
    seed_everything(0)
    grad_norms[kind] = E.hidden_gradient_norms(M.SequenceModel(kind, 2, 64, 1), x_g, y_g)
distance = torch.arange(P.grad_T - 1, -1, -1)          # steps between h_t and the loss


def plot_grad_norms(norms, title):
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for kind, g in norms.items():
        ax.semilogy(distance, g, label=kind.upper())
    ax.set(xlabel="distance from the loss (steps, T - t)", ylabel="||dL/dh_t|| (log scale)", title=title)
    ax.legend()
    plt.show()


plot_grad_norms(grad_norms, f"Gradient reaching each step at initialisation (T = {P.grad_T}, 64 units)")
decay = {k: (g[0] / g[-1]).item() for k, g in grad_norms.items()}   # first step vs last step
for k, d in decay.items():
    notebooks.glue(f"rnn_decay_{k}", d)
print({k: f"{d:.1e}" for k, d in decay.items()})
""", alt="Log-scale plot of the norm of the gradient of the loss with respect to each hidden state against "
         "the distance from the loss, for a tanh RNN, an LSTM and a GRU at initialisation: all decay "
         "exponentially; the RNN and LSTM fastest."),
md("""
At initialisation every line falls exponentially with distance: over {glue:text}`rnn_decay_rnn:.1e`
(RNN), {glue:text}`rnn_decay_lstm:.1e` (LSTM) and {glue:text}`rnn_decay_gru:.1e` (GRU) of the
gradient at the last step survives back to the first. The gates alone do not stop the gradient
from vanishing: an LSTM whose forget gates sit at $\\sigma(0) = 0.5$ multiplies its cell gradient by
about a half per step. What gates add is a path that *can be opened by learning*: a forget gate
driven to 1, an update gate $z_t$ driven to 1, copies the state unchanged, derivative 1. The tanh
RNN has no such path; its only route is through $W_{hh}$ and the tanh. The next section trains all
three and measures the gradients again.

(rnn-adding)=
## The adding problem

{cite}`hochreiter1997lstm` designed tasks that a network can only solve by remembering something
for a long time. In the adding problem each step carries a random number in $[0, 1]$ and a marker;
two steps are marked (here one in each half of the sequence), and the target, read after the
last step, is the sum of the two marked numbers. Predicting the mean sum, 1, always gives a mean
squared error of $\\operatorname{Var}(u_1 + u_2) = 2/12 \\approx 0.167$: a model that has not learned
to remember stays at that baseline. {cite}`le2015irnn` report that plain tanh RNNs fail at lengths
150 to 400 where LSTMs succeed.
"""),
code("""
x, y = adding_problem(3, 10, seed=0)
print("x:", tuple(x.shape), "(sequences, steps, [value, marker])")
print(x[0].T.numpy().round(2))
print("target of the first sequence:", round(y[0].item(), 3))
""", tags=NBVAL),
md("""
Each model (hidden size from the profile, a linear read-out of the last hidden state, Adam, gradient
norm clipped at 1, MSE loss) trains at each length on its own sequences and is tested on 1,000
others. We call a length *solved* when the test MSE falls below a tenth of the baseline:
"""),
code("""
adding = {}
for kind in M.KINDS:
    for T in P.lengths:
        tr = E.train_adding(kind, T, P.epochs, P.n_train, hidden=P.hidden, batch_size=P.batch, lr=P.lr,
                            forget_bias=P.forget_bias, device=device)
        adding[kind, T] = tr
        print(f"{kind:5s} T={T:4d}: test MSE {tr.history.last['test_loss']:.4f} "
              f"({sum(tr.history.column('time')):.0f} s)", flush=True)
"""),
code("""
def solved(mse):
    return mse < 0.1 * ADDING_BASELINE_MSE


mse = {key: tr.history.last["test_loss"] for key, tr in adding.items()}
fig, ax = plt.subplots(figsize=(6.5, 3.8))
for kind in M.KINDS:
    ax.plot(P.lengths, [mse[kind, T] for T in P.lengths], "o-", label=kind.upper())
ax.axhline(ADDING_BASELINE_MSE, color="gray", ls="--", label="predict the mean (1/6)")
ax.axhline(0.1 * ADDING_BASELINE_MSE, color="gray", ls=":", label="solved below this")
ax.set(xlabel="sequence length T (steps)", ylabel="test MSE", yscale="log",
       title=f"Adding problem after {P.epochs} epochs of {P.n_train:,} sequences ({P.profile} profile)")
ax.legend(fontsize=8)
plt.show()
first_fail = {k: next((T for T in P.lengths if not solved(mse[k, T])), None) for k in M.KINDS}


class Plain(str):           # glued text shows without quotes
    __repr__ = str.__str__


notebooks.glue("rnn_add_first_fail", Plain(f"T = {first_fail['rnn']}" if first_fail["rnn"] else "none of these lengths"))
notebooks.glue("rnn_add_epochs", P.epochs)
notebooks.glue("rnn_add_ntrain", Plain(f"{P.n_train:,}"))
print("shortest unsolved length per model:", first_fail)
""", alt="Test mean squared error of RNN, LSTM and GRU on the adding problem against sequence length, "
         "with the 1/6 baseline of predicting the mean and the solved threshold."),
md("""
In this profile's short runs the plain RNN first misses the threshold at:
{glue:text}`rnn_add_first_fail` (the printed dictionary gives each model's first unsolved
length, None where all were solved). A CPU budget of a few minutes keeps the lengths short and the
training brief ({glue:text}`rnn_add_epochs` epochs of {glue:text}`rnn_add_ntrain` sequences), so
these are the lengths each model solved *within this budget*; whether the plain RNN would learn the
longer of them with many more updates is not measured here. The full profile measures, on a GPU,
where it stops learning at longer lengths, with more data and many more updates, and with the LSTM's
forget gates starting at a bias of 1, the trick of {ref}`the forget-bias exercise <rnn-ex-forget-bias>`
(in CPU checks, recorded in `lessons_lib/experiments/rnn.py`, the LSTM at T = 400 needed both). Its
settings are printed with the result:
"""),
code("""
full = reproduce.load_result("rnn_adding")
full_settings = vars(E.adding_settings("full"))
print("full-profile settings:", full_settings,
      f"({full_settings['epochs'] * full_settings['n_train'] // full_settings['batch_size']:,} updates per run)")
if full is None:
    reproduce.show_result("rnn_adding")
else:
    s = full["summary"]
    lengths = full["runs"][0]["settings"]["lengths"]
    print(f"{'T':>5s} " + " ".join(f"{k.upper():>8s}" for k in M.KINDS) + "   (test MSE; baseline 0.167)")
    for T in lengths:
        print(f"{T:5d} " + " ".join(f"{s[f'{k}_T{T}.test_mse']['mean']:8.4f}" for k in M.KINDS))
    fails = {k: [T for T in lengths if s[f"{k}_T{T}.solved"]["mean"] < 1] for k in M.KINDS}
    print("unsolved lengths:", fails)
    print(reproduce.provenance(full))
"""),
md("""
And the gradients after training, for the models of the longest length above, measured as before
on fresh sequences of that length:
"""),
code("""
T_long = P.lengths[-1]
x_g, y_g = adding_problem(256, T_long, seed=123)
trained_norms = {k: E.hidden_gradient_norms(adding[k, T_long].model, x_g, y_g) for k in M.KINDS}
distance = torch.arange(T_long - 1, -1, -1)
plot_grad_norms(trained_norms, f"Gradient reaching each step after training (T = {T_long})")
trained_decay = {k: (g[0] / g[-1]).item() for k, g in trained_norms.items()}   # first step vs last step
for k in M.KINDS:
    notebooks.glue(f"rnn_trained_decay_{k}", trained_decay[k])
    notebooks.glue(f"rnn_trained_mse_{k}", mse[k, T_long])
notebooks.glue("rnn_decay_max", max(decay.values()))   # the most that survived at initialisation
print("fraction of the last step's gradient reaching the first step:", {k: f"{d:.1e}" for k, d in trained_decay.items()})
print(f"test MSE at T = {T_long}:", {k: round(mse[k, T_long], 4) for k in M.KINDS})
""", alt="Log-scale plot of the gradient norm against distance from the loss after training on the "
         "adding problem, for RNN, LSTM and GRU."),
code("""
if P.profile == "standard":   # what the text below says about this profile's run
    assert solved(mse["lstm", T_long]) and solved(mse["gru", T_long]) and not solved(mse["rnn", T_long])
    assert min(trained_decay.values()) > 1e6 * max(decay.values()), (trained_decay, decay)
""", tags=CHECK),
md("""
Compare with the initialisation figure, where at most {glue:text}`rnn_decay_max:.0e` of the gradient
survived the whole sequence: after training, the fraction reaching the first step is
{glue:text}`rnn_trained_decay_lstm:.1e` for the LSTM and {glue:text}`rnn_trained_decay_gru:.1e` for
the GRU. Both solved this length (test MSE {glue:text}`rnn_trained_mse_lstm:.4f` and
{glue:text}`rnn_trained_mse_gru:.4f`), and both carry a gradient back to the first marked number,
which solving the task requires. The tanh RNN's curve no longer falls exponentially either
(fraction {glue:text}`rnn_trained_decay_rnn:.1e`), yet its test MSE, {glue:text}`rnn_trained_mse_rnn:.4f`,
stayed at the baseline: training has moved its recurrent weights out of the vanishing regime, but a
gradient that reaches the early steps is not enough by itself. To solve the task the state must
also *hold* the first marked number for dozens of steps while new inputs keep arriving; the tanh
RNN has no gate that can copy its state unchanged, and within this budget it did not learn to.

## Exercises

:::{exercise}
:label: rnn-ex-forget-bias
A common trick initialises the LSTM's forget-gate bias to 1 (so $f_t \\approx 0.73$ at first).
Measure the gradient-norm curve at initialisation with `M.SequenceModel("lstm", 2, 64, 1,
forget_bias=1.0)` and compare its decay with the default's.
:::
:::{solution} rnn-ex-forget-bias
:class: dropdown
```python
seed_everything(0)
g1 = E.hidden_gradient_norms(M.SequenceModel("lstm", 2, 64, 1, forget_bias=1.0), x_g, y_g)
print((g1[0] / g1[-1]).item())
```
Along the cell path the gradient is multiplied by the forget gate at each step, now about
$\\sigma(1) \\approx 0.73$ instead of $\\sigma(0) = 0.5$, so the curve falls more slowly but still
exponentially (the other paths, through $h_t$ and the gates, add to it). Learning then pushes the
forget gates of the units that must remember towards 1.
:::

:::{exercise}
:label: rnn-ex-irnn
{cite}`le2015irnn` make a plain RNN learn long dependencies with ReLU units and the recurrent
matrix initialised to the identity (IRNN). Train one on the adding problem at the longest length
of your profile and compare its test MSE with the tanh RNN's.
:::
:::{solution} rnn-ex-irnn
:class: dropdown
```python
seed_everything(0)
model = M.SequenceModel("rnn", 2, P.hidden, 1)
model.body.rnn = torch.nn.RNN(2, P.hidden, nonlinearity="relu", batch_first=True)
with torch.no_grad():
    model.body.rnn.weight_hh_l0.copy_(torch.eye(P.hidden))
    model.body.rnn.bias_hh_l0.zero_(); model.body.rnn.bias_ih_l0.zero_()
T = P.lengths[-1]
irnn = E.train_adding("rnn", T, P.epochs, P.n_train, batch_size=P.batch, lr=1e-3, model=model, device=device)
print("IRNN", irnn.history.last["test_loss"], " tanh RNN", mse["rnn", T])
```
With ReLU units and $W_{hh} = I$, each step's Jacobian is the identity on the active units, so
at the start the state, and the gradient, pass through the steps unchanged: training starts
from a network that remembers. The paper needs a small learning rate and many updates to reach
LSTM-like results at T = 400. At the standard profile's longest length, expect the IRNN's test MSE
to fall well below the baseline where the tanh RNN's stays at it, with bumps along the way (ReLU
states are unbounded, which is why the gradient is clipped); a learning rate of $10^{-4}$ is too
slow for this budget.
:::

:::{exercise}
:label: rnn-ex-params
Why does a GRU have three quarters of an LSTM's parameters for the same sizes? How many hidden
units does a GRU need to match an LSTM with 128 units on row-MNIST's inputs?
:::
:::{solution} rnn-ex-params
:class: dropdown
Three blocks of weights (reset, update, candidate) instead of four (input, forget, output,
candidate), each $HI + H^2 + 2H$. Solving $3(28H + H^2 + 2H) = 4(28\\cdot128 + 128^2 + 2\\cdot128)$ gives
$H \\approx 150$:
```python
import math
target = M.parameter_count("lstm", 28, 128)
print((-30 + math.sqrt(30**2 + 4 * target / 3)) / 2)
```
:::

:::{exercise}
:label: rnn-ex-truncated
Truncated BPTT: in `M.Recurrent.forward`, detach the state every $k$ steps (`state = state.detach()`
when `t % k == 0`). What happens to the gradient-norm curve beyond distance $k$, and to the adding
problem when $k$ is shorter than the distance between the two marked numbers?
:::
:::{solution} rnn-ex-truncated
:class: dropdown
Beyond $k$ steps the gradient is exactly zero (the graph is cut), so a dependency longer than $k$
cannot be learned at all whatever the cell: the test MSE stays at the 0.167 baseline when the two
marked numbers are further apart than $k$ steps. Truncation trades the long dependencies for
memory and speed.
:::
"""),
REFS,
REPORT,
]

# ------------------------------------------------------------------------------------------------
apps = [
md("""
(rnn-applications)=
# Recurrent networks at work: row-MNIST and a character model

Both tasks need memory across many steps, the setting in which {ref}`rnn-vanishing` measured how fast each cell's gradients fade.

Two applications of the cells of {ref}`rnn`: an image read as a sequence, and "language", a
character-level model of text, on the seed's claim that LSTMs and GRUs "produced state-of-the-art
results in speech and language applications". Both train PyTorch's fused `nn.RNN`, `nn.LSTM` and
`nn.GRU`, which {ref}`rnn` checked against the from-scratch cells. {cite}`chung2014empirical`
compared GRU and LSTM on music and speech and found them close, both well ahead of the tanh RNN;
we measure the same comparison on our two tasks.
"""),
code("""
import math

import matplotlib.pyplot as plt
import torch

from lessons_lib import config, notebooks, reproduce
from lessons_lib.data import mnist
from lessons_lib.device import pick_device
from lessons_lib.experiments import rnn as E
from lessons_lib.models import rnn as M
from lessons_lib.sequences import sample_text

device = pick_device()
"""),
code("""
P = config.settings(
    smoke=dict(mnist_epochs=1, source="sample", n_train=1000, mnist_hidden=16, mnist_lr=5e-3,
               char_epochs=1, max_chars=10_000, seq_len=32, char_hidden=32, char_lr=5e-3, sample_chars=40),
    standard=dict(mnist_epochs=3, source="full", n_train=30_000, mnist_hidden=64, mnist_lr=5e-3,
                  char_epochs=5, max_chars=400_000, seq_len=64, char_hidden=96, char_lr=5e-3, sample_chars=200),
    full=dict(mnist_epochs=10, source="full", n_train=None, mnist_hidden=128, mnist_lr=2e-3,
              char_epochs=30, max_chars=None, seq_len=128, char_hidden=256, char_lr=3e-3, sample_chars=200),
)
P
"""),
md("""
(rnn-row-mnist)=
## MNIST, one row per step

A 28 x 28 image becomes a sequence of 28 steps, step $t$ being the 28 pixels of row $t$. The
network must carry what it has seen of the digit in its state until the last row, then a linear
layer reads the last hidden state and gives 10 class scores (softmax in the loss). Shapes for one
batch of 128, with the LSTM:
"""),
code("""
model = M.SequenceModel("lstm", 28, 128, 10)
x = torch.zeros(128, 1, 28, 28)
print("image batch", tuple(x.shape), "-> sequence", tuple(x.reshape(128, -1, 28).shape),
      "-> hidden states", tuple(model.body(x.reshape(128, -1, 28)).shape), "-> logits", tuple(model(x).shape))
print("parameters:", sum(p.numel() for p in model.parameters()))
""", tags=NBVAL),
code("""
data = mnist(P.source, n_train=P.n_train)
row = {}
for kind in M.KINDS:
    tr = E.train_row_mnist(kind, P.mnist_epochs, P.mnist_hidden, data, lr=P.mnist_lr, device=device, verbose=True)
    row[kind] = tr.history
"""),
code("""
print(f"{'model':6s} {'test accuracy':>14s} {'train time (s)':>15s}")
for kind, h in row.items():
    print(f"{kind.upper():6s} {h.last['test_accuracy']:14.2%} {sum(h.column('time')):15.0f}")
    notebooks.glue(f"rnn_row_{kind}", h.last["test_accuracy"])
"""),
md("""
After {glue:text}`rnn_row_epochs` epochs on {glue:text}`rnn_row_ntrain` images the LSTM reaches
{glue:text}`rnn_row_lstm:.2%`, the GRU {glue:text}`rnn_row_gru:.2%` and the tanh RNN
{glue:text}`rnn_row_rnn:.2%` on the 10,000 test images. The distance from the first informative
row to the last step is about 20 steps, short enough that the tanh RNN learns too, only slower.
The full profile trains 128 units for 10 epochs on all 60,000 images (the LSTM is expected to
reach at least 98%):
"""),
code("""
notebooks.glue("rnn_row_epochs", P.mnist_epochs)
notebooks.glue("rnn_row_ntrain", f"{len(data[0].labels):,}")
full_row = reproduce.load_result("rnn_row_mnist")
reproduce.show_result("rnn_row_mnist", metrics=[f"{k}.test_accuracy" for k in M.KINDS])
"""),
code("""
if full_row is not None:
    assert full_row["summary"]["lstm.test_accuracy"]["mean"] >= 0.98
if P.profile == "standard":
    assert row["lstm"].last["test_accuracy"] > 0.8
""", tags=CHECK),
md("""
(rnn-char)=
## A character-level language model

"Language" without a download: the Python standard library's own source files are on every
machine that runs this notebook. A fixed list of modules is read (`lessons_lib.sequences.STDLIB_FILES`);
their text differs a little between Python versions, so the corpus record names the version, the
files and a hash of the text. The last 10% of the text is held out for validation.
"""),
code("""
vocab, train, val, corpus = E.char_data(P.seq_len, P.max_chars)
print(f"Python {corpus['python']}: {len(corpus['files'])} files, {corpus['chars']:,} characters used, "
      f"sha256 {corpus['sha256'][:16]}...")
print(", ".join(f["file"] for f in corpus["files"]))
print(f"vocabulary: {len(vocab)} characters; train windows {tuple(train[0].shape)}, validation {tuple(val[0].shape)}")
"""),
md("""
The model embeds each character (32 numbers), runs the recurrent layer, and a linear layer gives
at *every* step the scores of the next character: outputs of shape (batch, steps, vocabulary).
The Trainer's loss is then the mean cross-entropy over every (sequence, step) pair, `E.char_loss`,
and the validation perplexity is its exponential: the number of equally likely characters the
model is, on average, hesitating between.
"""),
code("""
chars = {}
for kind in M.KINDS:
    chars[kind] = E.train_char_lm(kind, vocab, train, val, P.char_epochs, P.char_hidden, lr=P.char_lr,
                                  device=device, verbose=True)
print(f"{'model':6s} {'val perplexity':>15s} {'train time (s)':>15s}")
for kind, tr in chars.items():
    ppl = math.exp(tr.history.last["test_loss"])
    notebooks.glue(f"rnn_ppl_{kind}", ppl)
    print(f"{kind.upper():6s} {ppl:15.2f} {sum(tr.history.column('time')):15.0f}")
notebooks.glue("rnn_vocab", len(vocab));
"""),
code("""
assert all(math.exp(tr.history.last["test_loss"]) < len(vocab) for tr in chars.values())
""", tags=CHECK),
md("""
A model that knew nothing would score a perplexity of {glue:text}`rnn_vocab` (the vocabulary);
after this profile's short training the validation perplexities are {glue:text}`rnn_ppl_rnn:.2f`
(RNN), {glue:text}`rnn_ppl_lstm:.2f` (LSTM) and {glue:text}`rnn_ppl_gru:.2f` (GRU). Samples,
prompted with `def ` and drawn at three temperatures (the logits are divided by the temperature
before the softmax: low is cautious and repetitive, high is adventurous and misspelt):
"""),
code("""
best = min(chars, key=lambda k: chars[k].history.last["test_loss"])
for temperature in (0.5, 0.8, 1.2):
    print(f"--- {best.upper()}, temperature {temperature} ---")
    print("def " + sample_text(chars[best].model, vocab, "def ", P.sample_chars, temperature))
"""),
md("""
The full profile (256 units, 30 epochs on the whole corpus, windows of 128 characters). Besides the
last epoch's validation perplexity, the record gives the lowest over the epochs and the epoch that
reached it: a best epoch well before the last says that the model had begun to overfit.
"""),
code("""
full_char = reproduce.load_result("rnn_char")
reproduce.show_result("rnn_char", metrics=[f"{k}.{m}" for k in M.KINDS
                                           for m in ("val_perplexity", "best_val_perplexity", "best_epoch")])
if full_char is not None:
    for kind, by_t in full_char["runs"][0]["samples"].items():
        for t, text in by_t.items():
            print(f"--- {kind.upper()}, temperature {t} ---\\ndef {text}")
    print("corpus:", {k: v for k, v in full_char["runs"][0]["settings"]["corpus"].items() if k != "files"})
"""),
md("""
## Exercises

:::{exercise}
:label: rnn-ex-row-order
Read the MNIST images column by column instead of row by row (transpose each image). Does the
accuracy change? What about reading the rows bottom to top?
:::
:::{solution} rnn-ex-row-order
:class: dropdown
```python
from lessons_lib.data import Split
train, test = data
flip = lambda s: Split(s.images.transpose(1, 2).contiguous(), s.labels, s.name + " transposed")
h = E.train_row_mnist("lstm", P.mnist_epochs, P.mnist_hidden, (flip(train), flip(test)), lr=P.mnist_lr,
                      device=device).history
print(h.last["test_accuracy"])
```
Columns carry as much information as rows, so the accuracy stays close; the difference you
measure is of the order of the seed-to-seed spread. Reversing the order changes which strokes
are closest to the read-out, which again matters little at 28 steps.
:::

:::{exercise}
:label: rnn-ex-temperature
Compute the validation perplexity of the LSTM when its logits are divided by a temperature of 0.5,
1 and 2. Which is lowest, and why does sampling at 0.5 still look better to a human?
:::
:::{solution} rnn-ex-temperature
:class: dropdown
```python
import torch.nn.functional as F
model = chars["lstm"].model.eval()
with torch.no_grad():
    for t in (0.5, 1.0, 2.0):
        logits = model(val[0][:256].to(device)) / t
        print(t, math.exp(E.char_loss(logits, val[1][:256].to(device)).item()))
```
Of these three, temperature 1 is lowest: it is the one the model was trained at, minimising this
cross-entropy on the training text; 0.5 makes it overconfident and 2 too unsure. (On held-out text
that differs from the training text, a model that has become overconfident can score slightly better
at a temperature a little above 1: try 1.2. Choosing that temperature on validation data is a
simple form of calibration.) Sampling at 0.5 favours the most likely characters, which gives
locally clean but repetitive text, not a better fit to the data.
:::
"""),
REFS,
REPORT,
]


def write(cells, name):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = ROOT / "book" / name
    nbformat.write(nb, path)
    print("wrote", path)


def patch_markdown(cells, name):
    """Replace only the markdown of an executed notebook (the code cells must be unchanged)."""
    path = ROOT / "book" / name
    nb = nbformat.read(path, as_version=4)
    body = nb.cells[1:]  # after the setup cell
    if len(body) != len(cells) or any(a.cell_type != b.cell_type or (a.cell_type == "code" and a.source != b.source)
                                       for a, b in zip(body, cells)):
        raise SystemExit(f"{name}: code cells changed; regenerate and execute instead")
    for a, b in zip(body, cells):
        if a.cell_type == "markdown":
            a.source = b.source
    nbformat.write(nb, path)
    print("patched markdown of", path)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--markdown-only"]:
        names = sys.argv[2:] or ["rnn", "apps"]
        if "rnn" in names:
            patch_markdown(rnn, "rnn.ipynb")
        if "apps" in names:
            patch_markdown(apps, "rnn_applications.ipynb")
        sys.exit(0)
    which = sys.argv[1:] or ["rnn", "apps"]
    if "rnn" in which:
        write(rnn, "rnn.ipynb")
    if "apps" in which:
        write(apps, "rnn_applications.ipynb")
