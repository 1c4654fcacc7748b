"""Profiles: one switch, ``LESSONS_PROFILE``, sets the scale of every notebook and script.

* ``smoke``    -- CI: seconds of training per notebook, on the MNIST sample shipped with the package.
* ``standard`` -- the default: each notebook in minutes on a laptop CPU or free Colab.
* ``full``     -- the scale of the original claim (e.g. LeNet for 75 epochs), run by
  ``python -m lessons_lib.reproduce``.

Each chapter writes its settings once, for all three profiles, in its experiments module::

    SETTINGS = Profiles(
        smoke=dict(epochs=1, source="sample"),
        standard=dict(epochs=5, source="full"),
        full=dict(epochs=75, source="full"),
    )
    P = SETTINGS()      # the active profile's settings: P.epochs, P.source
    SETTINGS            # in a notebook: a table of all three, the active one marked
"""
from __future__ import annotations

import html
import os
from types import SimpleNamespace

PROFILES = ("smoke", "standard", "full")
DEFAULT_PROFILE = "standard"
ENV_VAR = "LESSONS_PROFILE"


def check_profile(name: str) -> str:
    """Return ``name`` if it is a valid profile, else raise a ValueError listing the valid ones."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {name!r}"
                         f" (set {ENV_VAR} to one of these names)")
    return name


def current_profile() -> str:
    """The active profile: ``$LESSONS_PROFILE``, or ``standard`` when it is unset or empty."""
    return check_profile(os.environ.get(ENV_VAR, "").strip() or DEFAULT_PROFILE)


class Profiles:
    """One chapter's settings at each of the three profiles, with the same keys in each."""

    def __init__(self, **per_profile: dict):
        missing = [p for p in PROFILES if p not in per_profile]
        extra = [p for p in per_profile if p not in PROFILES]
        if missing or extra:
            raise ValueError(f"Profiles() expects one dict for each of {', '.join(PROFILES)}; "
                             f"missing {missing or 'none'}, unknown {extra or 'none'}")
        keys = {p: tuple(d) for p, d in per_profile.items()}
        if len({frozenset(k) for k in keys.values()}) != 1:
            raise ValueError(f"Profiles() expects the same keys in every profile; got {keys}")
        self.per_profile = {p: dict(per_profile[p]) for p in PROFILES}

    def __call__(self, profile: str | None = None) -> SimpleNamespace:
        """The settings of ``profile`` (default: the active one), as attributes; ``.profile`` names it."""
        name = check_profile(profile) if profile is not None else current_profile()
        return SimpleNamespace(profile=name, **self.per_profile[name])

    def rows(self):
        for key in self.per_profile["smoke"]:
            yield key, [self.per_profile[p][key] for p in PROFILES]

    def __repr__(self) -> str:
        active = current_profile()
        lines = [f"{'setting':<16}" + "".join(f"{p + (' *' if p == active else ''):>22}" for p in PROFILES)]
        lines += [f"{k:<16}" + "".join(f"{_show(v):>22}" for v in vals) for k, vals in self.rows()]
        return "\n".join(lines + [f"* the active profile ({ENV_VAR})"])

    def _repr_html_(self) -> str:
        active = current_profile()
        head = "".join(f"<th>{p}{' (active)' if p == active else ''}</th>" for p in PROFILES)
        body = "".join(f"<tr><td><code>{html.escape(k)}</code></td>" + "".join(
            f"<td>{html.escape(_show(v))}</td>" for v in vals) + "</tr>" for k, vals in self.rows())
        return f"<table class='lessons-table'><thead><tr><th>setting</th>{head}</tr></thead><tbody>{body}</tbody></table>"


def _show(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)
