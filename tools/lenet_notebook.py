"""Write book/lenet.ipynb (unexecuted). Then: python -m lessons_lib.notebooks book/lenet.ipynb
and LESSONS_DATA=... python -m lessons_lib.execute book/lenet.ipynb."""
import nbformat
from nbformat.v4 import new_notebook

from lessons_lib.notebooks import code_cell, markdown_cell

cells = []


def md(text):
    cells.append(markdown_cell(text))


def code(src, tags=(), alt=None):
    cells.append(code_cell(src, tags, alt))


md("""
(lenet)=
# LeNet on MNIST: the seed's table, its receptive fields, and its 99.38%

The lecture's LeNet slides are reproduced in the appendix ({ref}`the lecture's LeNet part <seed-lenet>`).

The lecture this course checks opens with LeNet. It gives a table of six layers, two remarks
about receptive fields, and one result:

> Each pixel in layer 3 corresponds to 7/3 of a pixel in the input
>
> Receptive field of layer 1 is 5X5
>
> This is after training the network for 75 epochs with a learning rate of 0.01. Produces an
> accuracy of 99.38% on the MNIST dataset.

This chapter turns each of these lines into something computed on the page. We build the
network from the table and let the library recompute the table from the code; we compute the
receptive field and the jump of every layer, measure them with gradients and draw them over a
digit, and find out what "7/3 of a pixel" can mean; we train with the exact recipe the table
comes from (Caffe's MNIST example {cite}`jia2014caffe`), look at what the network learned, and
count what weight sharing saves. The seed's 99.38% is compared with runs of 75 epochs on a GPU,
over several seeds, read from files that record how they were made.
""")

code("""
import inspect as pyinspect
from fractions import Fraction

import matplotlib.pyplot as plt
import torch
from IPython.display import Code

from lessons_lib import config, reproduce
from lessons_lib.data import DeviceLoader, mnist
from lessons_lib.device import pick_device, seed_everything
from lessons_lib.experiments.lenet import RECIPE, VARIANTS, experiment_name, profile_settings, train_lenet
from lessons_lib.inspect import empirical_receptive_field, fmt_shape, layer_table, theoretical_box
from lessons_lib.models.lenet import LeNet, lenet_dense, lenet_locally_connected, mlp
from lessons_lib.notebooks import glue
from lessons_lib.optim import SGD, caffe_inv
from lessons_lib.plot import confusion_matrix, image_grid, plot_confusion
from lessons_lib.train import Trainer
from lessons_lib.visualize import Table, confident_errors, draw_receptive_fields, feature_maps, predict
""")

md("""
The settings of the three profiles, side by side. `epochs` is the length of the main training
run, `variant_epochs` that of each variant in the comparison table; `source` picks the full
MNIST (60,000 training and 10,000 test digits) or the small sample shipped with the library.
""")

code("""
P = config.settings(
    smoke=dict(epochs=1, source="sample", n_train=None, variant_epochs=1),
    standard=dict(epochs=5, source="full", n_train=None, variant_epochs=2),
    full=dict(epochs=75, source="full", n_train=None, variant_epochs=75),
)
device = pick_device()
P
""")

code("""
# the registered experiments use the same settings
assert vars(P) == vars(profile_settings(P.profile)), (vars(P), vars(profile_settings(P.profile)))
assert P.variant_epochs <= P.epochs
""", tags=["remove-input"])

md("""
(lenet-model)=
## The network, from the seed's table

The seed's table, quoted as it is printed:

| Layer | Input shape | Receptive field | Feature maps | Type |
|---|---|---|---|---|
| 1 | 28 X 28 X 1 | 5 X 5 | 20 | Convolutional |
| 2 | 24 X 24 X 20 | 2 X 2 | | Pooling |
| 3 | 12 X 12 X 20 | 5 X 5 | 50 | Convolutional |
| 4 | 8 X 8 X 50 | 2 X 2 | | Pooling |
| 5 | 800 | 1 X 1 | 500 | Fully connected |
| 6 | 500 | | 10 | Softmax |

It is Caffe's `lenet.prototxt`, a simplification of LeCun's LeNet-5 {cite}`lecun1998gradient`
(which had 32 x 32 inputs, 6 and 16 maps, trainable subsampling and squashing functions).
Caffe's file puts no activation after the convolutions and a ReLU after the 500-unit layer
only. The model in the library reads like the table; this is its source, the one copy of it:
""")

code("""
Code(pyinspect.getsource(LeNet), language="python")
""")

md("""
The library runs one zero image through the model and tabulates every layer: output shape
(H x W x C as in the seed), kernel, stride, padding, receptive field and jump (both in input
pixels, explained in the next section), parameters and multiply-adds. The identity layers are
the places where the `conv_relu` variant puts its ReLUs; dropout is off in Caffe's net.
""")

code("""
model = LeNet()
table = layer_table(model, (1, 28, 28))
table
""", tags=["nbval-check-output"])

md("""
Row by row against the seed. The seed's "receptive field" column holds each layer's window in
its *own* input (the kernel: 5 x 5, 2 x 2, ...), not the receptive field in the image, so we
compare it with our kernel column and show the receptive field in the image beside it. The
fully connected layer 5 counts as a 1 x 1 window over an 800-vector; the softmax of layer 6 is
applied inside the loss (`F.cross_entropy`) after the last linear layer.
""")

code("""
SEED = [  # the seed's table: (layer, input shape, receptive field, feature maps, type)
    (1, "28 X 28 X 1", "5 X 5", "20", "Convolutional"),
    (2, "24 X 24 X 20", "2 X 2", "", "Pooling"),
    (3, "12 X 12 X 20", "5 X 5", "50", "Convolutional"),
    (4, "8 X 8 X 50", "2 X 2", "", "Pooling"),
    (5, "800", "1 X 1", "500", "Fully Connected"),
    (6, "500", "", "10", "Softmax"),
]
OURS = {1: "features.0", 2: "features.2", 3: "features.3", 4: "features.5", 5: "classifier.1", 6: "classifier.4"}
TYPES = {"Conv2d": "Convolutional", "MaxPool2d": "Pooling", "Linear": "Fully Connected"}


def our_row(n, L):
    window = "1 X 1" if L.kernel is None else f"{L.kernel[0]} X {L.kernel[1]}"
    maps = "" if L.type == "MaxPool2d" else str(L.output_shape[0])  # the seed leaves pooling's maps blank
    kind = "Softmax" if n == 6 else TYPES[L.type]
    return fmt_shape(L.input_shape).replace("x", "X"), window, maps, kind


rows, matches = [], []
for n, shape, window, maps, kind in SEED:
    L = table.find(OURS[n])
    ours = our_row(n, L)
    ok = all(s == o for s, o in zip((shape, window, maps, kind), ours) if s != "")
    matches.append(ok)
    rf_image = "whole image" if L.rf is None else f"{L.rf[0]} x {L.rf[1]}"
    rows.append((n, L.name, f"{shape} | {ours[0]}", f"{window or '-'} | {ours[1]}", rf_image,
                 f"{maps or '-'} | {ours[2] or '-'}", f"{kind} | {ours[3]}", "yes" if ok else "NO"))
Table(["layer", "ours", "input: seed | ours", "window: seed | ours", "receptive field in the image",
       "maps: seed | ours", "type: seed | ours", "match"], rows)
""", tags=["nbval-check-output"])

code("""
assert all(matches), matches
assert table.find("features.0").rf == (5, 5)  # "Receptive field of layer 1 is 5X5"
assert table.total_params == 431_080
glue("lenet_params", table.total_params)
glue("fc1_params", table.find("classifier.1").params)
""", tags=["remove-input"])

md("""
All six rows match. The network has {glue:text}`lenet_params:,` parameters, the "431K" that
{cite:t}`han2016deep` list for Caffe's LeNet-5 reference model; {glue:text}`fc1_params:,` of them are in layer 5.

(lenet-receptive-fields)=
## Receptive fields and jumps

The *receptive field* of a unit is the patch of input pixels that can change its value; the
*jump* of a layer is the distance, in input pixels, between the receptive fields of two
neighbouring units of that layer. For a chain of convolutions and poolings with kernel $k$
and stride $s$ (no padding here), starting from $r_0 = 1$, $j_0 = 1$:

$$r_\\ell = r_{\\ell-1} + (k_\\ell - 1)\\, j_{\\ell-1}, \\qquad j_\\ell = j_{\\ell-1}\\, s_\\ell .$$

The library applies these formulas (`layer_table`) and, independently, measures them
(`empirical_receptive_field`): it back-propagates from one unit of a layer to the input and
finds the pixels with a non-zero gradient (with positive weights and average pooling in place
of max pooling, so that no path is silent). Measuring two neighbouring units gives the jump.
The last column is the ratio of the image's width to the layer's grid width, for the 7/3
discussion below.
""")

code("""
SPATIAL = {1: "features.0", 2: "features.2", 3: "features.3", 4: "features.5"}
rf_rows, measured = [], {}
for n, name in SPATIAL.items():
    L = table.find(name)
    h, w = L.output_shape[1:]
    rows_, cols_, box = empirical_receptive_field(model, (1, 28, 28), name, unit=(h // 2, w // 2))
    _, _, box_next = empirical_receptive_field(model, (1, 28, 28), name, unit=(h // 2, w // 2 + 1))
    jump = box_next[1] - box[1]
    measured[name] = ((rows_, cols_), jump)
    rf_rows.append((n, name, L.type, fmt_shape(L.output_shape), f"{L.rf[0]} x {L.rf[1]}", f"{rows_} x {cols_}",
                    L.jump[0], jump, f"centre unit ({h // 2}, {w // 2}): rows {box[0]}-{box[2]}, cols {box[1]}-{box[3]}",
                    str(Fraction(28, w))))
Table(["layer", "name", "type", "output", "receptive field (formula)", "receptive field (measured)",
       "jump (formula)", "jump (measured)", "measured box", "28 / grid width"], rf_rows)
""", tags=["nbval-check-output"])

code("""
for n, name in SPATIAL.items():
    L = table.find(name)
    assert measured[name] == (L.rf, L.jump[0]), (name, measured[name], L.rf, L.jump)
""", tags=["remove-input"])

md("""
Formula and measurement agree for every layer: 5, 6, 14 and 16 pixels, with jumps 1, 2, 2 and
4. Layer 5 sees the whole image: read as a 4 x 4 convolution over the 4 x 4 x 50 grid of layer
4 (which is what a fully connected layer on that grid is), its receptive field is
$16 + 3 \\cdot 4 = 28$ pixels, exactly the image. Here is one unit of each layer over a test
digit, at the centre of each layer's grid:
""")

code("""
train_split, test_split = mnist(P.source, n_train=P.n_train)
digit = test_split.images[0]
ax = draw_receptive_fields(model, digit, list(SPATIAL.values()),
                           title=f"receptive fields of the centre unit of layers 1-4 over a test '{int(test_split.labels[0])}'")
plt.show()
""", alt="A 28 by 28 handwritten digit with four nested squares of 5, 6, 14 and 16 pixels: the receptive fields of the centre unit of layers 1 to 4.")

md("""
### "Each pixel in layer 3 corresponds to 7/3 of a pixel in the input"

What could this mean? Layer 3's input is the 12 x 12 grid of layer 2, and the image is 28
pixels wide: $28 / 12 = 7/3$. The last column of the table above shows that 7/3 is exactly
this ratio and appears for no other layer (layer 3's own 8 x 8 output gives $28/8 = 7/2$). So
the statement divides the image evenly among the 12 columns of the grid. The measurement
says what one unit of that grid actually corresponds to:
""")

code("""
pool1 = table.find("features.2")
coverage = torch.zeros(28, 28, dtype=torch.int64)
lefts = []
for i in range(12):
    for j in range(12):
        _, _, (top, left, bottom, right) = empirical_receptive_field(model, (1, 28, 28), "features.2", unit=(i, j))
        coverage[top:bottom + 1, left:right + 1] += 1
        if i == 0:
            lefts.append(left)
steps = sorted({b - a for a, b in zip(lefts, lefts[1:])})
first, last = pool1.start[1], pool1.start[1] + 11 * pool1.jump[1]
print(f"receptive field of one unit of layer 3's input: {measured['features.2'][0][0]} x {measured['features.2'][0][1]} pixels")
print(f"distance between neighbouring units (measured over all 11 pairs of a row): {steps} pixels")
print(f"centres of the 12 units of a row: from {first} to {last} (input columns)")
print(f"units that see an input pixel: min {coverage.min().item()} (corners), max {coverage.max().item()}")
print(f"image width / grid width: {Fraction(28, 12)} = {28 / 12:.3f}")
""", tags=["nbval-check-output"])

code("""
assert steps == [2] and measured["features.2"] == ((6, 6), 2)
assert coverage.min() == 1 and coverage.max() == 9
glue("pool1_first", first); glue("pool1_last", last)
""", tags=["remove-input"])

code("""
fig, axes = plt.subplots(1, 2, figsize=(10, 5.8), layout="constrained")
for ax, unit in zip(axes, [(0, 0), (11, 11)]):
    draw_receptive_fields(model, digit, ["features.2"], unit=unit, ax=ax, centres_of="features.2",
                          title=f"layer 3's input: unit {unit} and all 144 unit centres")
fig.suptitle("the 12 x 12 grid of layer 2 over the image: centres 2 pixels apart, fields of 6 pixels")
plt.show()
""", alt="Two copies of a digit with a 12 by 12 grid of red dots spaced 2 pixels apart, from column 2.5 to 24.5, and the 6 by 6 receptive field of the top-left and bottom-right units touching the image's corners.")

md("""
So, measured:

* **As a distance, it is 2, not 7/3.** Neighbouring units of layer 3's input are 2 input pixels
  apart (the jump: one 2 x 2 pooling of stride 2). Layer 3's own units are also 2 apart.
* **As a patch, it is 6 x 6, not 7/3.** Each unit of layer 3's input sees 6 x 6 pixels (5 x 5
  convolution, then 2 x 2 pooling); each unit of layer 3 sees 14 x 14. The patches overlap:
  an interior pixel is seen by 9 units of the grid, a corner pixel by 1.
* **What 7/3 is:** the image's 28 columns divided by the grid's 12. It differs from the jump
  because the unpadded 5 x 5 convolution trims the border: the 12 centres run from column
  {glue:text}`pool1_first` to {glue:text}`pool1_last`, 22 pixels apart, not across all 28.
  The ratio of widths equals the jump only when the convolutions are padded to keep the size
  (exercise {ref}`lenet-ex-padding`). "7/3 of a pixel" is therefore an average share of the
  image per unit, a bookkeeping figure that no unit of the network has: reading it as "each
  unit looks at 7/3 pixels" or "units are 7/3 pixels apart" would be wrong.

(lenet-training)=
## Training with Caffe's recipe

The seed says only "75 epochs with a learning rate of 0.01". The network is Caffe's, and so is
the solver behind that learning rate, `lenet_solver.prototxt` {cite}`jia2014caffe`. Stated
exactly:

| setting | value |
|---|---|
| optimiser | SGD, momentum 0.9, weight decay 0.0005 (L2, on all parameters) |
| learning rate | base 0.01, policy "inv": $\\text{lr} = 0.01\\,(1 + 10^{-4}\\, \\text{iter})^{-0.75}$, per iteration |
| batch | 64 images; 937 iterations per epoch (the last partial batch is dropped) |
| activations | none after the convolutions, ReLU after the 500-unit layer, softmax in the loss |
| inputs | pixel values times 1/256 (0.00390625), no mean subtraction, no augmentation |
| length | 75 epochs (the seed); Caffe's own example stops at 10,000 iterations, about 10.7 epochs |

Two details of Caffe's network file, `examples/mnist/lenet_train_test.prototxt` in the Caffe
repository, are not reproduced here: its Xavier weight initialisation (`weight_filler { type:
"xavier" }`; we keep PyTorch's default) and its doubled learning rate for biases (`lr_mult: 2` on
every bias). The recipe as the
library holds it, and the function that trains it:
""")

code("""
print(RECIPE)
Code(pyinspect.getsource(train_lenet), language="python")
""")

md("""
The standard profile trains for a few epochs on the full MNIST on the CPU (the learning-rate
schedule depends only on the iteration, so these epochs are the first epochs of the 75-epoch
run). The plot shows loss and accuracy per epoch.
""")

code("""
data = (train_split, test_split)
trainer = train_lenet("caffe", epochs=P.epochs, seed=0, device=device, data=data)
history = trainer.history
""", alt="Training curves of LeNet with Caffe's recipe: loss and accuracy per epoch for the training and test sets.")

code("""
acc = history.last["test_accuracy"]
glue("std_acc", acc)
glue("std_epochs", P.epochs)
glue("std_time", sum(history.column("time")))
if P.profile != "smoke":  # full MNIST: the chapter's floor
    assert acc >= 0.988, f"test accuracy {acc:.4f} after {P.epochs} epochs is below 98.8%"
""", tags=["remove-input"])

md("""
After {glue:text}`std_epochs` epochs ({glue:text}`std_time:.0f` s of training here) the test
accuracy is {glue:text}`std_acc:.2%`; Caffe's tutorial reports 98.97% after its 10,000
iterations.

(lenet-variants)=
## Variants: what closes the gap to 99.38%?

The seed does not say which network produced 99.38%. Three changes that were common by then
are registered as variants of the recipe, one added on top of the other: ReLUs after both
convolutions (`conv_relu`), dropout 0.5 before the last layer (`conv_relu_dropout`), and random
shifts of the training images by up to 2 pixels in each direction (`conv_relu_dropout_shift`).
First, each for a couple of epochs at this profile (the `caffe` row is the run above at the
same epoch):
""")

code("""
k = P.variant_epochs
runs = {"caffe": history[:k]}
for variant in VARIANTS:
    if variant != "caffe":
        runs[variant] = train_lenet(variant, epochs=k, seed=0, device=device, data=data,
                                    live_plot=False, verbose=False, progress=False).history
Table(["variant", "conv ReLU", "dropout", "shift (px)", f"test accuracy after {k} epoch(s)",
       "train accuracy", "seconds per epoch"],
      [(v, VARIANTS[v]["conv_relu"], VARIANTS[v]["dropout"], VARIANTS[v]["shift"],
        f"{h[-1]['test_accuracy']:.2%}", f"{h[-1]['train_accuracy']:.2%}",
        f"{sum(r['time'] for r in h) / len(h):.1f}") for v, h in runs.items()])
""")

md("""
After so few epochs the differences are a few tenths of a point at most, comparable to the
noise of one test set (next section) and of one seed: this table shows that every variant
trains, not which is best. The comparison needs the full 75 epochs and several seeds.

(lenet-full)=
## 75 epochs on a GPU, against the seed's 99.38%

Each variant is registered as an experiment (`python -m lessons_lib.reproduce lenet_caffe
--profile full`, and likewise `lenet_conv_relu`, `lenet_conv_relu_dropout`,
`lenet_conv_relu_dropout_shift`), trained for 75 epochs with 3 seeds. With `--batch-seeds` the
3 seeds train at once as one stacked model (`lessons_lib.ensemble`, built on `torch.func.vmap`):
every kernel of a step then covers all seeds. That is meant for a GPU, where one seed's step at
batch 64 leaves most of the device idle; `benchmarks/lenet_seeds.py` measures the seeds per minute
against one seed after another (on two CPU cores it gains nothing). The table is read from the files in `results/`, with the device and the time they
record; a variant without a file reads "not yet measured on a GPU".
""")

code("""
SEED_CLAIM = reproduce.get("lenet_caffe").claims[0]["value"]
full_rows, full = [], {}
for variant in VARIANTS:
    rec = reproduce.load_result(experiment_name(variant))
    if rec is None:
        full_rows.append((variant, "not yet measured on a GPU", "", "", "", "", ""))
        continue
    s = rec["summary"]["test_accuracy"]
    full[variant] = (rec, s)
    per_seed = ", ".join(f"{r['metrics']['test_accuracy']:.2%}" for r in rec["runs"])
    full_rows.append((variant, f"{s['mean']:.2%}", f"{s['std'] * 100:.2f} points", per_seed,
                      f"{(s['mean'] - SEED_CLAIM) * 100:+.2f} points", rec["environment"]["device"],
                      f"{rec['wall_time_s']:.0f} s for {s['n']} seeds"))
Table(["variant", "test accuracy, mean", "std over seeds", "per seed", "vs the seed's 99.38%", "device",
       "wall time"], full_rows, caption=f"75 epochs, Caffe's solver; the seed claims {SEED_CLAIM:.2%}")
""")

code("""
for variant, (rec, s) in full.items():
    print(f"{variant}: " + reproduce.provenance(rec))
""")

md("""
The published figures beside them: the seed's 99.38%; Caffe's tutorial, 98.97% after 10,000
iterations {cite}`jia2014caffe`; {cite:t}`han2016deep`, 0.80% error (99.20%) for the same
Caffe LeNet-5; {cite:t}`lecun1998gradient`, 0.95% error for the original LeNet-5 (0.8% with
distorted training images).
""")

code("""
if full:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for variant, (rec, s) in full.items():
        epochs = [r["epoch"] for r in rec["runs"][0]["history"]]
        errs = torch.tensor([[1 - r["test_accuracy"] for r in run["history"]] for run in rec["runs"]]) * 100
        ax.plot(epochs, errs.mean(0), label=f"{variant} (mean of {len(rec['runs'])} seeds)")
    ax.axhline((1 - SEED_CLAIM) * 100, color="k", ls="--", label="the seed's 99.38%")
    ax.set_ylim(0.3, 1.5)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.set_title("test error per epoch over 75 epochs (full profile, from results/)")
    ax.legend(fontsize=8)
    plt.show()
else:
    print("not yet measured on a GPU: no full-profile curves to show")
""", alt="Test error in percent against epoch for the four variants over 75 epochs, with a dashed line at the seed's 0.62% error.")

code("""
if full:
    for variant, (rec, s) in full.items():
        glue(f"full_{variant}", s["mean"])
        glue(f"full_{variant}_std", s["std"] * 100)
    glue("full_n", min(s["n"] for _, s in full.values()))
    closest = min(full, key=lambda v: abs(full[v][1]["mean"] - SEED_CLAIM))
    print("variant whose mean is closest to the seed's 99.38%:", closest)
""", tags=["remove-input"])

md("""
Read with the results files present (measured on one GPU, 3 seeds each): Caffe's recipe as it
is stops at {glue:text}`full_caffe:.2%` (± {glue:text}`full_caffe_std:.2f` points), short of
99.38% by more than any seed-to-seed spread; ReLUs after the convolutions add a little
({glue:text}`full_conv_relu:.2%`), dropout brings the mean to
{glue:text}`full_conv_relu_dropout:.2%`, and the random shifts to
{glue:text}`full_conv_relu_dropout_shift:.2%`. The seed's figure is thus reachable with
Caffe's network and solver plus dropout (within noise) or plus shifts (above it), not with the
plain recipe. If the table above says "not yet measured", these figures are the ones of the
committed results and the page should be re-executed after the GPU run.

(lenet-standard-error)=
## How precise is one test accuracy?

The test set has $n = 10{,}000$ digits. If the network's true error rate is $p$, the number of
errors on a random test set of that size is binomial, and the accuracy has standard error
$\\sqrt{p(1-p)/n}$, a figure that benchmark tables rarely quote:
""")

code("""
n_test = 10_000
se = (SEED_CLAIM * (1 - SEED_CLAIM) / n_test) ** 0.5
glue("se_points", se * 100)
glue("se_errors", se * n_test)
glue("se_95", 1.96 * se * 100)
glue("seed_errors", round((1 - SEED_CLAIM) * n_test))
print(f"standard error at {SEED_CLAIM:.2%} on {n_test:,} test digits: {se * 100:.3f} points "
      f"({se * n_test:.1f} digits); 95% interval ±{1.96 * se * 100:.2f} points")
""", tags=["nbval-check-output"])

md("""
About {glue:text}`se_points:.2f` points, or {glue:text}`se_errors:.0f` digits out of
{glue:text}`seed_errors` errors.
Two consequences. A single number such as 99.38% is compatible with any true accuracy within
about ±{glue:text}`se_95:.2f` points (95%), so a run at 99.30% does not contradict it; and a difference between two
single runs of a tenth of a point means nothing on its own. Repeating runs with several seeds
measures a different noise, that of training (initialisation, data order, dropout), on the
*same* 10,000 digits; that is the "std over seeds" column above. Both are needed before
declaring that one variant beats another: the gap between the plain recipe and the shifted
one is several times both, the gap between dropout and the seed's figure is not.

(lenet-learned)=
## What the network learned

The 20 filters of the first layer of the model trained above, each 5 x 5 and scaled to its
own range (white = most positive):
""")

code("""
net = trainer.model.cpu().eval()
filters = net.features[0].weight.detach()[:, 0]
ax = image_grid(filters, nrow=4, titles=[str(i) for i in range(20)],
                title="the 20 first-layer filters (5 x 5 each)")
plt.show()
""", alt="A grid of 20 small 5 by 5 grey filters; many look like oriented edge and stroke detectors.")

md("""
A test digit through every layer: the 20 maps of layer 1 (24 x 24), the same after pooling
(12 x 12), the 50 maps of layer 3 (8 x 8) and after pooling (4 x 4). Each map is scaled to
its own range.
""")

code("""
x = (digit.float() / 256)[None, None]
maps = feature_maps(net, x, list(SPATIAL.values()))
fig, axes = plt.subplots(1, 5, figsize=(16, 4.6), gridspec_kw=dict(width_ratios=[1.2, 2, 2, 1.6, 1.6]),
                         layout="constrained")
image_grid(x[0], ax=axes[0], title="input 28 x 28")
for ax, (n, name) in zip(axes[1:], SPATIAL.items()):
    m = maps[name][0]
    image_grid(m, nrow=5 if m.shape[0] == 20 else 10, ax=ax, title=f"layer {n}: {fmt_shape(tuple(m.shape))}")
fig.suptitle("one test digit through the convolution and pooling layers")
plt.show()
""", alt="A digit and its feature maps: 20 maps of 24 by 24, 20 of 12 by 12, 50 of 8 by 8 and 50 of 4 by 4, increasingly coarse.")

md("""
The confusion matrix over the test set (rows: true digit, columns: prediction):
""")

code("""
test_loader = DeviceLoader(test_split.images, test_split.labels, 1000, shuffle=False, scale=RECIPE["scale"])
probs, targets = predict(net, test_loader)
preds = probs.argmax(1)
ax = plot_confusion(confusion_matrix(targets, preds, 10),
                    title=f"confusion matrix, {len(targets):,} test digits ({(preds != targets).sum().item()} errors)")
plt.show()
""", alt="A 10 by 10 confusion matrix with a dominant diagonal and a few tens of off-diagonal errors.")

md("""
And the test digits it gets wrong with the highest confidence, labelled true -> predicted
(probability of the prediction). Several are ambiguous even to a reader; some have labels that
look wrong.
""")

code("""
idx, wrong_pred, conf = confident_errors(probs, targets, k=16)
fig, ax = plt.subplots(figsize=(7, 7.5))
image_grid(test_split.images[idx], nrow=4, pad=7, ax=ax,
           titles=[f"{int(targets[i])}->{int(p)} ({c:.0%})" for i, p, c in zip(idx, wrong_pred, conf)],
           title="most confidently wrong test digits: true -> predicted (confidence)")
plt.show()
""", alt="Sixteen misclassified test digits with their true and predicted labels and the network's confidence, most confident first.")

md("""
(lenet-weight-sharing)=
## Weight sharing

A convolution uses the same filters at every position. To see what that saves, the same
layers are built three more ways, as real modules whose parameters are counted:
*locally connected* (the same 5 x 5 windows, but a separate filter bank at each of the 24 x 24
and 8 x 8 positions: `LocallyConnected2d` in the library), *fully connected* with LeNet's
layer sizes (each unit of layers 1 and 3 sees the whole previous layer), and a plain
multilayer perceptron 784-500-10 with about LeNet's parameter count.
""")

code("""
def n_params(m):
    return sum(p.numel() for p in m.parameters())


def conv_part(m):  # parameters of the layers that replace the two convolutions
    return n_params(m) - n_params(m[-3]) - n_params(m[-1]) if isinstance(m, torch.nn.Sequential) else \\
        n_params(m.features)


nets = {"LeNet (shared 5 x 5 filters)": LeNet(), "same layers, locally connected": lenet_locally_connected(),
        "same layer sizes, fully connected": lenet_dense(), "MLP 784-500-10": mlp()}
counts = {k: n_params(m) for k, m in nets.items()}
Table(["network", "parameters", "in layers 1-4", "x LeNet"],
      [(k, f"{counts[k]:,}", f"{conv_part(m):,}" if "MLP" not in k else "-", f"{counts[k] / counts['LeNet (shared 5 x 5 filters)']:.1f}")
       for k, m in nets.items()])
""", tags=["nbval-check-output"])

code("""
assert counts["same layers, locally connected"] == 431_080 - 25_570 + 24 * 24 * 520 + 8 * 8 * 25_050
glue("lc_params", counts["same layers, locally connected"])
glue("dense_params", counts["same layer sizes, fully connected"])
glue("conv_params", conv_part(nets["LeNet (shared 5 x 5 filters)"]))
glue("lc_conv_params", conv_part(nets["same layers, locally connected"]))
""", tags=["remove-input"])

md("""
The two convolutions hold {glue:text}`conv_params:,` weights and biases; without sharing, the
same connections need {glue:text}`lc_conv_params:,` (one copy per position: 576 for layer 1 and
64 for layer 3), which brings the network to {glue:text}`lc_params:,` parameters; with full
connections it is {glue:text}`dense_params:,`. Sharing is also a prior: a stroke detector
learned in one place works everywhere. The perceptron has about LeNet's parameter count but
none of that prior; trained with the same recipe for the same epochs:
""")

code("""
seed_everything(0)
mlp_model = mlp().to(device)
mlp_opt = SGD(mlp_model.parameters(), lr=RECIPE["lr"], momentum=RECIPE["momentum"],
              weight_decay=RECIPE["weight_decay"], lr_lambda=caffe_inv(RECIPE["gamma"], RECIPE["power"]))
mlp_train = DeviceLoader(train_split.images, train_split.labels, RECIPE["batch_size"], shuffle=True, drop_last=True,
                         device=device, seed=0, scale=RECIPE["scale"])
mlp_test = DeviceLoader(test_split.images, test_split.labels, 1000, shuffle=False, device=device, scale=RECIPE["scale"])
mlp_hist = Trainer(mlp_model, mlp_opt, device=device, live_plot=False, verbose=False, progress=False).fit(
    mlp_train, mlp_test, epochs=P.variant_epochs)
glue("mlp_acc", mlp_hist.last["test_accuracy"])
glue("lenet_acc_k", runs["caffe"][-1]["test_accuracy"])
print(f"after {P.variant_epochs} epoch(s): MLP {mlp_hist.last['test_accuracy']:.2%}, "
      f"LeNet {runs['caffe'][-1]['test_accuracy']:.2%}")
""")

md("""
The perceptron reaches {glue:text}`mlp_acc:.2%` against LeNet's {glue:text}`lenet_acc_k:.2%`
at the same point: similar size, more errors. The difference is where the parameters go, not
how many there are.

## Exercises
""")

code("""
nopool = layer_table(LeNet(pool=None), (1, 28, 28))
glue("nopool_conv2", fmt_shape(nopool.find("features.3").output_shape))
glue("nopool_rf", nopool.find("features.5").rf[0])
glue("nopool_fc", nopool.find("classifier.1").params)
glue("nopool_total", nopool.total_params)
glue("nopool_macs", nopool.total_macs / table.total_macs)
padded = torch.nn.Sequential(torch.nn.Conv2d(1, 20, 5, padding=2), torch.nn.MaxPool2d(2),
                             torch.nn.Conv2d(20, 50, 5, padding=2), torch.nn.MaxPool2d(2))
pt = layer_table(padded, (1, 28, 28))
glue("pad_grid", pt[1].output_shape[1])
glue("pad_ratio", str(Fraction(28, pt[1].output_shape[1])))
glue("pad_jump", pt[1].jump[0])
glue("pad_rf", empirical_receptive_field(padded, (1, 28, 28), "1")[0])
glue("errors_gap", round((SEED_CLAIM - 0.992) * n_test))
glue("gap_in_se", (SEED_CLAIM - 0.992) / se)
""", tags=["remove-input"])

md("""
:::{exercise}
:label: lenet-ex-nopool
Remove both pooling layers (`LeNet(pool=None)`). Before running anything, predict the new
table: the output shape of layer 3, the receptive field and jump of the last spatial layer,
and the parameters of the first fully connected layer. Then check with `layer_table`.
:::

:::{solution} lenet-ex-nopool
:class: dropdown
Layer 3 now outputs {glue:text}`nopool_conv2` (two unpadded 5 x 5 convolutions: 28 -> 24 -> 20);
every jump is 1 and the receptive field of the last spatial layer is only
{glue:text}`nopool_rf` pixels (5 + 4). The first fully connected layer sees 20,000 inputs and
has {glue:text}`nopool_fc:,` parameters; the whole network {glue:text}`nopool_total:,`, and it
costs {glue:text}`nopool_macs:.1f` times LeNet's multiply-adds. Pooling is what makes the
receptive fields grow cheaply and keeps the classifier small.
:::

:::{exercise}
:label: lenet-ex-avgpool
Swap max pooling for average pooling (`train_lenet("caffe", ..., pool="avg")`). Predict
whether the test accuracy goes up or down, then measure it for the same number of epochs as
the variants table.
:::
""")

code("""
avg_hist = train_lenet("caffe", epochs=P.variant_epochs, seed=0, device=device, data=data, pool="avg",
                       live_plot=False, verbose=False, progress=False).history
glue("avg_acc", avg_hist.last["test_accuracy"])
glue("max_acc", runs["caffe"][-1]["test_accuracy"])
""", tags=["remove-cell"])

md("""
:::{solution} lenet-ex-avgpool
:class: dropdown
Measured with seed 0 for the variants' number of epochs: average pooling
{glue:text}`avg_acc:.2%`, max pooling {glue:text}`max_acc:.2%`. Without activations after the
convolutions, average pooling keeps layers 1-4 entirely linear (convolution, average,
convolution, average is one linear map), so the network's only non-linearity is the ReLU of
layer 5; max pooling is itself a non-linearity. Compare the gap with the standard error of
{ref}`lenet-standard-error` before concluding; for a firm answer register the variant and
run it for 75 epochs with several seeds.
:::

:::{exercise}
:label: lenet-ex-padding
Pad both convolutions by 2 pixels (Caffe's `pad: 2`). What is now the grid of layer 3's input,
the ratio of the image width to it, the jump, and the receptive field of one unit of that grid?
Does "each pixel corresponds to 28 / (grid width) input pixels" become true?
:::

:::{solution} lenet-ex-padding
:class: dropdown
The grid is {glue:text}`pad_grid` x {glue:text}`pad_grid`, the ratio {glue:text}`pad_ratio`,
and the jump {glue:text}`pad_jump`: with size-preserving padding the ratio of widths and the
jump coincide. The receptive field of a unit is still {glue:text}`pad_rf` pixels (measured),
so "corresponds to 2 pixels" holds for the spacing of the units, never for what one unit sees.
:::

:::{exercise}
:label: lenet-ex-se
Han et al. report 99.20% for the same network, the seed 99.38%. How many test digits is the
difference, and how many binomial standard errors? What would you need to claim one setup is
better than the other?
:::

:::{solution} lenet-ex-se
:class: dropdown
{glue:text}`errors_gap` digits out of 10,000, about {glue:text}`gap_in_se:.1f` standard errors:
unlikely to be test-set luck alone, but the two runs differ in length, seed and code, and a
single run each says nothing about seed-to-seed spread. Several seeds per setup on the same
test set, and a paired comparison of which digits each gets wrong, would settle it.
:::

## References

```{bibliography}
:filter: docname in docnames
```
""")

code("""
import lessons_lib; lessons_lib.report()
""")

nb = new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
})
nbformat.write(nb, "book/lenet.ipynb")
print(f"wrote book/lenet.ipynb with {len(cells)} cells")
