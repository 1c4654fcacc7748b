"""The setup cell every notebook starts with, kept in sync with ``_config.yml``.

In Colab a notebook arrives alone, without this repository, so its first cell installs
lessons_lib from the repository's URL when the package is missing; anywhere else it does
nothing. The URL is set in one place, ``_config.yml`` (``repository.url``), and
``python -m lessons_lib.notebooks`` writes it into every notebook's first cell. The cell is
hidden in the rendered book (tag ``remove-cell``).

The cell's code is plain Python (no ``!pip``) so that tests can run both branches.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP_TAG = "remove-cell"
MARKER = "# lessons_lib setup cell"

TEMPLATE = '''{marker}: in Colab, install lessons_lib when it is missing; elsewhere do nothing.
import importlib.util, subprocess, sys
REPO_URL = "{url}"
if "google.colab" in sys.modules and importlib.util.find_spec("lessons_lib") is None:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", f"git+{{REPO_URL}}.git"])'''


def repository_url(config: str | Path = ROOT / "_config.yml") -> str:
    """``repository.url`` from ``_config.yml`` (read without a YAML dependency)."""
    text = Path(config).read_text()
    block = re.search(r"^repository:\s*\n((?:[ \t]+.*\n?)+)", text, re.M)
    url = re.search(r"^\s+url:\s*(\S+)", block.group(1), re.M) if block else None
    if not url:
        raise ValueError(f"{config} must set repository.url; found no such key")
    return url.group(1).strip("'\"")


def setup_cell_source(url: str | None = None) -> str:
    return TEMPLATE.format(marker=MARKER, url=url or repository_url())


def sync_setup_cell(path: str | Path, url: str | None = None) -> bool:
    """Make the notebook's first cell the setup cell; return True if the file changed."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    source = setup_cell_source(url)
    first = nb.cells[0] if nb.cells else None
    if first is not None and first.cell_type == "code" and first.source.startswith(MARKER):
        if first.source == source and SETUP_TAG in first.metadata.get("tags", []):
            return False
        first.source = source
    else:
        first = nbformat.v4.new_code_cell(source)
        nb.cells.insert(0, first)
    first.metadata["tags"] = sorted(set(first.metadata.get("tags", [])) | {SETUP_TAG})
    nbformat.write(nb, path)
    return True


def markdown_cell(text: str):
    """A markdown cell for the chapters' notebook generators (``tools/*notebook*.py``)."""
    from nbformat.v4 import new_markdown_cell

    return new_markdown_cell(text.strip("\n"))


def code_cell(text: str, tags=(), alt: str | None = None):
    """A code cell with optional cell ``tags`` and ``alt`` text for the figure it draws."""
    from nbformat.v4 import new_code_cell

    cell = new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    if alt:
        cell.metadata["mystnb"] = {"image": {"alt": alt}}
    return cell


def book_notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or book_notebooks()
    for p in paths:
        if sync_setup_cell(p):
            print(f"updated the setup cell of {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def glue(name: str, value, display: bool = False):
    """Make a computed ``value`` citable in the page's text as ``{glue:text}`name```.

    The book renders the stored output, so prose quotes the number the notebook computed
    instead of a number typed by hand. Without myst-nb (e.g. in Colab) the value is simply
    returned (and shown when ``display``). Returns ``value``.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        if display:
            from IPython.display import display as _display
            _display(value)
        return value
    _glue(name, value, display=display)
    return value
