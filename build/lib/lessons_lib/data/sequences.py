"""Sequence data for the recurrent-network chapter, all generated or read locally (no download).

* :func:`adding_problem` -- Hochreiter & Schmidhuber's (1997) long-memory test.
* :func:`row_mnist` -- MNIST read one row of 28 pixels per step.
* :func:`stdlib_text` / :class:`CharVocab` / :func:`char_windows` -- a character corpus made of
  the Python standard library's own source files, present on every machine with Python.
* :func:`pad_sequences` / :func:`pack` -- variable-length batches, with clear errors.
"""
from __future__ import annotations

import hashlib
import sys
import sysconfig
from pathlib import Path

import torch
from torch.nn.utils import rnn as rnn_utils

ADDING_BASELINE_MSE = 1 / 6  # Var(u1 + u2) for u ~ U[0,1]: the MSE of always predicting the mean, 1


def adding_problem(n: int, length: int, seed: int = 0):
    """``n`` sequences of ``length`` steps for the adding problem; returns ``(x, y)``.

    x (n, length, 2): channel 0 holds random numbers uniform on [0, 1], channel 1 marks two of
    them with a 1 (one position drawn in the first half, one in the second half, so the first
    marked number must be remembered for at least length/2 steps). y (n,) is the sum of the
    two marked numbers. Predicting the mean (1.0) scores an MSE of 1/6 ~ 0.167
    (:data:`ADDING_BASELINE_MSE`): a model that learned nothing stays there.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    if not isinstance(length, int) or length < 2:
        raise ValueError(f"length must be an int >= 2 (two numbers are marked); got {length!r}")
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, length, generator=g)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, length, (n,), generator=g)
    marks = torch.zeros(n, length)
    rows = torch.arange(n)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return torch.stack([values, marks], dim=-1), y


def row_mnist(images: torch.Tensor) -> torch.Tensor:
    """MNIST images (N, 28, 28) or (N, 1, 28, 28), uint8 -> float sequences (N, 28 steps, 28 pixels) in [0, 1]."""
    if not isinstance(images, torch.Tensor) or images.shape[-2:] != (28, 28) or images.ndim not in (3, 4):
        raise ValueError(f"images must be a tensor (N, 28, 28) or (N, 1, 28, 28); got "
                         f"{tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__}")
    x = images.reshape(len(images), 28, 28)
    return x.float() / 255 if x.dtype == torch.uint8 else x.float()


# A fixed list of pure-Python standard-library modules: plain prose-like code and docstrings,
# present in every CPython 3.x installation. Their text differs a little between Python
# versions, so :func:`stdlib_text` records which files it read, their sizes and a hash.
STDLIB_FILES = ("textwrap.py", "string.py", "heapq.py", "bisect.py", "fractions.py", "calendar.py",
                "difflib.py", "argparse.py", "functools.py", "random.py", "statistics.py", "shlex.py",
                "json/decoder.py", "json/encoder.py", "csv.py", "queue.py", "pprint.py", "fnmatch.py")


def stdlib_text(files=STDLIB_FILES, max_chars: int | None = None):
    """The concatenated source of ``files`` (paths relative to the standard library).

    Returns ``(text, record)``; ``record`` names the Python version, the stdlib folder, each
    file with its character count, and the SHA-256 of the text, so a result says what it was
    trained on. Non-ASCII characters are kept (they are rare in these files).
    """
    if isinstance(files, str) or not files:
        raise ValueError(f"files must be a non-empty list of paths relative to the stdlib; got {files!r}")
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, read = [], []
    for name in files:
        path = root / name
        if not path.is_file():
            raise ValueError(f"files: {name!r} is not in this Python's standard library ({root})")
        t = path.read_text(encoding="utf-8")
        parts.append(t)
        read.append({"file": name, "chars": len(t)})
    text = "\n".join(parts)
    if max_chars is not None:
        text = text[:max_chars]
    record = {"python": sys.version.split()[0], "stdlib": str(root), "files": read, "chars": len(text),
              "sha256": hashlib.sha256(text.encode()).hexdigest()}
    return text, record


class CharVocab:
    """Characters <-> integer ids, the vocabulary being the sorted set of characters of ``text``."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text:
            raise ValueError("text must be a non-empty str")
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"text holds characters outside the vocabulary: {unknown[:10]}")
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def char_windows(ids: torch.Tensor, seq_len: int, stride: int | None = None):
    """Cut a 1-D id tensor into (inputs, targets) windows (N, seq_len), targets shifted by one."""
    if not isinstance(ids, torch.Tensor) or ids.ndim != 1:
        raise ValueError(f"ids must be a 1-D tensor; got {getattr(ids, 'shape', type(ids).__name__)}")
    if not isinstance(seq_len, int) or seq_len < 1 or len(ids) < seq_len + 1:
        raise ValueError(f"seq_len must be a positive int below the text length {len(ids)}; got {seq_len!r}")
    stride = stride or seq_len
    windows = ids.unfold(0, seq_len + 1, stride)  # (N, seq_len + 1)
    return windows[:, :-1].contiguous(), windows[:, 1:].contiguous()


@torch.no_grad()
def sample_text(model, vocab: CharVocab, prompt: str, n_chars: int, temperature: float = 1.0,
                seed: int = 0) -> str:
    """Generate ``n_chars`` characters after ``prompt`` from a character model (B, T) -> (B, T, V).

    The whole prefix is re-read at each step (simple, and fast enough for a few hundred
    characters). Temperature divides the logits: below 1 sharper, above 1 flatter.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive; got {temperature!r}")
    if not prompt:
        raise ValueError("prompt must be a non-empty str")
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    ids = vocab.encode(prompt).tolist()
    for _ in range(n_chars):
        x = torch.tensor(ids[-256:], device=device)[None]
        logits = model(x)[0, -1].float().cpu() / temperature
        ids.append(int(torch.multinomial(torch.softmax(logits, -1), 1, generator=g)))
    model.train(was_training)
    return vocab.decode(ids[len(prompt):])


def pad_sequences(seqs, padding_value: float = 0.0):
    """A list of tensors (T_b, ...) -> ``(padded (B, T_max, ...), lengths (B,))``, batch first."""
    if not isinstance(seqs, (list, tuple)) or not seqs:
        raise ValueError(f"seqs must be a non-empty list of tensors; got {type(seqs).__name__}")
    for i, s in enumerate(seqs):
        if not isinstance(s, torch.Tensor) or s.ndim < 1 or len(s) == 0:
            raise ValueError(f"seqs[{i}] must be a tensor with at least one step; got "
                             f"{tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__}")
        if s.shape[1:] != seqs[0].shape[1:]:
            raise ValueError(f"seqs[{i}] has step shape {tuple(s.shape[1:])}; seqs[0] has {tuple(seqs[0].shape[1:])}")
    lengths = torch.tensor([len(s) for s in seqs])
    return rnn_utils.pad_sequence(list(seqs), batch_first=True, padding_value=padding_value), lengths


def pack(padded: torch.Tensor, lengths, enforce_sorted: bool = True):
    """``torch.nn.utils.rnn.pack_padded_sequence`` (batch first) with errors that say what is wrong.

    With ``enforce_sorted=True`` (what ONNX export and some older code need) the lengths must
    be in decreasing order; ``enforce_sorted=False`` sorts them internally and restores the
    batch order in the outputs.
    """
    if not isinstance(padded, torch.Tensor) or padded.ndim < 2:
        raise ValueError(f"padded must be a tensor (batch, steps, ...); got "
                         f"{tuple(padded.shape) if isinstance(padded, torch.Tensor) else type(padded).__name__}")
    lengths = torch.as_tensor(lengths).cpu()
    B, T = padded.shape[:2]
    if lengths.ndim != 1 or len(lengths) != B:
        raise ValueError(f"lengths must hold one length per sequence: expected {B} (the batch size of padded), "
                         f"got {tuple(lengths.shape) if lengths.ndim != 1 else len(lengths)}")
    if lengths.min() < 1 or lengths.max() > T:
        raise ValueError(f"lengths must lie in 1..{T} (the padded length); got {lengths.tolist()}")
    if enforce_sorted and (lengths[1:] > lengths[:-1]).any():
        raise ValueError(f"lengths must be sorted in decreasing order when enforce_sorted=True; got "
                         f"{lengths.tolist()} (sort the batch, or pass enforce_sorted=False)")
    return rnn_utils.pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=enforce_sorted)
