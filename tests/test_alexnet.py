"""The AlexNet chapter's models, helpers and registered experiments."""
import math

import pytest
import torch

from lessons_lib import pretrained, reproduce
from lessons_lib.analysis import architecture as inspect
from lessons_lib.experiments import alexnet as ex
import numpy as np

from lessons_lib.models import (AlexNet2012, FourLayerCNN, LectureAlexNet, MnistAlexNet, SparseAutoencoder, Subsample,
                               TorchvisionAlexNet)
from lessons_lib.training import History


def test_parameter_counts_match_the_published_ones():
    assert inspect.layer_table(AlexNet2012(), (3, 227, 227)).total_params == 60_965_224  # "60 million"
    tv = inspect.layer_table(TorchvisionAlexNet(), (3, 224, 224))
    assert tv.total_params == 61_100_840 and round(tv.total_macs / 1e9, 2) == 0.71
    seed = inspect.layer_table(LectureAlexNet(), (3, 227, 227))
    assert seed.find("classifier.2").input_shape == (43264,)


def test_lecture_table_shapes():
    t = inspect.layer_table(LectureAlexNet().features, (3, 227, 227))
    convs = [L.output_shape for L in t if L.type == "Conv2d"]
    assert convs == [(96, 55, 55), (256, 27, 27), (384, 13, 13), (384, 13, 13), (256, 13, 13)]


def test_paper_model_groups_and_receptive_fields():
    m = AlexNet2012()
    assert [c.groups for c in m.features if isinstance(c, torch.nn.Conv2d)] == [1, 2, 1, 2, 2]
    assert m.features[4].weight.shape == (256, 48, 5, 5)  # the paper's 256@5x5x48
    t = inspect.layer_table(m.features, (3, 227, 227))
    assert t.find("4").rf == (51, 51) and t.find("12").rf == (163, 163)
    assert inspect.empirical_receptive_field(m.features, (3, 227, 227), "4")[:2] == (51, 51)


@pytest.mark.parametrize("model, bad", [(LectureAlexNet(), (1, 3, 224, 224)), (AlexNet2012(), (1, 1, 227, 227)),
                                        (MnistAlexNet(64, **ex.NARROW), (1, 1, 28, 28))])
def test_models_reject_wrong_input_shapes(model, bad):
    with pytest.raises(ValueError, match="expects input of shape"):
        model(torch.zeros(bad))


@pytest.mark.parametrize("kwargs, match", [(dict(activation="sigmoid"), "activation"), (dict(pool="avg"), "pool"),
                                           (dict(resolution=32), "resolution"), (dict(widths=(1, 2)), "widths")])
def test_mnist_alexnet_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MnistAlexNet(**{"resolution": 64, **kwargs})


@pytest.mark.parametrize("resolution, flat", [(64, 32), (224, 32 * 36)])
def test_mnist_alexnet_shapes(resolution, flat):
    m = MnistAlexNet(resolution, **ex.NARROW)
    assert m(torch.zeros(2, 1, resolution, resolution)).shape == (2, 10)
    assert m.classifier[1].in_features == flat


def test_subsample_keeps_pooling_shapes():
    for n in (15, 7, 3, 55, 27, 13):
        x = torch.zeros(1, 1, n, n)
        assert Subsample()(x).shape == torch.nn.MaxPool2d(3, 2)(x).shape
    x = torch.arange(49.0).reshape(1, 1, 7, 7)
    assert Subsample()(x)[0, 0, 0].tolist() == [8.0, 10.0, 12.0]  # the centres of the 3x3 windows


def test_same_seed_gives_same_weights_for_relu_and_tanh():
    torch.manual_seed(0)
    a = MnistAlexNet(64, **ex.NARROW, activation="relu")
    torch.manual_seed(0)
    b = MnistAlexNet(64, **ex.NARROW, activation="tanh")
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_epochs_to_error_interpolates():
    h = History([{"train_accuracy": a} for a in (0.5, 0.7, 0.8)])  # errors 0.5, 0.3, 0.2
    assert ex.epochs_to_error(h, 0.25, 0.5) == pytest.approx(1.0 + 0.5 * 0.5)
    assert math.isnan(ex.epochs_to_error(h, 0.1, 0.5))
    with pytest.raises(ValueError, match="threshold"):
        ex.epochs_to_error(h, 25)


def test_partial_epochs_continue_across_passes():
    from lessons_lib.data import DeviceLoader

    loader = DeviceLoader(torch.arange(10.0)[:, None], torch.arange(10), 2, shuffle=False)
    part = ex.PartialEpochs(loader, 3)
    seen = [y.tolist() for _ in range(3) for _, y in part]
    assert len(part) == 3 and seen[:6] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [0, 1]]
    with pytest.raises(ValueError, match="steps"):
        ex.PartialEpochs(loader, 0)


def test_top_k_and_shift_sensitivity():
    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10]

    x = torch.eye(10)[:, None, None, :].repeat(1, 1, 10, 1)  # image i has column i bright
    y = torch.arange(10)
    assert ex.top_k_error(Fixed(), [(x, y)], k=1) == 0.0
    assert ex.top_k_error(Fixed(), [(x, (y + 1) % 10)], k=1) == 1.0
    s = ex.shift_sensitivity(Fixed(), x, shifts=(1,))
    assert s[1]["changed"] == 1.0  # each bright column moves right (the last one falls off: argmax 0)


def test_pretrained_fails_fast_offline(monkeypatch, tmp_path):
    import socket
    import time

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def refuse(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    t = time.time()
    assert pretrained.alexnet_weights(timeout=1, verbose=False) is None
    assert time.time() - t < 5
    with pytest.raises(ValueError, match="timeout"):
        pretrained.alexnet_weights(timeout=0)


def test_pretrained_download_is_verified_and_atomic(monkeypatch, tmp_path):
    """A download whose bytes do not match the hash in the file's name leaves nothing behind; a
    good one is kept under its name, and nothing else."""
    import functools
    import hashlib
    import http.server
    import io
    import threading

    def name(data: bytes) -> str:  # torchvision's naming: the first 8 hex digits of the SHA-256
        return f"alexnet-owt-{hashlib.sha256(data).hexdigest()[:8]}.pth"

    served = tmp_path / "served"
    served.mkdir()
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buffer)
    good, damaged = name(buffer.getvalue()), name(b"the original")
    (served / good).write_bytes(buffer.getvalue())
    (served / damaged).write_bytes(b"not the original")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    for var in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    try:
        monkeypatch.setattr(pretrained, "_weights_url", lambda: f"http://127.0.0.1:{httpd.server_port}/{damaged}")
        assert pretrained.alexnet_weights(timeout=5, verbose=False) is None
        assert [p.name for p in (tmp_path / "hub").rglob("*") if p.is_file()] == []
        monkeypatch.setattr(pretrained, "_weights_url", lambda: f"http://127.0.0.1:{httpd.server_port}/{good}")
        assert torch.equal(pretrained.alexnet_weights(timeout=5, verbose=False)["w"], torch.ones(2))
        assert [p.name for p in (tmp_path / "hub").rglob("*") if p.is_file()] == [good]
    finally:
        httpd.shutdown()


@pytest.mark.parametrize("name", ["alexnet_mnist", "alexnet_relu_tanh", "alexnet_regularisation"])
def test_registered_experiments_run_at_smoke(name, tmp_path):
    rec = reproduce.run(name, profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False)
    assert (tmp_path / f"{name}.json").is_file()
    m = rec["summary"]
    if name == "alexnet_mnist":
        assert 0 <= m["test_accuracy"]["mean"] <= 1 and m["top5_error"]["mean"] <= 1 - m["test_accuracy"]["mean"]
    elif name == "alexnet_relu_tanh":
        assert "speedup_10pct" in m and "relu_epochs_to_2pct" in m
    else:
        assert all(0 <= m[f"test_accuracy_{k}"]["mean"] <= 1 for k in ex.REGULARISATION)


# -- the chapter's newer pieces: Figure 1's network, filters from photographs, the lr drop ---------
def test_four_layer_cnn_shapes_same_start_and_arguments():
    torch.manual_seed(0)
    a = FourLayerCNN("relu", width=8)
    torch.manual_seed(0)
    b = FourLayerCNN("tanh", width=8)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert a(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in a.modules()) == 4  # four layers
    with pytest.raises(ValueError, match="activation"):
        FourLayerCNN("sigmoid")
    with pytest.raises(ValueError, match="width"):
        FourLayerCNN("relu", width=0)
    with pytest.raises(ValueError, match="expects input of shape"):
        a(torch.zeros(1, 1, 32, 32))


def test_sparse_autoencoder_ties_weights_and_checks_input():
    ae = SparseAutoencoder(12, 5)
    x = torch.randn(3, 12)
    x_hat, h = ae(x)
    assert x_hat.shape == (3, 12) and h.shape == (3, 5) and (h >= 0).all()
    assert torch.allclose(ae.filters().norm(dim=1), torch.ones(5))
    assert torch.allclose(x_hat, h @ ae.filters())  # the decoder is the encoder's transpose
    with pytest.raises(ValueError, match=r"\(N, 12\)"):
        ae(torch.randn(3, 11))
    with pytest.raises(ValueError, match="positive ints"):
        SparseAutoencoder(0, 5)


def test_zca_whitens():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5000, 4, generator=g) @ torch.tensor([[2.0, 0, 0, 0], [1.0, 1, 0, 0], [0, 0, 3, 0], [0, 0, 1, 0.5]])
    xw, w = ex.zca(x, eps=0.0)
    cov = xw.T @ xw / len(xw)
    assert torch.allclose(cov, torch.eye(4), atol=1e-3)
    assert torch.allclose(w, w.T, atol=1e-5)  # ZCA: the symmetric whitening, closest to the identity
    with pytest.raises(ValueError, match="matrix"):
        ex.zca(torch.zeros(3))


def test_natural_patches_and_learned_filters_are_edges():
    pytest.importorskip("skimage")
    photos = ex.photographs(("astronaut", "coffee"), scale=0.25)
    assert photos[0].shape == (128, 128, 3) and photos[0].dtype == np.float32 and photos[0].max() <= 1
    p = ex.natural_patches(photos, size=8, n=2001, seed=0)
    assert p.shape == (2001, 3, 8, 8)
    assert torch.allclose(p.flatten(1).mean(1), torch.zeros(2001), atol=1e-5)  # each patch's mean removed
    filters, losses = ex.learn_filters(p, n_units=16, steps=400, seed=0)
    assert filters.shape == (16, 3, 8, 8) and len(losses) == 4 and losses[-1] < losses[0]
    with pytest.raises(ValueError, match="names must come from"):
        ex.photographs(("lena",))
    with pytest.raises(ValueError, match="size"):
        ex.natural_patches(photos, size=1)


def test_colourfulness_separates_grey_from_colour():
    grey = torch.randn(1, 1, 5, 5).repeat(1, 3, 1, 1)
    red_green = torch.zeros(1, 3, 5, 5)
    red_green[:, 0], red_green[:, 1] = 1.0, -1.0
    c = ex.colourfulness(torch.cat([grey, red_green]))
    assert c[0] < 1e-6 and c[1] > 0.99
    with pytest.raises(ValueError, match=r"\(N, 3, k, k\)"):
        ex.colourfulness(torch.zeros(2, 1, 5, 5))


def test_largest_fall():
    assert ex.largest_fall([0.5, 0.9, 0.6, 0.95, 0.9]) == (pytest.approx(0.3), 3)
    assert ex.largest_fall([0.1, 0.2, 0.3]) == (0.0, 0)


def test_learning_rate_drops_tenfold_after_the_given_epoch():
    from lessons_lib.data import Split

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 28, 28), dtype=torch.uint8, generator=g)
    data = (Split(images, torch.arange(64) % 10), Split(images[:16], torch.arange(16) % 10))
    tr = ex.train_alexnet(data, 64, **ex.NARROW, epochs=3, batch_size=32, lr_drop=2, verbose=False, live_plot=False)
    assert [round(r["lr"], 6) for r in tr.history] == [0.01, 0.001, 0.001]
    with pytest.raises(ValueError, match="lr_drop"):
        ex.train_alexnet(data, 64, **ex.NARROW, epochs=2, lr_drop=3)


def test_training_error_curve_rows_and_arguments():
    from lessons_lib.data import Split

    g = torch.Generator().manual_seed(0)
    data = (Split(torch.randint(0, 256, (256, 28, 28), dtype=torch.uint8, generator=g), torch.arange(256) % 10), None)
    tr = ex.training_error_curve(data, "tanh", width=4, steps=6, every=3, verbose=False, live_plot=False)
    assert len(tr.history) == 2 and all(0 <= r["train_accuracy"] <= 1 for r in tr.history)
    with pytest.raises(ValueError, match="multiple"):
        ex.training_error_curve(data, steps=7, every=3)


def test_two_tower_diagram_draws():
    import matplotlib

    matplotlib.use("Agg")
    ax = ex.draw_two_towers()
    texts = [t.get_text() for t in ax.texts]
    assert "55×55\n×48" in texts and "6×6\n×128" in texts and "2,048" in texts and "500" in texts
