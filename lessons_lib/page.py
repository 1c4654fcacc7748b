"""What a chapter's page needs besides training: numbers for the text, tables, code, the run record.

* :func:`glue` makes a computed value citable in the prose (``{glue:text}`name:.2f```) and never
  prints it on the page.
* :class:`Table` shows rows of values as a table (HTML on the page, aligned text elsewhere).
* :func:`show_source` shows the source of a library function or class: the page's one way of
  showing code that lives in ``lessons_lib``, so a listing is always the current code.
* :func:`report` prints how the page was made (profile, device, versions, commit, wall time).

Importing this module makes the notebook's figures SVG (a 2x PNG when the SVG would be heavy),
sharp on any screen.
"""
from __future__ import annotations

import html
import inspect
import time


SVG_LIMIT = 200_000  # bytes; a denser figure (thousands of points, a large image grid) goes out as a 2x PNG


def _figure_formats() -> None:
    """Figures as SVG (sharp at any zoom, small for line plots), or as a pixel-doubled PNG when the
    SVG would be heavy: the page stays sharp on a high-resolution screen and light to load."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import print_figure, retina_figure
        from matplotlib.figure import Figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    import matplotlib

    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller and selectable

    def svg(fig):
        data = print_figure(fig, fmt="svg", bbox_inches="tight")
        return data if data is not None and len(data) <= SVG_LIMIT else None

    def png(fig):
        if svg(fig) is not None:
            return None
        return retina_figure(fig, base64=True, bbox_inches="tight")

    def apply(*_):
        formatters = shell.display_formatter.formatters
        for mime in formatters:
            formatters[mime].pop(Figure, None)
        formatters["image/svg+xml"].for_type(Figure, svg)
        formatters["image/png"].for_type(Figure, png)

    apply()
    # Importing pyplot later sets the inline backend's own formats: take ours back before figures are shown.
    shell.events.register("post_execute", apply)


_figure_formats()


def glue(name: str, value) -> None:
    """Make ``value`` citable in the page's text as ``{glue:text}`name```; shows nothing.

    The book renders the stored outputs, so the prose quotes the number the notebook computed. A
    string is stored with its quote marks, which the book removes (myst-nb reads the stored text as a
    Python literal: a string stored without them, such as "2, 8, 32", would show as a tuple).
    Without myst-nb (e.g. in Colab) it does nothing.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier-like string; got {name!r}")
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        # numpy 2 shows a scalar as "np.float64(0.5)", which the book's {glue:text}`name:.2f` cannot format
        value = value.item()
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=False)


class Table:
    """Rows of values under a header, shown as a table: HTML in a notebook, aligned text elsewhere
    (which nbval can compare). ``None`` shows as an empty cell."""

    def __init__(self, header, rows, caption: str | None = None):
        self.header = [str(h) for h in header]
        self.rows = [["" if v is None else str(v) for v in r] for r in rows]
        bad = [r for r in self.rows if len(r) != len(self.header)]
        if bad:
            raise ValueError(f"every row must have {len(self.header)} cells like the header; got a row of {len(bad[0])}")
        self.caption = caption

    def __repr__(self) -> str:
        rows = [self.header, *self.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(([self.caption] if self.caption else []) + lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table class='lessons-table'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def show_source(obj):
    """The source code of a function, method or class of the library, highlighted as Python."""
    if not (inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj)):
        raise ValueError(f"obj must be a function, method or class; got {type(obj).__name__}")
    from IPython.display import Code

    return Code(inspect.getsource(obj), language="python")


def report() -> None:
    """Print the profile, device, library versions, commit and wall time since this page started.

    The last cell of every chapter calls it, so each stored page says how it was made.
    """
    from . import _IMPORTED_AT
    from .device import environment

    env = environment()
    print(f"profile: {env['profile']}")
    print(f"device: {env['device']}")
    print("versions: python {python}, torch {torch}, torchvision {torchvision}, numpy {numpy}, "
          "matplotlib {matplotlib}, lessons_lib {lessons_lib}".format(**env))
    print(f"commit: {env['commit']}")
    print(f"wall time: {time.time() - _IMPORTED_AT:.1f} s")
