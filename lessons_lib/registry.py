"""The registry of experiments that ``python -m lessons_lib.reproduce`` can run.

It lives in its own module so that running ``reproduce`` as a script (``__main__``) and the
chapters' experiment modules share one registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Experiment:
    name: str
    fn: Callable
    description: str
    chapter: str = ""
    # [{"metric", "value", "text", "source", optional "compare": "approx" | "at_least" | "at_most",
    #   optional "tolerance" for approx (default: two standard deviations of the seeds)}];
    # "value": None states what is measured without a published figure to check.
    claims: list = field(default_factory=list)
    default_seeds: int = 3
    # Optional ``batched(profile, seeds, device, **overrides) -> [result per seed]`` that trains
    # all seeds at once (one stacked model); ``reproduce --batch-seeds`` uses it.
    batched: Callable | None = None
    # The label of the chapter section that discusses the result (the results page links it).
    section: str = ""


REGISTRY: dict[str, Experiment] = {}


def register(name: str, *, description: str, chapter: str = "", claims: list | None = None,
             default_seeds: int = 3, batched: Callable | None = None, section: str = ""):
    """Decorator: make ``fn(profile, seed, device, **overrides)`` runnable as ``name``.

    ``batched``, when given, runs a list of seeds at once and returns one result per seed.
    ``section`` is the label of the chapter section that explains the result, e.g. ``lenet-full``.
    """
    def wrap(fn):
        if name in REGISTRY and REGISTRY[name].fn is not fn:
            raise ValueError(f"experiment {name!r} is registered twice")
        REGISTRY[name] = Experiment(name, fn, description, chapter, claims or [], default_seeds, batched, section)
        return fn
    return wrap


