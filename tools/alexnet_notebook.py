"""Writes book/alexnet.ipynb (then run: python -m lessons_lib.notebooks book/alexnet.ipynb)."""
import nbformat
from nbformat.v4 import new_notebook

from lessons_lib.notebooks import code_cell, markdown_cell

cells = []


def md(s):
    cells.append(markdown_cell(s))


def code(s, tags=(), alt=None):
    cells.append(code_cell(s, tags, alt))


md(r"""
(alexnet)=
# AlexNet, measured, and a CNN recap

In 2012 a convolutional network won the ImageNet challenge by a margin nobody expected
{cite}`krizhevsky2012imagenet`. The seed's three AlexNet slides give its layer table, a
receptive-field claim, ImageNet facts, the techniques that made it trainable (ReLU,
regularisation, two GPUs) and a picture of its first-layer filters; a recap slide then names what
all CNNs share (weight sharing, feature maps, pooling). This chapter builds the network three
ways, checks each of the seed's statements against the paper, and measures what can be measured
on MNIST: the same data as the {ref}`LeNet chapter <lenet>`, so the two networks can be compared
directly.

The plan: the architecture (three readings of the table, with parameters and multiply-adds) ->
receptive fields -> ImageNet in numbers -> ReLU against tanh -> dropout and augmentation ->
an AlexNet-style network trained on MNIST, against LeNet -> two GPUs then and data parallelism
now -> the learned filters -> the CNN recap -> exercises.
""")

code(r"""
import subprocess, sys, time
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Code, Markdown, display

from lessons_lib import config, distributed, inspect, plot, pretrained
from lessons_lib.data import mnist
from lessons_lib.device import pick_device
from lessons_lib.experiments import alexnet as ex
from lessons_lib.experiments.lenet import train_lenet
from lessons_lib.models import AlexNet2012, LeNet, MnistAlexNet, SeedAlexNet, TorchvisionAlexNet
from lessons_lib.notebooks import glue
from lessons_lib.reproduce import load_result, show_result

device = pick_device()
""")

md(r"""
The settings of every experiment on this page, for the three profiles (`LESSONS_PROFILE`): the
standard profile trains narrow AlexNet-style networks on 64 x 64 digits on a CPU; the full
profile trains the full-width network on 224 x 224 digits on a GPU (its stored results are
loaded from `results/` further down).
""")

code(r"""
P = config.settings(
    smoke=dict(source="sample", resolution=64, net=ex.NARROW, n_train=512, n_test=300, epochs=1,
               relu_n_train=1024, chunk_steps=2, chunks=3,
               reg_n_train=256, reg_n_test=300, reg_epochs=2, shift_n_train=512, shift_epochs=1),
    standard=dict(source="full", resolution=64, net=ex.MEDIUM, n_train=20000, n_test=10000, epochs=2,
                  relu_n_train=20000, chunk_steps=10, chunks=20,
                  reg_n_train=1000, reg_n_test=2000, reg_epochs=60, shift_n_train=10000, shift_epochs=2),
    full=dict(source="full", resolution=224, net=ex.FULL, n_train=None, n_test=None, epochs=3,
              relu_n_train=None, chunk_steps=20, chunks=23,
              reg_n_train=1000, reg_n_test=None, reg_epochs=60, shift_n_train=None, shift_epochs=2),
)
P
""")

# ---------------------------------------------------------------- architecture
md(r"""
(alexnet-architectures)=
## The architecture, three ways

The seed's AlexNet slides are reproduced in the appendix ({ref}`the lecture's AlexNet part <seed-alexnet>`); the LeNet chapter reconciled {ref}`its own table <lenet-model>` the same way.

The seed's table:

> | Layer | Input Shape | Receptive Field | Number of Kernels | Type |
> |---|---|---|---|---|
> | 1 | 224 X 224 X 3 | 11 X 11, stride 4 | 96 | Convolutional |
> | 2 | | 3 X 3, stride 2 | | Pooling |
> | 3 | 55 X 55 X 96 | 5 X 5 | 256 | Convolutional |
> | 4 | | 3 X 3, stride 2 | | Pooling |
> | 5 | 13 X 13 X 256 | 3 X 3, padded | 384 | Convolutional |
> | 6 | 13 X 13 X 384 | 3 X 3, padded | 384 | Convolutional |
> | 7 | 13 X 13 X 384 | 3 X 3 | 256 | Convolutional |
> | 8 | 43264 | 1 X 1 | 4096 | Fully Connected |
> | 9 | 4096 | 1 X 1 | 4096 | Fully Connected |
> | 10 | 4096 | | 1000 | Softmax |

Three networks fit this table more or less well, and they differ by a factor of three in size.
Each is a class in `lessons_lib.models.alexnet` that reads like its table. First, the seed's
table taken literally:
""")

code(r"""
display(Code(inspect_source := __import__("inspect").getsource(SeedAlexNet), language="python"))
""")

code(r"""
seed_table = inspect.layer_table(SeedAlexNet(), SeedAlexNet.input_size)
seed_table
""", tags=["nbval-check-output"])

md(r"""
Three things in the seed's table do not add up, and this class settles each one:

* **224 or 227.** An 11 x 11 convolution with stride 4 and no padding maps 224 pixels to
  (224 - 11) / 4 + 1 = 54.25, that is 54, not the 55 the table implies. From 227 it gives
  (227 - 11) / 4 + 1 = 55 exactly; torchvision keeps 224 and pads by 2: (224 + 4 - 11) / 4 + 1 = 55.25 -> 55.
  The cell below feeds the seed's network 224 x 224 and shows where the shapes go.
* **55 x 55 x 96 as the input of layer 3.** That is the output of layer 1, *before* the pooling
  of layer 2 (which gives 27 x 27 x 96); the row skips the pooling. The 13 x 13 of layer 5 needs both
  poolings: 55 -> 27 -> 13.
* **43,264 inputs to layer 8** = 13 x 13 x 256: the output of layer 7 with no pooling after it. The
  paper pools once more, to 6 x 6 x 256 = 9,216. That one omission multiplies the first
  fully-connected layer by 43,264 / 9,216 = 4.7.
""")

code(r"""
at_224 = inspect.layer_table(SeedAlexNet().features, (3, 224, 224))
print("the seed's features at 224 x 224:", " -> ".join(inspect.fmt_shape(L.output_shape) for L in at_224 if L.type != "ReLU"))
last = at_224[-1].output_shape
print(f"flattened: {last[0]} x {last[1]} x {last[2]} = {last[0] * last[1] * last[2]:,} inputs, not 43,264")
assert (227 - 11) // 4 + 1 == 55 and (224 - 11) / 4 + 1 == 54.25 and 13 * 13 * 256 == 43264 and 6 * 6 * 256 == 9216
""", tags=["nbval-check-output"])

md(r"""
Second, the network of the 2012 paper {cite}`krizhevsky2012imagenet`: the same kernel counts, local
response normalisation after the first two convolutions, a third pooling, and the two-GPU split.
The paper's kernel shapes say it: 256@5x5x**48**, 384@3x3x256, 384@3x3x**192**, 256@3x3x**192**.
Layers 2, 4 and 5 see only the half of the previous layer's maps that lives on their own GPU; in
code that is a grouped convolution, `groups=2`.
""")

code(r"""
display(Code(__import__("inspect").getsource(AlexNet2012.__init__), language="python"))
paper_table = inspect.layer_table(AlexNet2012(), AlexNet2012.input_size)
paper_table
""", tags=["nbval-check-output"])

md(r"""
Third, torchvision's `alexnet`, which is not the 2012 network but the single-GPU variant of
Krizhevsky's "one weird trick" paper {cite}`krizhevsky2014weird`: 64-192-384-256-256 kernels, no LRN,
no groups, and padding 2 in the first layer so that 224 x 224 works.
""")

code(r"""
tv_table = inspect.layer_table(TorchvisionAlexNet(), TorchvisionAlexNet.input_size)
tv_table
""", tags=["nbval-check-output"])

code(r"""
tables = {"the seed's table (227 x 227)": seed_table, "the 2012 paper (227 x 227, groups=2)": paper_table,
          "torchvision alexnet (224 x 224)": tv_table}
rows = ["| network | parameters | vs. the paper's 60 million | multiply-adds per image | in the first fc layer |",
        "|---|---:|---:|---:|---:|"]
for name, t in tables.items():
    fc1 = next(L for L in t if L.type == "Linear")
    rows.append(f"| {name} | {t.total_params:,} | {t.total_params / 60e6:.2f} x | {t.total_macs / 1e9:.3f} G "
                f"| {fc1.params:,} ({fc1.params / t.total_params:.0%}) |")
display(Markdown("\n".join(rows)))
glue("seed_params_m", seed_table.total_params / 1e6)
glue("paper_params_m", paper_table.total_params / 1e6)
glue("tv_params_m", tv_table.total_params / 1e6)
extra_fc = (43264 - 9216) * 4096
glue("extra_fc_m", extra_fc / 1e6)
group_saving = sum(L.params for L in inspect.layer_table(AlexNet2012(groups=1), (3, 227, 227))) - paper_table.total_params
glue("group_saving_m", group_saving / 1e6)
glue("group_saving_gmacs", (inspect.layer_table(AlexNet2012(groups=1), (3, 227, 227)).total_macs - paper_table.total_macs) / 1e9)
""", tags=["nbval-check-output"])

code(r"""
assert paper_table.total_params == 60_965_224 and tv_table.total_params == 61_100_840
assert seed_table.total_params - paper_table.total_params == extra_fc + group_saving
assert abs(tv_table.total_macs / 1e9 - 0.71) < 0.01  # facts.md: about 0.71 G multiply-adds
""", tags=["remove-input"])

md(r"""
The paper's network has {glue:text}`paper_params_m:.1f` million parameters: its "60 million". The
seed's table, read literally, has {glue:text}`seed_params_m:.1f` million, for two reasons that add up
exactly (checked in the hidden cell above):

* the missing third pooling: (43,264 - 9,216) x 4,096 = {glue:text}`extra_fc_m:.1f` million extra
  weights in the first fully-connected layer;
* no groups: a full 5 x 5 x 96 (instead of x 48) and 3 x 3 x 384 (instead of x 192) kernel in
  layers 2, 4 and 5 adds {glue:text}`group_saving_m:.2f` million.

torchvision's variant has {glue:text}`tv_params_m:.1f` million: fewer kernels in layers 1, 2 and 5 but
no groups, and the same 9,216 -> 4,096 layer. The last column shows where the parameters are: in the
first fully-connected layer, while the multiply-adds are in the convolutions (compare the tables).
""")

# ---------------------------------------------------------------- receptive fields
md(r"""
(alexnet-receptive-fields)=
## Receptive fields

The arithmetic and the gradient measurement are those of {ref}`LeNet's receptive fields <lenet-receptive-fields>`, now over more layers, with padding and strides of 4 and 2.

> Receptive field of the layer 7 is ~ 52 pixels !! which is almost as big as an object part (about
> one – fourth of the input image)

`inspect.layer_table` computes each layer's receptive field from kernel sizes and strides
(r_out = r_in + (k - 1) x jump_in); `inspect.empirical_receptive_field` measures it: the input pixels
whose gradient is non-zero for the centre unit of the layer. The table numbers the layers as the
seed does (convolutions and poolings, 1 to 7, then the fully-connected layers).
""")

code(r"""
feats = AlexNet2012().features
geom = [L for L in inspect.layer_table(feats, (3, 227, 227)) if L.type in ("Conv2d", "MaxPool2d")]
seed_numbers = [1, 2, 3, 4, 5, 6, 7, "(8: the paper's third pooling)"]
rows = ["| seed's layer | type | output | receptive field (formula) | measured (gradient) | fraction of 224 |",
        "|---|---|---|---|---|---:|"]
rf = {}
for n, L in zip(seed_numbers, geom):
    h, w, _ = inspect.empirical_receptive_field(feats, (3, 227, 227), L.name)
    assert (h, w) == L.rf, (L.name, (h, w), L.rf)
    rf[n] = L.rf[0]
    rows.append(f"| {n} | {L.type} {inspect._fmt_pair(L.kernel)}/{L.stride[0]} | {inspect.fmt_shape(L.output_shape)} "
                f"| {L.rf[0]} x {L.rf[1]} | {h} x {w} | {L.rf[0] / 224:.0%} |")
display(Markdown("\n".join(rows)))
glue("rf_layer7", rf[7])
glue("rf_layer3", rf[3])
glue("rf_layer3_frac", rf[3] / 224)
glue("rf_layer7_frac", rf[7] / 224)
""", tags=["nbval-check-output"])

code(r"""
assert rf[3] == 51 and rf[7] == 163
""", tags=["remove-input"])

md(r"""
Layer 7 (the fifth convolution) sees {glue:text}`rf_layer7` x {glue:text}`rf_layer7` pixels,
{glue:text}`rf_layer7_frac:.0%` of the 224-pixel width, not ~52. The layer with about 52 is
layer 3, the *second* convolution: {glue:text}`rf_layer3` x {glue:text}`rf_layer3` pixels,
{glue:text}`rf_layer3_frac:.0%` of the width, "about one fourth of the input". The slide most likely
gave the second convolutional layer's field (the second *convolutional* layer, if one counts
convolutions only) and attached it to the wrong row; by the time the network reaches layer 7 each
unit sees most of the image. Both numbers are the *theoretical* field; the effective field, where
the gradient is large rather than merely non-zero, is smaller and roughly Gaussian.
""")

# ---------------------------------------------------------------- ImageNet
md(r"""
(alexnet-imagenet)=
## ImageNet in numbers

| the seed says | the published numbers |
|---|---|
| "15 million images in over 22,000 categories" | over 15 million labelled high-resolution images in roughly 22,000 categories {cite}`krizhevsky2012imagenet` |
| "(ILSVRC), used about 1000 of these categories" | a 1000-category subset: about 1.2 million training, 50,000 validation and 150,000 test images {cite}`krizhevsky2012imagenet,russakovsky2015imagenet` |
| "Average human-level performance is about 96%" | not from the AlexNet paper. Russakovsky et al. report one trained annotator's top-5 error of 5.1% on 1,500 test images (about 95% top-5 accuracy) {cite}`russakovsky2015imagenet`, measured in 2014 |
| "AlexNet was the earliest systems to break the 80% mark" | top-5, not top-1: 15.3% top-5 test error in ILSVRC-2012 with an ensemble (84.7% top-5 accuracy); its top-1 error on ILSVRC-2010 was 37.5% (62.5% accuracy) {cite}`krizhevsky2012imagenet` |
| "Non-neural conventional techniques were unable to achieve such performance" | the second-best ILSVRC-2012 entry, with hand-designed features, had 26.2% top-5 error {cite}`krizhevsky2012imagenet` |

**Top-5 error** counts a prediction as correct when the true class is among the five classes
with the highest scores. ImageNet's classes overlap and many photos hold several objects, so
the challenge scored the best five guesses. On MNIST's ten classes top-5 is a weak test; the
{ref}`training section <alexnet-mnist>` shows it on real predictions of the network trained here.
""")

# ---------------------------------------------------------------- ReLU
md(r"""
(alexnet-relu)=
## ReLU against tanh

> AlexNet was the first prominent network to feature ReLU

The paper's evidence is its Figure 1: "a four-layer convolutional neural network with ReLUs
reaches a 25% training error rate on CIFAR-10 six times faster than an equivalent network with
tanh neurons" {cite}`krizhevsky2012imagenet`. The experiment here is the same in form: one
network, one seed (so both start from the same weights), no regularisation, the training error
read every few steps, on MNIST digits resized to 64 x 64 (CIFAR-10 is not available offline).
MNIST is much easier than CIFAR-10: a reasonable network passes 25% training error within the
first epoch, so the curve is read every {glue:text}`chunk_steps` steps and the table also gives
the time to 10% and 5%. Both use the paper's SGD at learning rate 0.01; the exercises try others.
""")

code(r"""
relu_data = mnist(P.source, n_train=P.relu_n_train, n_test=P.n_test)
steps_per_epoch = len(relu_data[0].labels) // ex.RECIPE["batch_size"]
frac = P.chunk_steps / steps_per_epoch
glue("chunk_steps", P.chunk_steps)
curves = {}
for act in ("relu", "tanh"):
    tr = ex.train_alexnet(relu_data, P.resolution, **ex.NARROW, epochs=P.chunks, activation=act, dropout=0.0,
                          device=device, chunk_steps=P.chunk_steps, evaluate=False, live_plot=False, verbose=False)
    curves[act] = tr.history
""")

code(r"""
fig, ax = plt.subplots(figsize=(6, 3.6))
for act, h in curves.items():
    e = np.arange(1, len(h) + 1) * frac
    ax.plot(e, [1 - a for a in h.column("train_accuracy")], "-o", ms=3, label=act)
ax.axhline(0.25, color="grey", ls="--", lw=1, label="25% training error")
ax.set(xlabel="epochs", ylabel="training error (running, per interval)", ylim=(0, 1),
       title="ReLU against tanh: the same network and seed on MNIST 64 x 64")
ax.legend(); ax.grid(alpha=0.3)
plt.show()
""", alt="Training error against epochs for the ReLU and the tanh version of the same network, with a line at 25%.")

code(r"""
speed = {}
run_epochs = P.chunks * frac  # how long each run trained
rows = ["| training error reached | ReLU (epochs) | tanh (epochs) | tanh / ReLU |", "|---|---:|---:|---:|"]
for thr in (0.25, 0.10, 0.05):
    r, t = (ex.epochs_to_error(curves[a], thr, frac) for a in ("relu", "tanh"))
    speed[thr] = t / r
    # a run that never got there: say so, and bound the ratio by the length of the run
    cell = lambda v: f"{v:.3f}" if np.isfinite(v) else f"not within {run_epochs:.2f}"
    ratio = (f"{t / r:.2f}" if np.isfinite(t / r) else f"> {run_epochs / r:.2f}" if np.isfinite(r)
             else f"< {t / run_epochs:.2f}" if np.isfinite(t) else "-")
    rows.append(f"| {thr:.0%} | {cell(r)} | {cell(t)} | {ratio} |")
display(Markdown("\n".join(rows)))
glue("relu_25", ex.epochs_to_error(curves["relu"], 0.25, frac))
glue("tanh_25", ex.epochs_to_error(curves["tanh"], 0.25, frac))
glue("speedup_25", speed[0.25])
glue("run_epochs", run_epochs)
assert np.isfinite(speed[0.25]) or P.profile == "smoke", "both networks must reach 25% training error"
first = "ReLU" if speed[0.25] > 1 else "tanh"
glue("relu_verdict", Markdown(f"{first} got there first, {max(speed[0.25], 1 / speed[0.25]):.1f} times sooner"
                              if np.isfinite(speed[0.25]) else "at least one of them did not get there in this run"),
     display=False)
show_result("alexnet_relu_tanh", metrics=["relu_epochs_to_25pct", "tanh_epochs_to_25pct", "speedup_25pct",
                                          "speedup_10pct", "speedup_5pct"])
""")

md(r"""
Here ReLU reached 25% training error after {glue:text}`relu_25:.3f` epochs and tanh after
{glue:text}`tanh_25:.3f`: {glue:md}`relu_verdict` (a ratio tanh / ReLU of
{glue:text}`speedup_25:.2f`, where the paper reports about 6 on CIFAR-10). The setting differs from
the paper's in ways that matter: an eight-layer network with a narrow bottleneck; an initialisation
with std sqrt(1 / fan-in) for both (in calibration runs PyTorch's default left both networks at
chance for the first hundred steps, and He's sqrt(2 / fan-in), which suits ReLU, made the first steps
blow up); one learning rate for both instead of the best one for each; and a task whose 25% mark
comes within the first epoch, before saturation, tanh's weakness, has much chance to matter. The
lower thresholds in the table test the later phase; "not within" means the run of
{glue:text}`run_epochs:.2f` epochs ended first, and the ratio is then a bound. The full-profile line
above is the same experiment with the full-width network at 224 x 224 on a GPU.
""")

# ---------------------------------------------------------------- regularisation
md(r"""
(alexnet-regularisation)=
## Dropout and augmentation

> The size could lead to instability during training or inability to learn, if without proper
> regularization

AlexNet used dropout (probability 0.5) in the first two fully-connected layers
{cite}`srivastava2014dropout,krizhevsky2012imagenet` and augmentation: random 224 x 224 crops of
256 x 256 images, horizontal flips and colour noise. For digits the analogue of random crops is a
random shift by a few pixels (`DeviceLoader(shift=2)`, on the 28 x 28 image before resizing); flips
would turn digits into other shapes. To make overfitting visible in a few minutes, the network
trains on {glue:text}`reg_n` images only, for {glue:text}`reg_epochs` epochs, and is tested after
every epoch on {glue:text}`reg_n_test` test images; four runs switch each technique on and off.
""")

code(r"""
reg_data = mnist(P.source, n_train=P.reg_n_train, n_test=P.reg_n_test)
glue("reg_n", P.reg_n_train); glue("reg_epochs", P.reg_epochs); glue("reg_n_test", len(reg_data[1].labels))
configs = {"neither": (0.0, 0), "dropout": (0.5, 0), "shifts": (0.0, 2), "dropout + shifts": (0.5, 2)}
reg = {}
for name, (p_drop, shift) in configs.items():
    tr = ex.train_alexnet(reg_data, P.resolution, **ex.NARROW, epochs=P.reg_epochs, dropout=p_drop, shift=shift,
                          device=device, live_plot=False, verbose=False)
    reg[name] = tr.history
""")

code(r"""
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for name, h in reg.items():
    ep = h.column("epoch")
    axes[0].plot(ep, h.column("test_accuracy"), "-o", ms=2, label=name)
    axes[1].plot(ep, [a - b for a, b in zip(h.column("train_accuracy"), h.column("test_accuracy"))], "-o", ms=2, label=name)
axes[0].set(xlabel="epoch", ylabel="test accuracy", title="test accuracy per epoch")
axes[1].set(xlabel="epoch", ylabel="train accuracy - test accuracy", title="generalisation gap per epoch")
for ax in axes:
    ax.grid(alpha=0.3); ax.legend()
fig.suptitle(f"Regularisation on {P.reg_n_train} training images")
plt.show()
""", alt="Two panels: test accuracy and the train-minus-test accuracy gap per epoch for the four combinations of dropout and shifts.")

md(r"""
Accuracy hides how confident the network is; the test loss (cross-entropy) does not. A network that
memorises its training images keeps driving its training loss down, and becomes confidently wrong
on the test digits it gets wrong, so its test loss turns up while the test accuracy stays flat:
""")

code(r"""
fig, ax = plt.subplots(figsize=(6, 3.6))
for name, h in reg.items():
    ax.plot(h.column("epoch"), h.column("test_loss"), "-", label=name)
ax.set(xlabel="epoch", ylabel="test loss (cross-entropy, nats)", ylim=(0, None),
       title=f"Test loss per epoch, {P.reg_n_train} training images")
ax.grid(alpha=0.3); ax.legend()
plt.show()
""", alt="Test loss against epochs for the four combinations of dropout and shifts.")

code(r"""
rows = ["| run | train accuracy | test accuracy | gap | train loss | test loss: lowest (epoch) -> last "
        "| largest one-epoch fall of test accuracy (epoch) |", "|---|---:|---:|---:|---:|---:|---:|"]
summary = {}
for name, h in reg.items():
    L, test_acc, test_loss = h.last, h.column("test_accuracy"), h.column("test_loss")
    low = int(np.argmin(test_loss))
    falls = [a - b for a, b in zip(test_acc[:-1], test_acc[1:])]
    fall_at = int(np.argmax(falls)) if falls else 0
    s = summary[name] = dict(train=L["train_accuracy"], test=L["test_accuracy"], gap=L["train_accuracy"] - L["test_accuracy"],
                             low_loss=test_loss[low], low_epoch=low + 1, last_loss=test_loss[-1],
                             fall=max(falls, default=0.0), fall_from=test_acc[fall_at], fall_to=test_acc[min(fall_at + 1, len(test_acc) - 1)],
                             fall_epoch=fall_at + 2)
    rows.append(f"| {name} | {s['train']:.4f} | {s['test']:.4f} | {s['gap']:+.4f} | {L['train_loss']:.4f} | "
                f"{s['low_loss']:.3f} ({s['low_epoch']}) -> {s['last_loss']:.3f} | {s['fall']:.2f} ({s['fall_epoch']}) |")
    key = name.replace(" + ", "_")
    glue(f"gap_{key}", s["gap"]); glue(f"test_{key}", s["test"])
display(Markdown("\n".join(rows)))
n = summary["neither"]
glue("train_neither", n["train"])
glue("fit_verdict", Markdown(
    f"fits its {P.reg_n_train} training images (training accuracy {n['train']:.4f})" if n["train"] >= 0.99 else
    f"does not fit its {P.reg_n_train} training images in this run (training accuracy {n['train']:.4f})"), display=False)
rise = n["last_loss"] - n["low_loss"]
glue("overfit_verdict", Markdown(
    f"its test loss was lowest, {n['low_loss']:.3f}, after epoch {n['low_epoch']} and rose to {n['last_loss']:.3f} "
    f"by epoch {P.reg_epochs} ({rise / n['low_loss']:+.0%})" if rise > 0.02 else
    f"its test loss did not rise after its minimum ({n['low_loss']:.3f} at epoch {n['low_epoch']}, "
    f"{n['last_loss']:.3f} at the end)"), display=False)
calm = min(summary, key=lambda k: summary[k]["fall"])
glue("instability_verdict", Markdown(
    f"the unregularised run's test accuracy fell from {n['fall_from']:.2f} to {n['fall_to']:.2f} at epoch "
    f"{n['fall_epoch']} before it recovered; the largest such fall of each run is in the last column "
    f"(smallest: {calm}, {summary[calm]['fall']:.2f})"), display=False)
others = [k for k in summary if k != "neither"]
smaller = [k for k in others if summary[k]["gap"] < n["gap"]]
glue("gap_verdict", Markdown(
    f"{len(smaller)} of the 3 regularised runs ({', '.join(smaller) or 'none'}) end with a smaller gap than the "
    f"unregularised one"), display=False)
best = max(reg, key=lambda k: reg[k].last["test_accuracy"])
glue("reg_best", Markdown(f"**{best}**"), display=False);
""")

md(r"""
Without regularisation the network {glue:md}`fit_verdict`, and the gap between training and test
accuracy is {glue:text}`gap_neither:+.3f` after the last epoch, at a test accuracy of
{glue:text}`test_neither:.4f`. The test loss shows the overfitting more plainly than the accuracy:
{glue:md}`overfit_verdict`. The seed's "instability during training" is there too, early on:
{glue:md}`instability_verdict`. With SGD at the paper's learning rate and momentum, a few bad
steps can throw a small network far from where it was; it then has to relearn.

Each technique in turn: dropout trains a different thinned network on every step, so the training
accuracy it reports is that of a handicapped network (gap {glue:text}`gap_dropout:+.3f`, test
{glue:text}`test_dropout:.4f`); shifts show the network new versions of each digit, so there is less
to memorise (gap {glue:text}`gap_shifts:+.3f`, test {glue:text}`test_shifts:.4f`); both together give
{glue:text}`gap_dropout_shifts:+.3f` and {glue:text}`test_dropout_shifts:.4f`: {glue:md}`gap_verdict`.
The best test accuracy after {glue:text}`reg_epochs` epochs: {glue:md}`reg_best`. A negative gap
would mean that the regularised training batches are harder than the clean test set.
""")

# ---------------------------------------------------------------- MNIST training
md(r"""
(alexnet-mnist)=
## An AlexNet-style network on MNIST, against LeNet

`MnistAlexNet` keeps AlexNet's sequence: an 11 x 11 stride-4 stem, three overlapping 3 x 3
stride-2 poolings, five convolutions, two dropout fully-connected layers. At the full profile it has
torchvision's widths and sees digits resized to 224 x 224 (trained on a GPU with bf16 autocast and
channels_last); at the standard profile the digits are 64 x 64 and the layers narrower. Its table at
the active profile:
""")

code(r"""
net_table = inspect.layer_table(MnistAlexNet(P.resolution, **P.net), (1, P.resolution, P.resolution))
net_table
""")

code(r"""
data = mnist(P.source, n_train=P.n_train, n_test=P.n_test)
alex = ex.train_alexnet(data, P.resolution, **P.net, epochs=P.epochs, device=device)
""", alt="Training and test loss and accuracy per epoch of the AlexNet-style network.")

code(r"""
lenet = train_lenet("caffe", epochs=P.epochs, device=device, data=data, live_plot=False, verbose=False)
lenet_table = inspect.layer_table(LeNet(), (1, 28, 28))
res = {"LeNet (28 x 28, the LeNet chapter's recipe)": (lenet, lenet_table),
       f"AlexNet-style ({P.resolution} x {P.resolution})": (alex, net_table)}
rows = ["| network | test accuracy | parameters | multiply-adds per image | seconds per epoch (this machine) |",
        "|---|---:|---:|---:|---:|"]
for name, (tr, t) in res.items():
    h = tr.history
    rows.append(f"| {name} | {h.last['test_accuracy']:.4f} | {t.total_params:,} | {t.total_macs / 1e6:.1f} M | "
                f"{np.mean(h.column('time')):.1f} |")
display(Markdown(f"After {P.epochs} epoch(s) on {len(data[0].labels):,} training images, tested on "
                 f"{len(data[1].labels):,}:\n\n" + "\n".join(rows)))
glue("alex_acc", alex.history.last["test_accuracy"])
glue("lenet_acc", lenet.history.last["test_accuracy"])
glue("alex_over_lenet_macs", net_table.total_macs / lenet_table.total_macs)
better = "AlexNet-style network" if alex.history.last["test_accuracy"] > lenet.history.last["test_accuracy"] else "LeNet"
glue("mnist_better", Markdown(f"the {better} is ahead"), display=False)
show_result("alexnet_mnist")
""")

md(r"""
At this profile the AlexNet-style network reaches {glue:text}`alex_acc:.4f` and LeNet
{glue:text}`lenet_acc:.4f` after the same epochs on the same images, with
{glue:text}`alex_over_lenet_macs:.1f` times LeNet's multiply-adds per image: {glue:md}`mnist_better`
at this budget. MNIST does not need AlexNet's size, which was built for 1000 classes of 224 x 224
photographs; the difference here says more about how fast each recipe converges than about capacity. The full-profile run
above (when measured) is the real-size network on 224 x 224 digits; the {ref}`LeNet chapter <lenet>`
trains LeNet for the seed's 75 epochs.

Now top-5, on real predictions. The network's five highest-scoring classes for the test digits it was
least sure about:
""")

code(r"""
_, test_loader = ex.loaders(*data, P.resolution, device=device)
top1, top5 = 1 - alex.history.last["test_accuracy"], ex.top_k_error(alex.model, test_loader, k=5)
glue("top1_err", top1); glue("top5_err", top5)
x_test = torch.cat([x for x, _ in test_loader]); y_test = torch.cat([y for _, y in test_loader])
with torch.no_grad():
    probs = alex.model.eval()(x_test).softmax(-1)
order = probs.max(-1).values.argsort()[:8]
fig, axes = plt.subplots(2, 8, figsize=(13, 3.6), gridspec_kw={"height_ratios": [1.2, 1]})
for col, i in enumerate(order.tolist()):
    axes[0, col].imshow(x_test[i, 0].cpu(), cmap="gray"); axes[0, col].axis("off")
    axes[0, col].set_title(f"label {int(y_test[i])}", fontsize=9)
    p, c = probs[i].topk(5)
    colours = ["tab:green" if int(k) == int(y_test[i]) else "tab:grey" for k in c]
    axes[1, col].barh(range(5)[::-1], p.cpu(), color=colours)
    axes[1, col].set_yticks(range(5)[::-1], [str(int(k)) for k in c]); axes[1, col].set_xlim(0, 1); axes[1, col].set_xticks([0, 0.5])
    axes[1, col].set_xlabel("probability", fontsize=8)
axes[1, 0].set_ylabel("top-5 classes")
fig.suptitle("The 8 least confident test predictions and their top 5 (green: the true label)")
plt.show()
print(f"top-1 error {top1:.4f}, top-5 error {top5:.4f}")
# where the true label sits in the ranking, over every test digit the network gets wrong
rank = (probs.argsort(-1, descending=True) == y_test[:, None].to(probs.device)).float().argmax(-1) + 1
wrong_rank = rank[rank > 1].cpu()
glue("n_wrong", len(wrong_rank))
glue("wrong_rank2", float((wrong_rank == 2).float().mean())); glue("wrong_rank3", float((wrong_rank == 3).float().mean()))
glue("wrong_top5", float((wrong_rank <= 5).float().mean()))
print("rank of the true label among the wrong predictions:", {r: int((wrong_rank == r).sum()) for r in range(2, 11)})
""", alt="Eight hard test digits with bar charts of the five most probable classes; the true class is green.")

md(r"""
The top-1 error is {glue:text}`top1_err:.4f` and the top-5 error {glue:text}`top5_err:.4f`. Of the
{glue:text}`n_wrong` test digits whose first guess is wrong, the true digit is the second guess for
{glue:text}`wrong_rank2:.0%` and the third for {glue:text}`wrong_rank3:.0%`; {glue:text}`wrong_top5:.0%`
of them are within the top five, and count as correct for top-5. With ten classes, five guesses cover
half the label space, which is why MNIST reports top-1 and ImageNet's 1000 classes made top-5 the
headline.
""")

md(r"""
(alexnet-speed)=
### Speed: the trainer against a bare loop

Every run on this page goes through lessons_lib's `Trainer` (history, live plots, checkpoints,
bf16 and channels_last on a GPU). What that costs is measured by `benchmarks/alexnet_throughput.py`:
the same AlexNet-style network, optimiser and device-resident batches, trained by the `Trainer` and
by a bare loop of five lines, in one run, best of two; on a GPU at 224 x 224 with bf16 and
channels_last, where the `Trainer` should keep at least 90% of the bare loop's images per second.
The stored runs (CPU always, GPU when one was available), read from `results/benchmarks/`:
""")

code(r"""
import re
from lessons_lib.reproduce import RESULTS_DIR
logs = sorted((RESULTS_DIR / "benchmarks").glob("*/alexnet_throughput.log"))
rows = ["| stored run | setting | bare loop (images/s) | Trainer (images/s) | Trainer / bare |", "|---|---|---:|---:|---:|"]
gpu_ratios = {}
for log in logs:
    text = log.read_text()
    setting = text.splitlines()[0].removeprefix("device ")
    bare_ips, trainer_ips = (re.search(rf"^{k}:\s+([\d,]+) images/s", text, re.M).group(1) for k in ("bare loop", "Trainer"))
    ratio = float(re.search(r"^ratio Trainer / bare: ([\d.]+)", text, re.M).group(1))
    if not setting.startswith("CPU"):
        gpu_ratios[log.parent.name] = ratio
    rows.append(f"| `{log.parent.name}` | {setting} | {bare_ips} | {trainer_ips} | {ratio:.3f} |")
if logs:
    display(Markdown("\n".join(rows)))
else:
    print("no stored benchmark logs here (results/benchmarks/ comes with the repository; run benchmarks/alexnet_throughput.py)")
glue("speed_verdict", Markdown(
    "; ".join(f"on the GPU of `{k}` the Trainer kept {v:.1%} of the bare loop's throughput "
              f"({'meets' if v >= 0.9 else 'misses'} the 90% target)" for k, v in gpu_ratios.items())
    or "no GPU run is stored yet: the GPU figure is not yet measured"), display=False);
""")

md(r"""
{glue:md}`speed_verdict`. Each folder's `README.md` says how and on what its logs were made. In
either case the work is in the convolutions; the trainer's own bookkeeping is a few tensor
additions per step, kept on the device until the end of the epoch.
""")

# ---------------------------------------------------------------- multi-GPU
md(r"""
(alexnet-multi-gpu)=
## Two GPUs in 2012, data parallelism now

> Features multi-GPU training (originally trained the networks on two Nvidia GTX 580 GPUs with 3GB)

The grouped model shows what each GPU held: half of every layer's kernels (the `groups=2` halves of
layers 2, 4 and 5, and in the paper also half of layers 1 and 3 and of the fully-connected layers),
exchanging maps only at layer 3 and the fully-connected layers. Per GPU, from `AlexNet2012`'s layers
(a kernel of a grouped layer sees only its own GPU's maps, `in_channels / groups` of them; a layer
with `groups=1` needs the other GPU's half of its input):
""")

code(r"""
model_2012 = AlexNet2012()
t2012 = {L.name: L for L in inspect.layer_table(model_2012, AlexNet2012.input_size)}
rows = ["| layer (the paper's numbering) | kernels or units per GPU | each one sees | inputs from | parameters per GPU | values per image from the other GPU |",
        "|---|---:|---|---|---:|---:|"]
per_gpu, exchanged = 0, 0
for i, (name, m) in enumerate((n, m) for n, m in model_2012.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))):
    L = t2012[name]
    if isinstance(m, torch.nn.Conv2d):
        units, sees = m.out_channels // 2, f"{m.kernel_size[0]} x {m.kernel_size[1]} x {m.in_channels // m.groups}"
        own = m.groups == 2 or i == 0  # layer 1 reads the image, which both GPUs hold
    else:
        units, sees, own = m.out_features // 2, f"{m.in_features:,} values", False
    from_other = 0 if own else int(np.prod(L.input_shape)) // 2
    per_gpu += L.params / 2; exchanged += from_other
    where = "the image (a copy on each GPU)" if i == 0 else "its own GPU" if own else "both GPUs"
    rows.append(f"| {i + 1} ({type(m).__name__} `{name}`) | {units:,} | {sees} | {where} | {L.params / 2:,.0f} | {from_other:,} |")
display(Markdown("\n".join(rows)))
assert per_gpu * 2 == paper_table.total_params
glue("per_gpu_params_m", per_gpu / 1e6); glue("exchanged_k", exchanged / 1e3)
glue("exchanged_mb_batch", exchanged * 4 * 128 / 2**20)
""", tags=["nbval-check-output"])

md(r"""
Each GPU held {glue:text}`per_gpu_params_m:.1f` million parameters. The split costs traffic only
where a layer reads both halves: {glue:text}`exchanged_k:.1f` thousand values per image from the
other GPU (in each direction), {glue:text}`exchanged_mb_batch:.0f` MiB per batch of 128 in 32-bit
floats, plus the same again for the gradients flowing back. The 1000-way output layer is counted
as split evenly, like the two layers before it. The memory for training at the paper's batch of
128, in 32-bit floats, from the layer table:
""")

code(r"""
mem = distributed.training_memory(AlexNet2012(), (3, 227, 227), batch_size=128, optimizer_slots=1)
mem["activation gradients"] = mem["activations"]  # upper bound: a buffer per activation in the backward pass
mem["total"] = sum(v for k, v in mem.items() if k != "total")
mem["total"] = mem.pop("total")  # last row
gb = 2**30
rows = ["| item | one GPU (GiB) | each of two GPUs (GiB) |", "|---|---:|---:|"]
for k, v in mem.items():
    rows.append(f"| {k} | {v / gb:.2f} | {v / 2 / gb:.2f} |")
rows.append(f"| GTX 580 memory (3 GiB) | {3 * gb / gb:.2f} | {3 * gb / gb:.2f} |")
display(Markdown("\n".join(rows)))
glue("mem_total", mem["total"] / gb); glue("mem_half", mem["total"] / 2 / gb)
glue("mem_spare", 3 - mem["total"] / gb)
glue("mem_act", mem["activations"] / gb); glue("mem_weights", mem["weights"] / gb)
""", tags=["nbval-check-output"])

md(r"""
Weights, their gradients and the momentum buffer take {glue:text}`mem_weights:.2f` GiB each; the
activations of a batch of 128 images take {glue:text}`mem_act:.2f` GiB, and their gradients at most as
much again (an upper bound: a framework can free them layer by layer): in all about
{glue:text}`mem_total:.1f` GiB. Against 3 GiB that leaves {glue:text}`mem_spare:.1f` GiB for
convolution workspace, the input batches, the framework and the driver: tight, and the paper says
its networks were "too big to fit on one GPU" {cite}`krizhevsky2012imagenet`. Split in two, each GPU
needed about {glue:text}`mem_half:.1f` GiB of the above. Most of it is activations, not weights: the
batch of 128 costs more memory than the 61 million parameters.

Today one GPU holds the whole model, and several GPUs split the *data* instead: each process keeps a
full copy of the network and a shard of the (device-resident) data set, computes gradients on its
part of the global batch, and `DistributedDataParallel` averages the gradients across processes with
an all-reduce before every optimiser step, so all copies stay identical. lessons_lib's `Trainer` works
under `torchrun` unchanged: it sums each epoch's loss and accuracy over the processes and prints,
plots and writes checkpoints on rank 0. The whole script is `lessons_lib/distributed.py`:
""")

code(r"""
display(Code(__import__("inspect").getsource(distributed.train), language="python"))
""")

md(r"""
Run it with one process per GPU:

```bash
# one machine with N GPUs
torchrun --standalone --nproc_per_node=N -m lessons_lib.distributed --model alexnet --epochs 2 --batch-size 256
# M machines with N GPUs each: the same line on every machine, with node_rank = 0 ... M-1
torchrun --nnodes=M --node_rank=R --nproc_per_node=N --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 \
    -m lessons_lib.distributed --model alexnet --epochs 2 --batch-size 256
```

Here, on a CPU, two processes with the gloo backend train LeNet for 3 epochs on the 3,000 images of
the sample that ships with lessons_lib (so that it takes seconds), each process on its half of every
batch of 64. The test
`tests/test_distributed.py` runs the same command and checks that the final weights equal those of
one process trained on the same global batches.
""")

code(r"""
cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
       "lessons_lib.distributed", "--model", "lenet", "--source", "sample", "--epochs", "3"]
print(" ".join(["torchrun"] + cmd[3:]))
if P.profile == "smoke":  # CI: tests/test_distributed.py runs (and checks) the same command
    print("(not run at the smoke profile)")
else:
    t0 = time.time()
    run = subprocess.run(cmd, capture_output=True, text=True, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    print(run.stdout.strip())
    print(f"({time.time() - t0:.0f} s including start-up)")
    assert run.returncode == 0, run.stderr[-2000:]
""", tags=["hide-input"])

# ---------------------------------------------------------------- filters
md(r"""
(alexnet-filters)=
## The learned filters

The seed's "AlexNet filters" slide shows the 96 first-layer kernels of the 2012 network: oriented
edges and gratings, and colour blobs (the colour ones mostly on one GPU, the black-and-white ones on
the other). The first-layer kernels of the network trained above on digits:
""")

code(r"""
w1 = alex.model.features[0].weight.detach().cpu()
ax = plot.image_grid(w1, nrow=int(np.ceil(len(w1) / 12)), title=f"first-layer kernels, {w1.shape[-1]} x {w1.shape[-1]}, trained on MNIST")
plt.show()
""", alt="Grid of the first-layer 11 by 11 kernels of the network trained on MNIST.")

md(r"""
After {glue:text}`epochs_trained` epochs they still look like their random initialisation: the
kernels moved by {glue:text}`w1_change:.0%` of their initial size (root mean square). What training
*added* is clearer: the difference between the trained kernels and the initial ones (rebuilt from the
same seed):
""")

code(r"""
from lessons_lib.device import seed_everything
seed_everything(0)  # train_alexnet's seed: the same initial weights
w0 = MnistAlexNet(P.resolution, **P.net).features[0].weight.detach().cpu()
glue("w1_change", float((w1 - w0).norm() / w0.norm())); glue("epochs_trained", P.epochs)
plot.image_grid(w1 - w0, nrow=int(np.ceil(len(w1) / 12)), title="what training changed: trained minus initial first-layer kernels")
plt.show()
""", alt="Grid of the differences between the trained and the initial first-layer kernels.")

code(r"""
state = pretrained.alexnet_weights(timeout=5)
if state is not None:
    w = state["features.0.weight"]
    plot.image_grid(w, nrow=8, title="torchvision alexnet: first-layer kernels (ImageNet)")
    plt.show()
""", alt="torchvision's ImageNet first-layer AlexNet kernels, when they can be downloaded.")

md(r"""
The changes are smooth blobs and strokes at the scale of a pen stroke in the upsampled digit, not
the crisp oriented gratings and colour blobs of the slide: MNIST has no texture or colour to pay for
them, training was short, and the stride-4 stem sees digits upsampled from 28 pixels. The ImageNet
kernels (in Colab, or wherever the download works) show the paper's picture.
""")

# ---------------------------------------------------------------- recap
md(r"""
(alexnet-cnn-recap)=
## CNN recap: weight sharing and pooling

The {ref}`recap slide <seed-cnn-recap>` sums up both chapters; {ref}`lenet-weight-sharing` counted the same saving for LeNet against locally connected and dense layers.

> The concept of weightsharing through kernels. Weight-sharing enables learnable kernels, which in
> turn define feature maps. The idea of pooling.

**Weight sharing.** A convolution applies the same small kernel at every position, so its output is
a *feature map*: one detector, swept across the image. A dense layer with the same input and output
sizes would have a weight for every (input, output) pair:
""")

code(r"""
rows = ["| layer | input -> output | convolution parameters | dense layer, same sizes | ratio |", "|---|---|---:|---:|---:|"]
examples = [("LeNet conv 1", LeNet().features[0], (1, 28, 28)), ("LeNet conv 2", LeNet().features[3], (20, 12, 12)),
            ("AlexNet 2012 conv 2 (groups=2)", AlexNet2012().features[4], (96, 27, 27)),
            ("AlexNet 2012 conv 5 (groups=2)", AlexNet2012().features[12], (384, 13, 13))]
dense = {}
for name, conv, shape in examples:
    out = conv(torch.zeros(1, *shape)).shape[1:]
    n_in, n_out = int(np.prod(shape)), int(np.prod(out))
    conv_p = sum(p.numel() for p in conv.parameters())
    dense_p = n_in * n_out + n_out
    dense[name] = dense_p
    rows.append(f"| {name} | {inspect.fmt_shape(shape)} -> {inspect.fmt_shape(tuple(out))} | {conv_p:,} | {dense_p:,} | {dense_p / conv_p:,.0f} |")
display(Markdown("\n".join(rows)))
glue("dense_conv2_g", dense["AlexNet 2012 conv 2 (groups=2)"] / 1e9)
glue("dense_conv2_x", dense["AlexNet 2012 conv 2 (groups=2)"] / paper_table.total_params)
""", tags=["nbval-check-output"])

md(r"""
The ratio is the number of positions times the sparsity of each kernel's connections: the dense
version of AlexNet's second convolution alone would have {glue:text}`dense_conv2_g:.1f` billion
weights, {glue:text}`dense_conv2_x:.0f` times the whole network.

**Pooling and small shifts.** Max pooling reports the strongest response in a window, so a feature
that moves by a pixel inside the window gives the same output: a little invariance to small shifts.
To measure how much, two networks are trained the same way: `pool="max"`, and `pool="none"`, where
each 3 x 3 stride-2 pooling is replaced by taking the window's centre pixel (`Subsample`): the same
shapes and the same subsampling, no max. Each test image is then moved 1 to 4 pixels to the right
(of the 64-pixel network input) and the prediction compared with the unshifted one.
""")

code(r"""
shift_data = mnist(P.source, n_train=P.shift_n_train, n_test=P.n_test)
_, shift_test = ex.loaders(*shift_data, P.resolution, device=device)
x_shift = torch.cat([x for x, _ in shift_test])
sens, acc = {}, {}
for pool in ("max", "none"):
    tr = ex.train_alexnet(shift_data, P.resolution, **ex.NARROW, epochs=P.shift_epochs, pool=pool, device=device,
                          live_plot=False, verbose=False)
    acc[pool] = tr.history.last["test_accuracy"]
    sens[pool] = ex.shift_sensitivity(tr.model, x_shift, shifts=(1, 2, 3, 4))
fig, ax = plt.subplots(figsize=(6, 3.6))
for pool, label in (("max", "max pooling"), ("none", "no pooling (centre pixel)")):
    ax.plot([1, 2, 3, 4], [sens[pool][d]["changed"] for d in (1, 2, 3, 4)], "-o", label=f"{label}, test acc. {acc[pool]:.3f}")
ax.set(xlabel="shift of the input (pixels, at 64 x 64)", ylabel="fraction of test predictions changed",
       title="How a small shift changes the prediction")
ax.grid(alpha=0.3); ax.legend()
plt.show()
for pool in ("max", "none"):
    print(pool, {d: round(v["changed"], 4) for d, v in sens[pool].items()})
glue("shift1_max", sens["max"][1]["changed"]); glue("shift1_none", sens["none"][1]["changed"])
glue("shift4_max", sens["max"][4]["changed"]); glue("shift4_none", sens["none"][4]["changed"])
fewer = [d for d in (1, 2, 3, 4) if sens["max"][d]["changed"] < sens["none"][d]["changed"]]
glue("shift_verdict", Markdown(
    f"max pooling changed fewer predictions at {len(fewer)} of the 4 shifts ({', '.join(map(str, fewer)) or 'none'} pixels)"),
    display=False);
""", alt="Fraction of test predictions that change against the shift in pixels, with and without max pooling.")

md(r"""
A one-pixel shift changes {glue:text}`shift1_max:.2%` of the predictions with max pooling and
{glue:text}`shift1_none:.2%` without; at four pixels, {glue:text}`shift4_max:.2%` and
{glue:text}`shift4_none:.2%`: {glue:md}`shift_verdict`. Without the max, the network's answer depends
on which pixels the subsampling grid happens to hit, and a shift changes that at every stage; with
it, a feature that moves inside a 3 x 3 window still gives the same maximum. Neither network is
invariant, though: the fraction of changed predictions grows with the shift in both. Training with
shifts (the augmentation above, and the exercise below) is the other remedy.
""")

# ---------------------------------------------------------------- exercises
md(r"""
## Exercises

:::{exercise}
:label: alexnet-ex-lr
The ReLU-vs-tanh comparison used one learning rate for both; the paper tuned each network's
separately. Repeat it with learning rates 0.003, 0.01 and 0.03 for each activation and compare the
*best* time to 25% and to 5% training error.
:::

:::{solution} alexnet-ex-lr
:class: dropdown
```python
for act in ("relu", "tanh"):
    for lr in (0.003, 0.01, 0.03):
        tr = ex.train_alexnet(relu_data, 64, **ex.NARROW, epochs=P.chunks, activation=act, dropout=0.0, lr=lr,
                              chunk_steps=P.chunk_steps, evaluate=False, live_plot=False, verbose=False)
        print(act, lr, [ex.epochs_to_error(tr.history, t, frac) for t in (0.25, 0.05)])
```
Take, for each activation, the smallest time over the three rates (`nan` means the run never got
there: a rate too high for that network, for instance ReLU units that die in the first steps). The
page does not run this grid (six runs of the experiment above); whichever way it comes out, the
ordering is a property of the network, the initialisation, the learning rate and the data, not of
the activation alone, which is why the paper compared networks that were otherwise the same.
:::

:::{exercise}
:label: alexnet-ex-groups
How many parameters and multiply-adds does `groups=2` save in `AlexNet2012`? Which layers change?
:::

:::{solution} alexnet-ex-groups
:class: dropdown
```python
a, b = (inspect.layer_table(AlexNet2012(groups=g), (3, 227, 227)) for g in (1, 2))
print(a.total_params - b.total_params, a.total_macs - b.total_macs)
```
Layers 2, 4 and 5 (the convolutions with `groups=2`) halve: {glue:text}`group_saving_m:.2f` million
parameters and {glue:text}`group_saving_gmacs:.2f` G multiply-adds per image fewer.
:::

:::{exercise}
:label: alexnet-ex-rf
Where does the receptive field of layer 7 cover the whole 227-pixel input? Add a sixth 3 x 3
convolution after layer 7 and compute its receptive field with `inspect.layer_table`; how many such
layers make a unit see the whole image?
:::

:::{solution} alexnet-ex-rf
:class: dropdown
Each 3 x 3 convolution at jump 16 adds 2 x 16 = 32 pixels: 163 -> 195 -> 227. Two more
convolutions give 227, the whole input; the paper's third pooling (+32 at jump 16) also reaches 195.
:::

:::{exercise}
:label: alexnet-ex-shift
Train the `pool="none"` network with `shift=2` augmentation and measure `shift_sensitivity` again.
Does augmentation or pooling do more for robustness to shifts?
:::

:::{solution} alexnet-ex-shift
:class: dropdown
```python
tr = ex.train_alexnet(shift_data, P.resolution, **ex.NARROW, epochs=P.shift_epochs, pool="none", shift=2,
                      live_plot=False, verbose=False)
ex.shift_sensitivity(tr.model, x_shift)
```
Compare its `changed` fractions with `sens["max"]` and `sens["none"]` from the figure above. Pooling
buys invariance within a 3 x 3 window at each of three stages, whatever the data; augmentation
teaches the invariance to exactly the shifts it showed (here up to 2 pixels of the 28-pixel digit,
about 4.6 pixels at 64 x 64), and only as well as training went. The page does not run this
experiment; the answer is whichever the measurement gives.
:::

## References

```{bibliography}
:filter: docname in docnames
```
""")

code(r"""
import lessons_lib; lessons_lib.report()
""")

nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                         "language_info": {"name": "python"}})
nbformat.write(nb, "book/alexnet.ipynb")
print("wrote book/alexnet.ipynb with", len(cells), "cells")
