import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch

from testsupport import ROOT

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


# -- the cache, concurrent first uses, damaged files, a proxy that never answers --------------------
def idx_bytes(array: torch.Tensor) -> bytes:
    """IDX bytes of a uint8 array: magic 0x00000800 + ndim, big-endian dimensions, the data."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.numpy().tobytes()


def write_fake_mnist(folder, repeat=1):
    """The four MNIST files (gzip) made from the shipped sample (3,000 + 1,000 digits, each
    repeated ``repeat`` times) in ``folder/MNIST/raw``; returns their MD5s {stem: MD5}."""
    train, test = load_sample()
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    md5 = {}
    for (images, labels), split in zip(mnist_mod.FILES.values(), (train, test)):
        for stem, array in ((images, split.images), (labels, split.labels.to(torch.uint8))):
            data = idx_bytes(array.repeat(repeat, *[1] * (array.ndim - 1)))
            (raw / f"{stem}.gz").write_bytes(gzip.compress(data, compresslevel=1, mtime=0))
            md5[stem] = hashlib.md5(data).hexdigest()
    return md5


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """A stand-in for the full MNIST, so that these tests run anywhere: the sample as the four
    files in ``$LESSONS_DATA``, registered as the canonical MD5s, with an empty cache.
    Returns (data folder, {stem: MD5})."""
    md5 = write_fake_mnist(tmp_path / "data")
    monkeypatch.setattr(mnist_mod, "MD5_UNCOMPRESSED", md5)
    monkeypatch.setenv("LESSONS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "data", md5


def flip(path, position=None):
    """Flip one byte of ``path`` (a gzip file: one byte of the data it holds)."""
    if path.suffix == ".gz":
        data = bytearray(gzip.decompress(path.read_bytes()))
        data[len(data) // 2 if position is None else position] ^= 0xFF
        path.write_bytes(gzip.compress(bytes(data)))
    else:
        data = bytearray(path.read_bytes())
        data[len(data) // 2 if position is None else position] ^= 0xFF
        path.write_bytes(bytes(data))


def test_cache_takes_only_verified_files_and_repairs_a_damaged_copy(fake_mnist, tmp_path, monkeypatch):
    """What torchvision's DataLoader baseline reads (benchmarks/lenet_epoch.py): a corrupt source is
    named and never copied; a copy damaged later is replaced from the good source before use."""
    from torchvision.datasets import MNIST

    data, _ = fake_mnist
    stem = "train-images-idx3-ubyte"
    good = (data / "MNIST" / "raw" / f"{stem}.gz").read_bytes()
    flip(data / "MNIST" / "raw" / f"{stem}.gz")
    with pytest.raises(MnistFileError, match=f"{data / 'MNIST' / 'raw' / stem}.gz: MD5 of the uncompressed bytes"):
        mnist_mod.torchvision_root()
    cache = tmp_path / "cache" / "lessons_lib" / "MNIST" / "raw"
    assert not list((tmp_path / "cache").rglob(f"{stem}*")) and not list((tmp_path / "cache").rglob("*.tmp"))

    (data / "MNIST" / "raw" / f"{stem}.gz").write_bytes(good)  # LESSONS_DATA fixed
    root = mnist_mod.torchvision_root()
    expected = load_sample()[0].images
    assert torch.equal(MNIST(root, train=True, download=False).data, expected)

    flip(cache / stem)  # the cached copy damaged afterwards (a disk error, an older version's copy)
    root = mnist_mod.torchvision_root()
    assert torch.equal(MNIST(root, train=True, download=False).data, expected)

    flip(cache / stem)
    monkeypatch.setenv("LESSONS_DATA", str(tmp_path / "cache" / "lessons_lib"))  # no good copy anywhere
    with pytest.raises(MnistFileError, match=f"{cache / stem}: MD5 does not match MNIST's; the file is corrupt"):
        mnist_mod.torchvision_root()


def test_concurrent_first_uses_of_the_cache(tmp_path):
    """Six processes fill the empty cache at the same moment (files of 19 MB, nearly as big as MNIST's
    training images): every one succeeds, every copy verifies, no temporary file is left."""
    md5 = write_fake_mnist(tmp_path / "data", repeat=8)
    gate = tmp_path / "go"
    code = ("import json, os, sys, time; from lessons_lib.data import mnist_files as m\n"
            "m.MD5_UNCOMPRESSED = json.loads(sys.argv[1])\n"
            "print('ready', flush=True)\n"
            "while not os.path.exists(sys.argv[2]): time.sleep(0.002)\n"
            "print(m.torchvision_root())")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LESSONS_DATA": str(tmp_path / "data"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", code, json.dumps(md5), str(gate)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    assert all(p.stdout.readline().strip() == "ready" for p in procs)
    gate.touch()
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err[-300:] for _, err in outputs if err]
    cache = tmp_path / "cache" / "lessons_lib" / "MNIST" / "raw"
    assert sorted(p.name for p in cache.iterdir()) == sorted(md5)
    for stem, digest in md5.items():
        assert hashlib.md5((cache / stem).read_bytes()).hexdigest() == digest


def test_a_flipped_byte_anywhere_in_a_gz_file_names_the_file(tmp_path):
    """Every position of a gzip file flipped in turn: the file reads as before (a header byte that
    does not matter) or fails with an error that names it, never a bare zlib.error."""
    labels = load_sample()[1].labels.to(torch.uint8)
    blob = gzip.compress(idx_bytes(labels), mtime=0)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    named = 0
    for position in range(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 0x55
        path.write_bytes(bytes(damaged))
        try:
            assert torch.equal(torch.from_numpy(mnist_mod.read_idx(path, verify=False).copy()), labels)
        except MnistFileError as exc:
            assert str(path) in str(exc)
            named += 1
    assert named > 0.9 * len(blob)


def test_download_falls_back_to_the_next_mirror_and_keeps_only_verified_files(fake_mnist, tmp_path, monkeypatch):
    """A mirror that refuses, then one that serves the files: downloaded, verified, found; a mirror
    that serves a damaged file leaves nothing in the cache."""
    import functools
    import http.server

    from torchvision.datasets import MNIST

    data, _ = fake_mnist
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(data / "MNIST" / "raw"))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = s.getsockname()[1]
    try:
        for var in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv("LESSONS_DATA")
        monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{refused}/", f"http://127.0.0.1:{httpd.server_port}/"])
        train = load_mnist("train")
        assert torch.equal(train.images, load_sample()[0].images)
        assert sorted(p.name for p in (tmp_path / "cache" / "lessons_lib" / "MNIST" / "raw").iterdir()) == \
            sorted(f"{stem}.gz" for stem in mnist_mod.MD5_UNCOMPRESSED)
        shutil.rmtree(tmp_path / "cache")
        flip(data / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz")
        with pytest.raises(MnistFileError, match="t10k-labels-idx1-ubyte.gz: MD5 of the uncompressed bytes"):
            load_mnist("test")
        assert not list((tmp_path / "cache").rglob("t10k-labels*")) and not list((tmp_path / "cache").rglob("*.tmp"))
    finally:
        httpd.shutdown()


def test_download_behind_a_proxy_that_never_answers_fails_within_30_s(monkeypatch, tmp_path):
    """The README's promise at the real DOWNLOAD_TIMEOUT: the proxy accepts connections and never
    answers; so do the mirrors when reached directly (on port 443 where this test may bind it)."""
    from torchvision.datasets import MNIST

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("127.0.0.1", 443))
    except OSError:  # not root, or taken
        server.bind(("127.0.0.1", 0))
    server.listen(64)
    conns, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    host = "127.0.0.1" if port == 443 else f"127.0.0.1:{port}"
    try:
        monkeypatch.delenv("LESSONS_DATA", raising=False)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
        for var in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(var, raising=False)
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            monkeypatch.setenv(var, f"http://127.0.0.1:{port}")
        monkeypatch.setattr(MNIST, "mirrors", [f"https://{host}/a/", f"https://{host}/b/"])
        assert mnist_mod.DOWNLOAD_TIMEOUT == 30
        start = time.monotonic()
        with pytest.raises(MnistFileError, match="Point LESSONS_DATA at a folder"):
            load_mnist("train")
        assert time.monotonic() - start < 30
        assert not list(tmp_path.rglob("*.gz")) and not list(tmp_path.rglob("*.tmp"))
    finally:
        stop.set()
        thread.join()
        for c in conns:
            c.close()
        server.close()


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
    (dict(x=torch.zeros(4, 5, 5, dtype=torch.uint8), resize=0), r"resize must be None, a positive int or a pair of them \(H, W\); got 0"),
    (dict(x=torch.zeros(4, 5, 5, dtype=torch.uint8), resize=(8, 0)), r"resize must be .*; got \(8, 0\)"),
    (dict(x=torch.zeros(4, 5, 5, dtype=torch.uint8), normalize=(0.1, 0)), r"normalize must be None or \(mean, std\) with std > 0"),
    (dict(x=torch.zeros(4, 5, 5, dtype=torch.uint8), scale=0), "scale must be a positive number or None; got 0"),
    (dict(x=torch.zeros(4, 5, 5), noise_std=-0.1), "noise_std must be a non-negative number; got -0.1"),
])
def test_loader_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DeviceLoader(**kwargs)
