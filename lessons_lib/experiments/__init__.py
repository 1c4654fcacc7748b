"""The chapters' experiments, and the table of those that ``python -m lessons_lib.reproduce`` runs.

Each chapter module (``lenet``, ``alexnet``, ``autoencoders``, ``rnn``) holds the chapter's
``SETTINGS`` for the three profiles, its training functions and its full-scale runs. A run is
``run(profile, seed, device, checkpoints=None, **overrides)`` and returns
``{"metrics": {...}, "history": ..., "settings": {...}}``; ``checkpoints`` is a folder where it
keeps one checkpoint per training run (see :func:`checkpoint_path`), so an interrupted run resumes.
:data:`EXPERIMENTS` below lists them all, in the book's order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


def checkpoint_path(checkpoints, key: str) -> Path | None:
    """The checkpoint file of training run ``key`` inside the folder ``checkpoints`` (None: none)."""
    return None if checkpoints is None else Path(checkpoints) / f"{key}.pt"


@dataclass(frozen=True)
class Experiment:
    name: str
    run: Callable
    chapter: str
    section: str  # the label of the chapter section that discusses the result
    description: str
    # [{"metric", "value", "text", "source", optional "compare": "approx" | "at_least" | "at_most",
    #   optional "tolerance"}]; "value": None states what is measured without a published figure.
    claims: list = field(default_factory=list)
    default_seeds: int = 3


def _table() -> dict[str, Experiment]:
    from . import alexnet, autoencoders, lenet, rnn

    L = lenet
    experiments = [
        Experiment("lenet_caffe", L.run_variant("caffe"), "lenet", "lenet-full", L.DESCRIPTIONS["caffe"],
                   [L.LECTURE_CLAIM, L.CAFFE_TUTORIAL_CLAIM]),
        Experiment("lenet_caffe_xavier", L.run_variant("caffe_xavier"), "lenet", "lenet-full",
                   L.DESCRIPTIONS["caffe_xavier"], [L.LECTURE_CLAIM, L.CAFFE_TUTORIAL_CLAIM]),
        Experiment("lenet_conv_relu", L.run_variant("conv_relu"), "lenet", "lenet-full",
                   L.DESCRIPTIONS["conv_relu"], [L.LECTURE_CLAIM]),
        Experiment("lenet_conv_relu_dropout", L.run_variant("conv_relu_dropout"), "lenet", "lenet-full",
                   L.DESCRIPTIONS["conv_relu_dropout"], [L.LECTURE_CLAIM]),
        Experiment("lenet_conv_relu_dropout_shift", L.run_variant("conv_relu_dropout_shift"), "lenet", "lenet-full",
                   L.DESCRIPTIONS["conv_relu_dropout_shift"], [L.LECTURE_CLAIM]),
        Experiment("lenet_mlp", L.run_mlp, "lenet", "lenet-weight-sharing", L.DESCRIPTIONS["mlp"]),
        Experiment("alexnet_relu_tanh", alexnet.alexnet_relu_tanh, "alexnet", "alexnet-relu",
                   "Four-layer CNN on all of MNIST, ReLU vs tanh (the form of the AlexNet paper's Figure 1): "
                   "epochs to 25/10/5/2% training error", alexnet.RELU_TANH_CLAIMS, default_seeds=3),
        Experiment("alexnet_regularisation", alexnet.alexnet_regularisation, "alexnet", "alexnet-regularisation",
                   "AlexNet-style network (torchvision widths) at 224x224 on 1,000 digits: neither, dropout, shifts, "
                   "both; test accuracy and loss, largest one-epoch fall", alexnet.REGULARISATION_CLAIMS, default_seeds=3),
        Experiment("alexnet_mnist", alexnet.alexnet_mnist, "alexnet", "alexnet-regularisation",
                   "AlexNet-style network (torchvision widths, 1 channel) on all of MNIST at 224x224, bf16: test accuracy",
                   alexnet.MNIST_CLAIMS, default_seeds=3),
        Experiment("autoencoders_code_size", autoencoders.run_code_size, "autoencoders", "autoencoders-deep",
                   "PCA vs linear vs deep autoencoder: test MSE per pixel against code size; principal angles",
                   autoencoders.CODE_SIZE_CLAIMS, default_seeds=3),
        Experiment("autoencoders_overcomplete", autoencoders.run_overcomplete, "autoencoders", "autoencoders-overcomplete",
                   "784-1024-784 autoencoder: plain, L1-sparse, denoising; sparsity, PSNR, non-digit inputs",
                   default_seeds=3),
        Experiment("rnn_adding", rnn.run_adding, "rnn", "rnn-adding",
                   "Adding problem at T=50..400: updates until RNN, LSTM, GRU learn it (held-out MSE below a tenth "
                   "of the 0.167 baseline, at most 4,800), and the gradient reaching early steps before and after",
                   rnn.ADDING_CLAIMS),
        Experiment("rnn_loop_vs_fused", rnn.run_loop_vs_fused, "rnn", "rnn-speed",
                   "Seconds per forward+backward: from-scratch cell loop vs fused nn.RNN/LSTM/GRU, B=64, T=100, H=128",
                   default_seeds=1),
        Experiment("rnn_row_mnist", rnn.run_row_mnist, "rnn_applications", "rnn-row-mnist",
                   "MNIST read row by row (28 steps of 28 pixels): test accuracy of RNN, LSTM, GRU",
                   rnn.ROW_MNIST_CLAIMS),
        Experiment("rnn_char", rnn.run_char, "rnn_applications", "rnn-char",
                   "Character-level language model on Python's standard library: validation perplexity of "
                   "RNN, LSTM, GRU (256 units), samples, the unit that tracks indentation"),
    ]
    return {e.name: e for e in experiments}


EXPERIMENTS: dict[str, Experiment] = _table()
