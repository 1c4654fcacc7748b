import gzip
import shutil
import socket
import threading
import time

import pytest
import torch

from lessons_lib.data import DeviceLoader, MnistFileError, load_mnist, load_sample, mnist
from lessons_lib.data import mnist_files as mnist_mod
from lessons_lib.data.loader import random_shift


def test_sample_ships_real_mnist(sample):
    train, test = sample
    assert train.images.shape == (3000, 28, 28) and test.images.shape == (1000, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert set(train.labels.tolist()) == set(range(10))
    assert mnist_mod.SAMPLE_PATH.stat().st_size < 1_000_000  # a few hundred KB
    assert "CC BY-SA 3.0" in load_sample.__doc__


def test_smoke_profile_uses_the_sample(monkeypatch):
    monkeypatch.setenv("LESSONS_PROFILE", "smoke")
    monkeypatch.setenv("LESSONS_DATA", "/nonexistent")  # must not be looked at
    train, test = mnist(n_train=500)
    assert len(train) == 500 and len(test) == 1000


@pytest.mark.mnist
def test_full_mnist_and_sample_are_drawn_from_it(mnist_root, sample):
    train = load_mnist("train", root=mnist_root)
    test = load_mnist("test", root=mnist_root)
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    import numpy as np
    with np.load(mnist_mod.SAMPLE_PATH) as z:
        idx = torch.from_numpy(z["train_indices"]).long()
    assert torch.equal(train.images[idx], sample[0].images)


@pytest.mark.mnist
@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "bad_gzip"])
def test_corrupt_file_is_named(mnist_root, tmp_path, damage):
    src = mnist_mod._find(mnist_root, "t10k-labels-idx1-ubyte")
    raw = mnist_mod._read_bytes(src)
    dst = tmp_path / "t10k-labels-idx1-ubyte.gz"
    if damage == "truncate":
        dst.write_bytes(gzip.compress(raw[:-100]))
    elif damage == "flip_byte":
        data = bytearray(raw)
        data[500] ^= 0x01
        dst.write_bytes(gzip.compress(bytes(data)))
    else:
        blob = gzip.compress(raw)
        dst.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(MnistFileError, match="t10k-labels-idx1-ubyte.gz"):
        mnist_mod.read_idx(dst)


@pytest.mark.mnist
def test_uncompressed_and_gzip_copies_both_verify(mnist_root, tmp_path):
    src = mnist_mod._find(mnist_root, "t10k-labels-idx1-ubyte")
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(mnist_mod._read_bytes(src))
    assert mnist_mod.read_idx(plain).shape == (10000,)
    assert mnist_mod.read_idx(src).shape == (10000,)


def test_missing_data_directory_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("LESSONS_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="LESSONS_DATA must name a directory.*nowhere"):
        load_mnist("train")
    monkeypatch.setenv("LESSONS_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="missing MNIST files"):
        load_mnist("train")


def test_bad_split_and_root():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'val'"):
        load_mnist("val")
    with pytest.raises(ValueError, match="root must be an existing directory"):
        load_mnist("train", root="/no/such/dir")


@pytest.mark.mnist
def test_search_order_env_then_cache(monkeypatch, tmp_path, mnist_root):
    cache = tmp_path / "cache" / "lessons_lib" / "MNIST" / "raw"
    cache.mkdir(parents=True)
    for stem in mnist_mod.MD5_UNCOMPRESSED:
        shutil.copy(mnist_mod._find(mnist_root, stem), cache)
    monkeypatch.delenv("LESSONS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert mnist_mod.locate_mnist(download=False) == tmp_path / "cache" / "lessons_lib"
    monkeypatch.setenv("LESSONS_DATA", str(mnist_root))
    assert mnist_mod.locate_mnist(download=False) == mnist_root


def _offline_setup(monkeypatch, tmp_path, url):
    from torchvision.datasets import MNIST

    monkeypatch.delenv("LESSONS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(MNIST, "mirrors", [url])
    monkeypatch.setattr(mnist_mod, "DOWNLOAD_TIMEOUT", 3.0)


def test_download_refused_fails_fast_with_hint(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port on loopback that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _offline_setup(monkeypatch, tmp_path, f"http://127.0.0.1:{port}/")
    t0 = time.time()
    with pytest.raises(MnistFileError, match="LESSONS_DATA"):
        load_mnist("train")
    assert time.time() - t0 < 30


def test_download_that_never_answers_times_out(monkeypatch, tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # accepts connections, never answers: a hanging mirror
    conns = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        _offline_setup(monkeypatch, tmp_path, f"http://127.0.0.1:{server.getsockname()[1]}/")
        t0 = time.time()
        with pytest.raises(MnistFileError, match="LESSONS_DATA"):
            load_mnist("train")
        assert time.time() - t0 < 30
    finally:
        stop.set()
        thread.join()
        for c in conns:
            c.close()
        server.close()


def test_torchvision_root_decompresses_once(monkeypatch, tmp_path, mnist_root):
    monkeypatch.setenv("LESSONS_DATA", str(mnist_root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = mnist_mod.torchvision_root()
    from torchvision.datasets import MNIST
    ds = MNIST(root, train=False, download=False)
    assert len(ds) == 10000


# -- DeviceLoader --------------------------------------------------------------------------

def test_loader_epoch_is_a_permutation():
    x = torch.arange(10, dtype=torch.float32)[:, None]
    loader = DeviceLoader(x, torch.arange(10), batch_size=3, seed=1)
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [3, 3, 3, 1] and len(loader) == 4
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    assert torch.equal(torch.cat([b[0] for b in batches])[:, 0].long(), seen)  # x and y stay paired
    second = torch.cat([b[1] for b in loader])
    assert not torch.equal(seen, second)  # a new permutation each epoch


def test_loader_drop_last_and_scaling(sample):
    train, _ = sample
    loader = DeviceLoader(train.images, train.labels, 64, drop_last=True, normalize=(0.1307, 0.3081))
    assert len(loader) == 3000 // 64
    xb, yb = next(iter(loader))
    assert xb.shape == (64, 1, 28, 28) and xb.dtype == torch.float32
    expected = (train.images.float() / 255 - 0.1307) / 0.3081
    assert xb.min() == pytest.approx(expected.min().item()) and xb.max() <= expected.max() + 1e-6


def test_unsupervised_loader_yields_inputs_as_targets(sample):
    loader = DeviceLoader(sample[0].images, None, 32)
    xb, target = next(iter(loader))
    assert torch.equal(target, xb) and target.data_ptr() == xb.data_ptr()


def test_denoising_loader_targets_are_clean(sample):
    loader = DeviceLoader(sample[0].images, None, 32, noise_std=0.5, shuffle=False)
    xb, target = next(iter(loader))
    assert torch.allclose(target, sample[0].images[:32, None].float() / 255)
    assert (xb - target).std() == pytest.approx(0.5, rel=0.1)


def test_loader_state_dict_resumes_the_same_order():
    x = torch.arange(100)[:, None].float()
    a = DeviceLoader(x, torch.arange(100), 10, seed=5)
    list(a)
    state = a.state_dict()
    expected = [yb for _, yb in a]
    b = DeviceLoader(x, torch.arange(100), 10, seed=99)
    b.load_state_dict(state)
    assert all(torch.equal(p, q) for p, q in zip(expected, (yb for _, yb in b)))


def test_random_shift_moves_images():
    x = torch.zeros(50, 1, 12, 12)
    x[:, 0, 5, 6] = 1.0
    out = random_shift(x, 3, torch.Generator().manual_seed(0))
    pos = out[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 12, pos % 12
    assert out.sum(dim=(1, 2, 3)).eq(1).all()  # the dot moved, nothing else appeared
    assert ((rows - 5).abs() <= 3).all() and ((cols - 6).abs() <= 3).all()
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 10


def test_resize_on_device(sample):
    loader = DeviceLoader(sample[0].images, sample[0].labels, 8, resize=64)
    assert next(iter(loader))[0].shape == (8, 1, 64, 64)


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=[1, 2, 3]), "x must be a torch.Tensor"),
    (dict(x=torch.zeros(4, 2), y=torch.zeros(3)), "same length; got 4 inputs and 3 targets"),
    (dict(x=torch.zeros(4, 2), batch_size=0), "batch_size must be a positive int; got 0"),
    (dict(x=torch.zeros(4, 2), batch_size=8, drop_last=True), "exceeds the 4 items"),
    (dict(x=torch.zeros(4, 2, dtype=torch.uint8), shift=2), "need images"),
    (dict(x=torch.zeros(4, 5, 5), shift=-1), "shift must be a non-negative int"),
])
def test_loader_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DeviceLoader(**kwargs)
