"""SGD whose learning rate and schedule live on the device, so a CUDA graph can capture them.

``torch.optim.SGD`` reads its learning rate as a Python float when it steps; a captured
CUDA graph would freeze that value. Here the step counter and the learning rate are tensors
on the parameters' device, and the schedule is a function of the step tensor written in torch
operations, so the whole update, schedule included, is a fixed sequence of kernels.
The arithmetic is torch.optim.SGD's (momentum, dampening 0, L2 weight decay); a test checks
that both give the same weights.
"""
from __future__ import annotations

from typing import Callable

import torch


def caffe_inv(gamma: float = 1e-4, power: float = 0.75) -> Callable[[torch.Tensor], torch.Tensor]:
    """Caffe's ``lr_policy: "inv"`` as a multiplier: ``(1 + gamma * iter) ** -power``."""
    return lambda it: (1 + gamma * it) ** -power


class SGD(torch.optim.Optimizer):
    """SGD with momentum and weight decay; ``lr * lr_lambda(step)`` computed on the device."""

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 lr_lambda: Callable[[torch.Tensor], torch.Tensor] | None = None):
        if not lr > 0:
            raise ValueError(f"lr must be positive; got {lr!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); got {momentum!r}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be non-negative; got {weight_decay!r}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))
        self.lr_lambda = lr_lambda
        device = self.param_groups[0]["params"][0].device
        self.state["step"] = torch.zeros((), device=device)  # iterations done, on the device

    def current_lr(self, group: dict | None = None) -> torch.Tensor:
        group = group or self.param_groups[0]
        factor = self.lr_lambda(self.state["step"]) if self.lr_lambda else 1.0
        return group["lr"] * factor if torch.is_tensor(factor) else torch.tensor(group["lr"] * factor)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if group["weight_decay"]:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            if group["momentum"]:
                bufs = []
                for p in params:
                    if "momentum_buffer" not in self.state[p]:
                        self.state[p]["momentum_buffer"] = torch.zeros_like(p)
                    bufs.append(self.state[p]["momentum_buffer"])
                torch._foreach_mul_(bufs, group["momentum"])
                torch._foreach_add_(bufs, grads)
                grads = bufs
            if self.state["step"].device != params[0].device:  # the model moved after the optimiser was made
                self.state["step"] = self.state["step"].to(params[0].device)
            lr = self.current_lr(group).to(params[0].device)
            torch._foreach_add_(params, torch._foreach_mul(grads, -lr))
        self.state["step"] += 1
        return loss
