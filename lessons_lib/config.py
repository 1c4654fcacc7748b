"""Profiles: one switch, ``LESSONS_PROFILE``, for every notebook and script.

* ``smoke``    -- CI: a few seconds of training per notebook on a small sample.
* ``standard`` -- the default: each notebook in minutes on a laptop CPU or free Colab.
* ``full``     -- a GPU, the scale of the original claim (e.g. LeNet for 75 epochs).

A notebook states its settings for all three profiles in one visible cell::

    P = config.settings(
        smoke=dict(epochs=1, n_train=2_000),
        standard=dict(epochs=4, n_train=None),
        full=dict(epochs=75, n_train=None),
    )
    P.epochs   # the value for the active profile
"""
from __future__ import annotations

import os
from types import SimpleNamespace

PROFILES = ("smoke", "standard", "full")
DEFAULT_PROFILE = "standard"
ENV_VAR = "LESSONS_PROFILE"


def check_profile(name: str) -> str:
    """Return ``name`` if it is a valid profile, else raise a ValueError listing the valid ones."""
    if name not in PROFILES:
        raise ValueError(
            f"profile must be one of {', '.join(PROFILES)}; got {name!r}"
            f" (set {ENV_VAR} to one of these names)"
        )
    return name


def current_profile() -> str:
    """The active profile: ``$LESSONS_PROFILE``, or ``standard`` when it is unset or empty."""
    return check_profile(os.environ.get(ENV_VAR, "").strip() or DEFAULT_PROFILE)


def settings(profile: str | None = None, **per_profile: dict) -> SimpleNamespace:
    """Pick the settings of the active profile from one dict per profile.

    Every profile must be given, with the same keys, so that a reader sees all three
    scales side by side and a typo in one of them fails at once.
    """
    missing = [p for p in PROFILES if p not in per_profile]
    extra = [p for p in per_profile if p not in PROFILES]
    if missing or extra:
        raise ValueError(
            f"settings() expects one dict for each of {', '.join(PROFILES)}; "
            f"missing {missing or 'none'}, unknown {extra or 'none'}"
        )
    keys = {p: set(d) for p, d in per_profile.items()}
    if len({frozenset(k) for k in keys.values()}) != 1:
        raise ValueError(f"settings() expects the same keys in every profile; got {keys}")
    name = check_profile(profile) if profile is not None else current_profile()
    return SimpleNamespace(profile=name, **per_profile[name])
