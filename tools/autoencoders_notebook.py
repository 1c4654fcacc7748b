"""Generate book/autoencoders.ipynb (unexecuted); then run `python -m lessons_lib.notebooks` and
`python -m lessons_lib.execute book/autoencoders.ipynb`. The committed, executed notebook is what
the book renders; edit here and regenerate, or edit the notebook directly and mirror it here."""
import nbformat as nbf

from lessons_lib.notebooks import code_cell, markdown_cell

cells = []


def md(s):
    cells.append(markdown_cell(s))


def code(s, tags=(), alt=None):
    cells.append(code_cell(s, tags, alt))


md(r"""
(autoencoders)=
# Autoencoders: learning without labels

The seed's four autoencoder slides are reproduced in the appendix ({ref}`the lecture's autoencoder part <seed-auto-encoders>`); the images come through the same verified loader as in {ref}`LeNet's training <lenet-training>`.

Every network so far learned from pairs (image, label). The seed's four autoencoder slides open
with the other case:

> Networks seen thus far are all trained via supervised learning. Sometimes we may need to train a
> network without supervision: → Unsupervised learning. Auto-encoder is a such example.
> Consider y<sub>i</sub> being an approximation of x<sub>i</sub>.

> Perfect auto-encoder would map x<sub>i</sub> to x<sub>i</sub>. Learn good representations in the hidden layer.

An autoencoder is an *encoder* that maps an image to a code (the hidden layer) and a *decoder* that
maps the code back to an image; it is trained to make its output equal its input. The slides then
split the story in two cases, and this chapter measures each on MNIST:

1. fewer hidden nodes than inputs: compression, "similar to, e.g., PCA";
2. more hidden nodes than inputs: "more freedom", and "additional regularization will be needed in
   order to find meaningful results".

We make "similar to PCA" precise (it is a theorem, {cite}`baldi1989pca`), check it by measurement,
show where a nonlinear autoencoder goes past PCA, show what goes wrong with too many hidden nodes
and how sparsity and denoising {cite}`vincent2008denoising` fix it, and finally ask what the codes
are good for.
""")
code(r"""
import inspect

import matplotlib.pyplot as plt
import numpy as np
import torch

from lessons_lib import config, data, notebooks, plot, reproduce
from lessons_lib.device import pick_device, seed_everything
from lessons_lib.experiments import autoencoders as ae
from lessons_lib.models import DeepAutoencoder, LinearAutoencoder, OvercompleteAutoencoder
from lessons_lib.pca import axis_cosines, fit_pca, principal_angles

device = pick_device()
""")
md(r"""
The settings of all three profiles, side by side. The standard profile trains on a subset of
MNIST's training images so that the whole page runs in minutes on a laptop CPU; the full profile
(the registered runs at the end) uses all 60,000.
""")
code(r"""
P = config.settings(
    smoke=dict(n_train=1_000, n_test=1_000, code_sizes=(2, 8, 16), linear_epochs=3, deep_epochs=1, deep_batch_size=128,
               over_epochs=1, probe_epochs=3, batch_size=128, noise_std=0.5, sparsity=0.1),
    standard=dict(n_train=8_000, n_test=None, code_sizes=(2, 8, 16, 32, 64), linear_epochs=40, deep_epochs=8, deep_batch_size=64,
                  over_epochs=4, probe_epochs=20, batch_size=128, noise_std=0.5, sparsity=0.1),
    full=dict(n_train=None, n_test=None, code_sizes=(2, 8, 16, 32, 64), linear_epochs=40, deep_epochs=30, deep_batch_size=256,
              over_epochs=20, probe_epochs=50, batch_size=256, noise_std=0.5, sparsity=0.1),
)
P
""")
md(r"""
(autoencoders-setting)=
## The setting: no labels

The data are MNIST's images, held on the training device as in {ref}`lenet`, scaled to [0, 1] with
no normalisation (so that the squared error is in pixel units). The labels are loaded too, but
training never touches them: they are kept aside to colour plots and to probe the codes at the end.
""")
code(r"""
train, test = data.mnist(n_train=P.n_train, n_test=P.n_test)
x_train, x_test = ae.as_images(train), ae.as_images(test)   # images only: (N, 1, 28, 28) in [0, 1]
y_train, y_test = train.labels, test.labels                  # set aside; no training below reads them
print(f"train {tuple(x_train.shape)}, test {tuple(x_test.shape)}")
""")
md(r"""
This is the whole training procedure of the chapter. The loader is built with `y=None`, so each batch
is `(x, x)`: the target is the input. With `noise_std` the batch is `(x + noise, x)`, the denoising
case; with `sparsity` the loss gets an L1 penalty on the code.
""")
code(r"""
print(inspect.getsource(ae.train_autoencoder))
""")

md(r"""
(autoencoders-undercomplete)=
## Case 1: fewer hidden nodes than inputs

Two encoder-decoder pairs with a code of k numbers. The *linear* autoencoder is one matrix each way,
the network Baldi and Hornik analysed; the *deep* one has two ReLU layers on each side and a sigmoid
output (pixels lie in [0, 1]). Both are read from their constructors:
""")
code(r"""
print(LinearAutoencoder(16))
print(DeepAutoencoder(32))
for k in (2, 8, 16, 32, 64):
    n_lin = sum(p.numel() for p in LinearAutoencoder(k).parameters())
    n_deep = sum(p.numel() for p in DeepAutoencoder(k).parameters())
    print(f"k={k:>3}: linear {n_lin:>7,} parameters, deep {n_deep:>7,} parameters")
""", tags=["nbval-check-output"])
md(r"""
PCA is the baseline. We fit it here, with torch, on the same training images: the eigenvectors of
the pixels' covariance matrix, sorted by variance. Projecting onto the top k and back is the best
reconstruction by any rank-k affine map, in squared error.
""")
code(r"""
print(inspect.getsource(fit_pca))
pca = fit_pca(x_train)
pca_mse = {k: pca.reconstruction_mse(x_test, k) for k in P.code_sizes}
print({k: round(v, 5) for k, v in pca_mse.items()})
""")
md(r"""
Now one linear and one deep autoencoder per code size, trained with squared error (Adam, cosine
learning-rate decay). The test error is the mean squared error per pixel, the quantity PCA minimises;
we do not use binary cross-entropy here, because on grey-level images its minimum is not zero but
BCE(x, x), which would make the comparison with PCA awkward.
""")
code(r"""
linear, deep = {}, {}
quiet = dict(progress=False, live_plot=False, verbose=False)
for k in P.code_sizes:
    linear[k] = ae.train_autoencoder(LinearAutoencoder(k), x_train, P.linear_epochs, lr=1e-2,
                                     batch_size=P.batch_size, device=device, **quiet).model
    deep[k] = ae.train_autoencoder(DeepAutoencoder(k), x_train, P.deep_epochs, lr=2e-3,
                                   batch_size=P.deep_batch_size, device=device, **quiet).model
linear_mse = {k: ae.mse_per_pixel(x_test, ae.reconstruct(m, x_test)) for k, m in linear.items()}
deep_mse = {k: ae.mse_per_pixel(x_test, ae.reconstruct(m, x_test)) for k, m in deep.items()}
print(f"{'k':>4} {'PCA':>9} {'linear AE':>10} {'deep AE':>9}")
for k in P.code_sizes:
    print(f"{k:>4} {pca_mse[k]:>9.5f} {linear_mse[k]:>10.5f} {deep_mse[k]:>9.5f}")
""")
code(r"""
fig, ax = plt.subplots(figsize=(6, 4))
ks = list(P.code_sizes)
ax.plot(ks, [pca_mse[k] for k in ks], "-o", label="PCA (fitted in this page)")
ax.plot(ks, [linear_mse[k] for k in ks], "--s", label="linear autoencoder")
ax.plot(ks, [deep_mse[k] for k in ks], "-^", label="deep autoencoder")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xticks(ks, [str(k) for k in ks])
ax.set_xlabel("code size k (numbers per image)")
ax.set_ylabel("test MSE per pixel (pixel values in [0, 1])")
ax.set_title("Reconstruction error against code size")
ax.grid(alpha=0.3, which="both")
ax.legend()
plt.show()
""", alt="Test mean squared error per pixel against code size on log axes for PCA, the linear autoencoder and the deep autoencoder: the linear autoencoder lies on the PCA curve; the deep autoencoder is below it at small code sizes.")
md(r"""
The same eight test digits, reconstructed from codes of each size (top row: the originals; then
the deep autoencoder and PCA with k numbers per image).
""")
code(r"""
idx = torch.arange(8)
rows = [x_test[idx]]
labels = ["original"]
for k in P.code_sizes:
    rows += [ae.reconstruct(deep[k], x_test[idx]), pca.reconstruct(x_test[idx], k).clamp(0, 1)]
    labels += [f"deep, k={k}", f"PCA, k={k}"]
fig, axes = plt.subplots(len(rows), 1, figsize=(6, 0.85 * len(rows)))
for ax, r, name in zip(axes, rows, labels):
    plot.image_grid(r, nrow=1, ax=ax, vmin=0, vmax=1)
    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
axes[0].set_title("The same test digits reconstructed from codes of k numbers")
plt.show()
""", alt="Rows of eight test digits: the originals, then reconstructions by the deep autoencoder and by PCA at code sizes from 2 to 64; small codes give blurry prototypes, large codes sharp copies.")

md(r"""
(autoencoders-baldi-hornik)=
## "Similar to PCA", made precise

Baldi and Hornik {cite}`baldi1989pca` proved that for a linear autoencoder trained with squared
error the global minimum is the orthogonal projection onto the top-k principal subspace, and every
other critical point is a saddle. The theorem is about the *subspace*: if the decoder is W (784 x k)
and the encoder V, any invertible C gives the same reconstruction W C C⁻¹ V, so the individual columns
of W can be any basis of that subspace, not the principal axes themselves.

The right measure for "the same subspace" is the set of *principal angles* between the two
subspaces: orthonormalise both bases (QR), and the cosines of the angles are the singular values of
Q₁ᵀQ₂. All angles are zero exactly when the subspaces coincide, whatever the bases.
""")
code(r"""
print(inspect.getsource(principal_angles))
""")
code(r"""
k_bh = 16 if 16 in linear else P.code_sizes[-1]
angles = {k: ae.subspace_angles_deg(m, pca) for k, m in linear.items()}
for k, a in angles.items():
    excess = linear_mse[k] / pca_mse[k] - 1
    print(f"k={k:>3}: principal angles (degrees) median {a.median():6.2f}, max {a.max():6.2f}; "
          f"test MSE {100 * excess:+.2f}% vs PCA")
a_bh = angles[k_bh]
ev = pca.explained_variance
notebooks.glue("ae_bh_k", k_bh)
notebooks.glue("ae_bh_median", float(a_bh.median()))
notebooks.glue("ae_bh_n_small", int((a_bh < 2).sum()))
notebooks.glue("ae_bh_max", float(a_bh.max()))
notebooks.glue("ae_bh_excess", linear_mse[k_bh] / pca_mse[k_bh] - 1)
notebooks.glue("ae_bh_gap", float(ev[k_bh - 1] / ev[k_bh]));
""")
code(r"""
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.bar(np.arange(1, k_bh + 1), a_bh.numpy())
ax.axhline(2, color="k", ls=":", lw=1, label="tolerance: 2 degrees")
ax.set_xlabel("principal angle index (ascending)")
ax.set_ylabel("angle (degrees)")
ax.set_title(f"Linear autoencoder (k={k_bh}) vs PCA: principal angles")
ax.legend()
plt.show()
""", alt="Bar chart of the principal angles in degrees between the linear autoencoder's decoder subspace and the top principal subspace; most are well below the 2-degree tolerance line, the last ones are larger.")
md(r"""
We take "the same subspace" to mean every principal angle below 2 degrees (cosine above 0.9994).
For k = {glue:text}`ae_bh_k` the median angle is {glue:text}`ae_bh_median:.2f` degrees and
{glue:text}`ae_bh_n_small` of the {glue:text}`ae_bh_k` angles are within the tolerance; the largest is
{glue:text}`ae_bh_max:.1f` degrees. Its test error differs from PCA's by {glue:text}`ae_bh_excess:.2%` (relative).
The slowest angle is the one the theorem predicts to be slowest: the loss only changes by
(λ_k − λ_k+1) sin²θ when the subspace tilts by θ from the k-th principal axis towards the (k+1)-th,
and here λ_k/λ_k+1 = {glue:text}`ae_bh_gap:.3f`, a nearly flat direction that gradient descent
crosses slowly. The full-profile run below trains on all 60,000 images; its angles are in the
table at the end. Larger k have smaller eigenvalue gaps and their last angles converge more slowly
still (the table above).

Now the individual vectors: the |cosine| between each column of the decoder and each principal
axis. If the columns were the axes, the matrix would be a permutation matrix of ones.
""")
code(r"""
w = ae.decoder_basis(linear[k_bh])
cos = axis_cosines(w, pca.components[:k_bh].T.float())
best = cos.max(1).values
notebooks.glue("ae_best_cos_mean", float(best.mean()))
notebooks.glue("ae_best_cos_max", float(best.max()))
notebooks.glue("ae_col_in_subspace", float(axis_cosines(w, pca.components[:k_bh].T.float()).pow(2).sum(1).sqrt().min()))
fig, ax = plt.subplots(figsize=(5, 4.4))
im = ax.imshow(cos.numpy(), vmin=0, vmax=1, cmap="viridis")
fig.colorbar(im, ax=ax, label="|cos(decoder column, principal axis)|")
ax.set_xlabel("principal axis (by decreasing variance)")
ax.set_ylabel("decoder column")
ax.set_title("Individual weight vectors are mixtures of axes")
plt.show()
""", alt="Heat map of absolute cosines between the 16 decoder columns and the 16 principal axes: values are spread across many axes rather than one bright entry per row.")
md(r"""
Each decoder column lies in the principal subspace (the norm of its projection onto the top-k axes is
at least {glue:text}`ae_col_in_subspace:.3f` of its length), yet its closest single axis has
|cos| {glue:text}`ae_best_cos_mean:.2f` on average and at most {glue:text}`ae_best_cos_max:.2f`: the
autoencoder found PCA's subspace, in a basis of its own. So "similar to PCA" is exact for a linear
autoencoder, in the sense of the subspace and the error, and wrong in the sense of the axes.
""")
code(r"""
if P.profile != "smoke":  # a few epochs on 1,000 images do not converge
    assert float(a_bh.median()) < 2, "a linear autoencoder should find the principal subspace"
    assert abs(linear_mse[k_bh] / pca_mse[k_bh] - 1) < 0.03
assert float(best.max()) < 0.99, "individual columns are not expected to be principal axes"
""", tags=["remove-input"])
md(r"""
### A nonlinear autoencoder goes past PCA

No linear map can beat PCA at the same k, but the deep autoencoder's code is reached by a curved map,
and its decoder draws a curved surface of images. The ratio of its test error to PCA's at each k:
""")
code(r"""
ratio = {k: deep_mse[k] / pca_mse[k] for k in P.code_sizes}
for k in P.code_sizes:
    print(f"k={k:>3}: deep autoencoder error / PCA error = {ratio[k]:.2f}")
k_small = 8 if 8 in ratio else P.code_sizes[0]
notebooks.glue("ae_deep_ratio_2", ratio[2])
notebooks.glue("ae_deep_ratio_small", ratio[k_small])
notebooks.glue("ae_k_small", k_small)
notebooks.glue("ae_deep_ratio_last", ratio[P.code_sizes[-1]])
notebooks.glue("ae_k_last", P.code_sizes[-1]);
""")
md(r"""
With 2 numbers the deep autoencoder's test error is {glue:text}`ae_deep_ratio_2:.2f` times PCA's,
with {glue:text}`ae_k_small` numbers {glue:text}`ae_deep_ratio_small:.2f` times: a ratio below 1 is a
nonlinear code doing better than the best k-dimensional plane. At k = {glue:text}`ae_k_last` the ratio
is {glue:text}`ae_deep_ratio_last:.2f`, and the error-against-k figure shows why: at this profile the deep
model's error hardly falls past k = 8, while PCA's keeps falling. A few epochs on a subset do not
teach a deep network to use a large code; that is a statement about this training budget, not about
what the architecture can represent (the full profile's numbers at the end train on all 60,000 images
for 30 epochs). The linear autoencoder, trained for longer, sits on PCA's curve at every k.
""")
code(r"""
if P.profile != "smoke":
    assert deep_mse[2] < pca_mse[2], "the deep autoencoder should beat PCA at a 2-number code"
""", tags=["remove-input"])

md(r"""
(autoencoders-overcomplete)=
## Case 2: more hidden nodes than inputs

Now 1,024 hidden ReLU units for 784 pixels, one layer each way. Nothing forces this network to
compress: the identity map is within reach (two ReLU units per pixel can pass its value through),
and squared error rewards it. We first train it with no regularisation.
""")
code(r"""
print(OvercompleteAutoencoder(1024))
""", tags=["nbval-check-output"])
code(r"""
over = {}
for variant in ae.OVERCOMPLETE_VARIANTS:   # plain, sparse (L1 on the code), denoising
    over[variant] = ae.train_overcomplete(variant, x_train, P.over_epochs, noise_std=P.noise_std,
                                          sparsity=P.sparsity, batch_size=P.batch_size, device=device,
                                          **quiet).model
letters = ae.draw_letters("AEHKLMNTVWXYZ")   # inputs the networks never saw
noise = ae.box_noise(100, seed=1)
""")
md(r"""
Is it close to an identity? An identity reconstructs *anything*, not only digits. We feed both
networks inputs they never saw, uniform noise in the 20 x 20 box where digits live and capital
letters drawn in code (`ae.draw_letters`), and measure
the relative error (sum of squared errors over the sum of squared inputs; 1 is as bad as outputting
black), against the deep undercomplete autoencoder with a 32-number code.
""")
code(r"""
k_ref = 32 if 32 in deep else P.code_sizes[-1]
inputs = {"test digits": x_test, "noise": noise, "letters": letters}
rel = {name: {m: ae.relative_error(x, ae.reconstruct(model, x)) for m, model in
              ((f"deep, k={k_ref}", deep[k_ref]), ("overcomplete, plain", over["plain"]))}
       for name, x in inputs.items()}
print(f"{'input':>12} {f'deep, k={k_ref}':>14} {'overcomplete, plain':>20}")
for name, r in rel.items():
    print(f"{name:>12} " + " ".join(f"{v:>{w}.3f}" for v, w in zip(r.values(), (14, 20))))
oc = {n: r["overcomplete, plain"] for n, r in rel.items()}
dp = {n: r[f"deep, k={k_ref}"] for n, r in rel.items()}
for n, key in (("test digits", "digits"), ("noise", "noise"), ("letters", "letters")):
    notebooks.glue(f"ae_oc_rel_{key}", oc[n])
    notebooks.glue(f"ae_deep_rel_{key}", dp[n])
""")
code(r"""
shown = torch.cat([letters[:8], noise[:8]])
fig, axes = plt.subplots(3, 1, figsize=(9, 2.6))
for ax, imgs, name in zip(axes, (shown, ae.reconstruct(deep[k_ref], shown), ae.reconstruct(over["plain"], shown)),
                          ("input", f"deep, k={k_ref}", "overcomplete")):
    plot.image_grid(imgs.clamp(0, 1), nrow=1, ax=ax, vmin=0, vmax=1)
    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
axes[0].set_title("Inputs unlike digits: the undercomplete code turns them into digits, the overcomplete one copies them")
plt.show()
""", alt="Letters and noise images in the top row; the deep undercomplete autoencoder's reconstructions below look like digit-shaped blobs; the overcomplete autoencoder's reconstructions resemble the inputs.")
md(r"""
The undercomplete code can only express digit-like images: it turns letters and noise into
digit-shaped blobs (relative error {glue:text}`ae_deep_rel_letters:.2f` on letters,
{glue:text}`ae_deep_rel_noise:.2f` on noise, {glue:text}`ae_deep_rel_digits:.2f` on digits). The plain
overcomplete network copies what it is given: relative error {glue:text}`ae_oc_rel_letters:.3f` on
letters and {glue:text}`ae_oc_rel_noise:.3f` on noise, inputs it never saw. It is not yet a perfect
identity: digits, at {glue:text}`ae_oc_rel_digits:.3f`, are still reconstructed better than the rest
after this short training, so "about as well as digits" holds for the letters' shapes more than for
their exact values (the full-profile run trains 20 epochs on 60,000 images; its numbers are at the
end). What it has learned is a copier, not a model of digits, and its features, the weights into 36
hidden units drawn as images, look like noise (left):
""")
code(r"""
def show_features(model, ax, title, n=36):
    w = model.encoder[1].weight.detach().cpu()[:n].reshape(n, 1, 28, 28)
    plot.image_grid(w, nrow=6, ax=ax, title=title)

fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
for ax, (variant, model) in zip(axes, over.items()):
    show_features(model, ax, f"{variant}")
fig.suptitle("Weights into the first 36 hidden units (each scaled to its own range)")
plt.show()
""", alt="Three grids of 36 weight images: the plain overcomplete autoencoder's look like random noise; the sparse and denoising autoencoders' show localised strokes and blobs.")
md(r"""
(autoencoders-regularised)=
### Regularisation: sparsity and denoising

Two ways to take the free identity away. A **sparsity penalty** adds λ · mean|h| to the loss
(λ = {glue:text}`ae_sparsity`), so each image must be explained by few active units. A
**denoising** autoencoder {cite}`vincent2008denoising` sees x + noise (Gaussian, std
{glue:text}`ae_noise_std`) and must output the clean x, which an identity cannot do; it has to learn
what digits look like. Measured on the test set:
""")
code(r"""
notebooks.glue("ae_sparsity", P.sparsity)
notebooks.glue("ae_noise_std", P.noise_std)
meas = {v: ae.overcomplete_measurements(m, x_test, P.noise_std) for v, m in over.items()}
pca_denoise = ae.psnr(x_test, pca.reconstruct(ae.add_noise(x_test, P.noise_std, seed=1234), k_ref))
cols = [("test_mse", "test MSE/pixel", ".5f"), ("active_fraction", "active units", ".1%"),
        ("psnr_noisy_input", "PSNR noisy in (dB)", ".2f"), ("psnr_denoised", "PSNR output (dB)", ".2f")]
print(f"{'model':>12} " + " ".join(f"{c[1]:>19}" for c in cols))
for v, m in meas.items():
    print(f"{v:>12} " + " ".join(f"{m[c[0]]:>19{c[2]}}" for c in cols))
print(f"PCA with k={k_ref} on the same noisy digits: PSNR {pca_denoise:.2f} dB")
for v, m in meas.items():
    notebooks.glue(f"ae_{v}_active", m["active_fraction"])
    notebooks.glue(f"ae_{v}_psnr", m["psnr_denoised"])
notebooks.glue("ae_psnr_noisy", meas["plain"]["psnr_noisy_input"])
notebooks.glue("ae_pca_psnr", pca_denoise);
""")
code(r"""
noisy = ae.add_noise(x_test[:8], P.noise_std, seed=7)
rows = [x_test[:8], noisy.clamp(0, 1)] + [ae.reconstruct(over[v], noisy).clamp(0, 1) for v in over]
names = ["clean", "noisy input"] + [f"{v} output" for v in over]
fig, axes = plt.subplots(len(rows), 1, figsize=(6, 0.85 * len(rows)))
for ax, r, name in zip(axes, rows, names):
    plot.image_grid(r, nrow=1, ax=ax, vmin=0, vmax=1)
    ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
axes[0].set_title(f"Denoising test digits (Gaussian noise, std {P.noise_std})")
plt.show()
""", alt="Rows of eight test digits: clean, with heavy Gaussian noise, and the outputs of the plain, sparse and denoising overcomplete autoencoders; the denoising one gives the cleanest digits.")
md(r"""
The noisy inputs have a PSNR of {glue:text}`ae_psnr_noisy:.1f` dB. The plain overcomplete network
passes much of the noise through ({glue:text}`ae_plain_psnr:.1f` dB), the denoising one removes most
of it ({glue:text}`ae_denoising_psnr:.1f` dB; PCA's projection gives {glue:text}`ae_pca_psnr:.1f` dB).
The sparsity penalty cuts the fraction of active code units from {glue:text}`ae_plain_active:.0%`
(plain) to {glue:text}`ae_sparse_active:.0%`; the denoising network's codes are sparser too
({glue:text}`ae_denoising_active:.0%`) without being asked. In the features above, the denoising
network's units show strokes and digit parts; the sparse network's show some, among many that still
look like noise after this short training. That structure is what the seed's "additional
regularization" buys. The price is clean reconstruction: both regularised networks have a higher test
error on clean digits than the plain one (the table's first column).
""")
code(r"""
if P.profile != "smoke":
    assert meas["denoising"]["psnr_denoised"] > meas["plain"]["psnr_denoised"]
    assert meas["sparse"]["active_fraction"] < meas["plain"]["active_fraction"]
""", tags=["remove-input"])

md(r"""
(autoencoders-codes)=
## What the hidden layer learned

Labels come back now, only to look at the codes. First the deep autoencoder with a 2-number code:
each test digit is a point, coloured by its label (which the network never saw).
""")
code(r"""
z2 = ae.encode(deep[2], x_test)
fig, ax = plt.subplots(figsize=(6, 5))
sc = ax.scatter(z2[:, 0], z2[:, 1], c=y_test, cmap="tab10", s=2, alpha=0.6)
fig.colorbar(sc, ax=ax, ticks=range(10), label="digit (never used in training)")
ax.set_xlabel("code unit 1 (arbitrary units)")
ax.set_ylabel("code unit 2 (arbitrary units)")
ax.set_title("Test digits in a 2-D autoencoder code")
plt.show()
""", alt="Scatter plot of test digits in the two-dimensional code, coloured by digit: several digits form separate clusters, others overlap.")
md(r"""
Second, a *linear probe*: a softmax classifier trained on fixed features, with the same budget
(Adam, same learning rate, batch size and number of epochs) for the autoencoder's
{glue:text}`ae_k_ref`-number code, PCA's top {glue:text}`ae_k_ref` components, and the 784 raw pixels.
""")
code(r"""
notebooks.glue("ae_k_ref", k_ref)
features = {
    f"deep AE code (k={k_ref})": (ae.encode(deep[k_ref], x_train), ae.encode(deep[k_ref], x_test)),
    f"PCA (k={k_ref})": (pca.transform(x_train, k_ref), pca.transform(x_test, k_ref)),
    "raw pixels (784)": (x_train.flatten(1), x_test.flatten(1)),
}
probe = {name: ae.linear_probe(f_tr, y_train, f_te, y_test, epochs=P.probe_epochs, device=device)
         for name, (f_tr, f_te) in features.items()}
print(f"{'features':>22} {'test accuracy':>14}")
for name, acc in probe.items():
    print(f"{name:>22} {acc:>14.2%}")
for key, name in zip(("code", "pca", "pixels"), probe):
    notebooks.glue(f"ae_probe_{key}", probe[name])
""")
md(r"""
A linear classifier reaches {glue:text}`ae_probe_code:.1%` on the autoencoder's code,
{glue:text}`ae_probe_pca:.1%` on as many PCA components and {glue:text}`ae_probe_pixels:.1%` on all
784 pixels (trained on {glue:text}`ae_n_train` images). The code was learned without a single label
and still carries much of the class information; but a good reconstruction code is not the same as a
linearly separable one, and at this training budget the deep code is not better for a linear
classifier than PCA's, which keeps the directions of largest variance.

Finally, interpolation. Walk in a straight line from the code of one test digit to another's and
decode each point (top), against the same walk in pixel space (bottom), which only cross-fades:
""")
code(r"""
notebooks.glue("ae_n_train", len(x_train))
a_i = int((y_test == 3).nonzero()[0])
b_i = int((y_test == 8).nonzero()[1]) if (y_test == 8).sum() > 1 else int((y_test == 8).nonzero()[0])
t = torch.linspace(0, 1, 9)[:, None]
za, zb = ae.encode(deep[k_ref], x_test[[a_i, b_i]])
in_code = ae.decode(deep[k_ref], (1 - t) * za + t * zb)
in_pixels = (1 - t[:, :, None, None]) * x_test[a_i] + t[:, :, None, None] * x_test[b_i]
fig, axes = plt.subplots(2, 1, figsize=(8, 2.3))
plot.image_grid(in_code, nrow=1, ax=axes[0], vmin=0, vmax=1)
plot.image_grid(in_pixels, nrow=1, ax=axes[1], vmin=0, vmax=1)
axes[0].set_ylabel("code", rotation=0, ha="right", va="center")
axes[1].set_ylabel("pixels", rotation=0, ha="right", va="center")
axes[0].set_title(f"From a 3 to an 8 in nine steps (deep autoencoder, k={k_ref})")
plt.show()
""", alt="Two rows of nine images going from a test 3 to a test 8: the decoded code interpolation morphs the strokes; the pixel interpolation superimposes the two digits.")

md(r"""
(autoencoders-full)=
## Full-profile numbers

The registered runs repeat the headline measurements on all 60,000 training images with longer
training (`python -m lessons_lib.reproduce autoencoders_code_size autoencoders_overcomplete --profile full`
on a GPU). Their stored results, with provenance, when they exist:
""")
code(r"""
for name in ("autoencoders_code_size", "autoencoders_overcomplete"):
    record = reproduce.load_result(name)
    if record is None:
        print(f"{name}: not yet measured at the full profile")
        continue
    print(f"{name}: " + reproduce.provenance(record))
    for metric, s in record["summary"].items():
        print(f"  {metric:>40}: {s['mean']:.5g} (± {s['std']:.2g} over {s['n']} seed(s))")
""")

md(r"""
## Exercises

:::{exercise}
:label: autoencoders-ex-tied
Tie the linear autoencoder's weights (decoder = encoderᵀ) and train it again at k = 16. Do the
principal angles change? Are the decoder's columns now orthogonal?
:::
:::{solution} autoencoders-ex-tied
:class: dropdown
With tied weights the loss is minimised by W with orthonormal columns spanning the principal subspace
(WᵀW = I at the minimum), so the angles still go to zero and `w.T @ w` approaches the identity, but
the columns are still any orthonormal basis of the subspace: `axis_cosines(w, pca.components[:16].T)`
is still not a permutation matrix. Code: subclass `LinearAutoencoder` and make its `forward`
return `F.linear(self.encoder(x), self.encoder[1].weight.T, self.decoder[0].bias).reshape(-1, 1, 28, 28)`,
train it with `ae.train_autoencoder`, and reuse the cells above with `w = model.encoder[1].weight.detach().T`.
:::

:::{exercise}
:label: autoencoders-ex-bce
Train the deep autoencoder at k = 8 with binary cross-entropy instead of squared error. Report the
test BCE, the floor BCE(x, x) of the test set, and the test MSE per pixel. Which number should you
compare with PCA?
:::
:::{solution} autoencoders-ex-bce
:class: dropdown
`floor = F.binary_cross_entropy(x_test, x_test)` is well above zero on grey-level MNIST (the
anti-aliased edges are neither 0 nor 1), so a raw BCE never reaches 0 and is not comparable with
PCA's squared error; compare BCE minus the floor, or, as this chapter does, the MSE per pixel of the
BCE-trained model, which comes out close to the MSE-trained one's.
Code: `ae.train_autoencoder(...)` uses `F.mse_loss`; build the trainer with
`lessons_lib.train.Trainer(model, opt, torch.nn.functional.binary_cross_entropy, metric=None)`
and a `DeviceLoader(x_train, None, 128)`.
:::

:::{exercise}
:label: autoencoders-ex-noise
Train denoising autoencoders with noise std 0.1, 0.3 and 0.5 and measure the PSNR of each on test
digits with noise 0.5, and the fraction of active units. What does the training noise level trade?
:::
:::{solution} autoencoders-ex-noise
:class: dropdown
`[ae.overcomplete_measurements(ae.train_overcomplete("denoising", x_train, P.over_epochs, noise_std=s).model, x_test, 0.5) for s in (0.1, 0.3, 0.5)]`.
Low training noise leaves a network close to the identity: good clean reconstructions, poor
denoising at 0.5. High training noise gives the best PSNR on heavily corrupted digits and more
structured, sparser features, at the cost of blurrier reconstructions of clean digits.
:::

## References

```{bibliography}
:filter: docname in docnames
```
""")
code(r"""
import lessons_lib; lessons_lib.report()
""")
nb = nbf.v4.new_notebook()
nb.cells = cells
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
from pathlib import Path
nbf.write(nb, Path(__file__).resolve().parent.parent / "book" / "autoencoders.ipynb")
