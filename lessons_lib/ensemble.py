"""Several seeds of one network trained at once, as one model, with ``torch.func``.

A LeNet step at batch 64 keeps a GPU mostly idle: each kernel is tiny and the step costs
about as much as launching it. :class:`Ensemble` stacks the parameters of S copies of a
network (one per seed) along a new first axis and runs them with ``torch.func.vmap``: one
step launches the same number of kernels as a single model's step, each S times wider, and
trains S independent networks. :class:`~lessons_lib.train.Trainer` recognises an ensemble
and keeps its loss and metric per member; :class:`~lessons_lib.data.StackedLoader` gives each
member its own batches.

Every member's update is exactly the single model's: SGD, momentum and weight decay act
element by element, and the loss is the *sum* of the members' mean losses, so the gradient
of member i's weights is the gradient of its own loss. A test checks that each member ends
where a separate run with its seed ends. Dropout masks are drawn differently
(``randomness="different"``), so dropout runs are equivalent in distribution, not bit for bit.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class Ensemble(nn.Module):
    """S networks of one architecture, called on S batches at once.

    Args:
        models: the members, e.g. ``[make(seed) for seed in seeds]``: same class, same
            parameter names and shapes, and no buffers (batch-norm statistics are not
            supported).

    ``forward(x)`` takes ``x`` of shape ``(S, B, ...)``, member i's batch at ``x[i]``, and
    returns the members' outputs stacked the same way, ``(S, B, ...)``.
    """

    def __init__(self, models: Sequence[nn.Module]):
        super().__init__()
        if isinstance(models, nn.Module):
            raise ValueError(f"Ensemble takes a list of models (one per seed); got one {type(models).__name__}")
        models = list(models)
        if not models:
            raise ValueError("Ensemble needs a non-empty list of models (one per seed)")
        for i, m in enumerate(models):
            if not isinstance(m, nn.Module):
                raise ValueError(f"Ensemble members must be torch.nn.Module; member {i} is {type(m).__name__}")
        first = models[0]
        shapes = {n: tuple(p.shape) for n, p in first.named_parameters()}
        for i, m in enumerate(models[1:], start=1):
            other = {n: tuple(p.shape) for n, p in m.named_parameters()}
            if type(m) is not type(first) or other != shapes:
                raise ValueError(f"Ensemble members must share one architecture; member {i} ({type(m).__name__}) "
                                 f"differs from member 0 ({type(first).__name__}) in its class or parameter shapes")
        buffers = [n for n, _ in first.named_buffers()]
        if buffers:
            raise ValueError(f"Ensemble supports models without buffers; {type(first).__name__} has {buffers}")
        params, _ = stack_module_state(models)
        self.size = len(models)
        self._names = list(params)
        for name in self._names:
            self.register_parameter(name.replace(".", "__"), nn.Parameter(params[name].detach().clone()))
        # Kept out of the module tree: the template (for members()) and a weightless copy that
        # functional_call runs with the stacked weights (its train/eval mode follows ours).
        self._template = [copy.deepcopy(first).cpu()]
        self._skeleton = [copy.deepcopy(first).to("meta")]
        self._skeleton[0].train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        self._skeleton[0].train(mode)
        return self

    def stacked(self) -> dict[str, torch.Tensor]:
        """The stacked parameters by the member's parameter names, e.g. ``features.0.weight``."""
        return {name: getattr(self, name.replace(".", "__")) for name in self._names}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim < 1 or x.shape[0] != self.size:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"an Ensemble of {self.size} members expects inputs of shape ({self.size}, batch, ...), "
                             f"one batch per member; got {shape}")
        skeleton = self._skeleton[0]

        def one(params, xi):
            return functional_call(skeleton, params, (xi,))

        return vmap(one, randomness="different")(self.stacked(), x)

    def members(self) -> list[nn.Module]:
        """Each member as a plain model (a copy, on this ensemble's device) with its trained weights."""
        device = next(self.parameters()).device
        out = []
        for i in range(self.size):
            m = copy.deepcopy(self._template[0]).to(device)
            m.load_state_dict({n: p[i].detach().clone() for n, p in self.stacked().items()})
            m.train(self.training)
            out.append(m)
        return out


def is_ensemble(model) -> bool:
    return isinstance(model, Ensemble)


def member_histories(history: list[dict], size: int) -> list[list[dict]]:
    """Split an ensemble's history (columns ``<name>_members`` hold one value per member)
    into one history per member with the usual column names."""
    out = [[] for _ in range(size)]
    for row in history:
        for i in range(size):
            member = {}
            for k, v in row.items():
                if k.endswith("_members"):
                    if len(v) != size:
                        raise ValueError(f"column {k!r} holds {len(v)} values; expected {size}")
                    member[k[: -len("_members")]] = v[i]
                elif f"{k}_members" not in row:
                    member[k] = v  # shared by all members: epoch, time, learning rate
            out[i].append(member)
    return out
