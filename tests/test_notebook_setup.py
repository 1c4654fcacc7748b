"""The hidden first cell of every notebook: installs lessons_lib in Colab, does nothing elsewhere.

Both branches run here without Colab: a fake ``google.colab`` module stands in for Colab and
``subprocess.check_call`` is replaced, so nothing is installed.
"""
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml

from lessons_lib import notebooks
from lessons_lib.notebooks import MARKER, SETUP_TAG, book_notebooks, repository_url, setup_cell_source

ROOT = Path(__file__).resolve().parent.parent


def config_url() -> str:
    """repository.url read with a real YAML parser, independently of lessons_lib's reader."""
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def run_cell(monkeypatch, *, colab: bool, installed: bool) -> list:
    """Execute the setup cell's code; return the commands it passed to subprocess.check_call."""
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, *a, **k: calls.append(cmd) or 0)
    if colab:
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "lessons_lib" and not installed:
            return None
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    exec(compile(setup_cell_source(), "<setup cell>", "exec"), {"__name__": "__main__"})
    return calls


def test_repository_url_is_read_from_config():
    assert repository_url() == config_url()
    assert config_url().startswith("https://")


def test_in_colab_without_lessons_lib_pip_installs_from_the_configured_repository(monkeypatch):
    calls = run_cell(monkeypatch, colab=True, installed=False)
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", f"git+{config_url()}.git"]]


def test_in_colab_with_lessons_lib_installed_does_nothing(monkeypatch):
    assert run_cell(monkeypatch, colab=True, installed=True) == []


@pytest.mark.parametrize("installed", [True, False])
def test_outside_colab_does_nothing(monkeypatch, installed):
    assert run_cell(monkeypatch, colab=False, installed=installed) == []


def test_cell_follows_the_config(tmp_path):
    cfg = tmp_path / "_config.yml"
    cfg.write_text("title: x\nrepository:\n  url: https://example.org/a/b\n  branch: main\n")
    assert 'REPO_URL = "https://example.org/a/b"' in setup_cell_source(repository_url(cfg))
    cfg.write_text("title: x\n")
    with pytest.raises(ValueError, match="repository.url"):
        repository_url(cfg)


def test_sync_inserts_then_keeps_the_cell(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("(x)=\n# X")])
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert notebooks.sync_setup_cell(path) is True
    assert notebooks.sync_setup_cell(path) is False  # idempotent
    cells = nbformat.read(path, as_version=4).cells
    assert [c.cell_type for c in cells] == ["code", "markdown"]
    assert cells[0].source == setup_cell_source() and SETUP_TAG in cells[0].metadata["tags"]


NOTEBOOKS = book_notebooks()


@pytest.mark.skipif(not NOTEBOOKS, reason="no notebooks in book/ yet")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_starts_with_the_setup_cell(path):
    cells = nbformat.read(path, as_version=4).cells
    setup = [i for i, c in enumerate(cells) if c.cell_type == "code" and c.source.startswith(MARKER)]
    fix = "run `python -m lessons_lib.notebooks` to fix"
    assert setup == [0], f"{path.name}: the setup cell must be the first cell and appear once ({fix})"
    first = cells[0]
    assert first.source == setup_cell_source(), f"{path.name}: the setup cell is out of date ({fix})"
    assert SETUP_TAG in first.metadata.get("tags", []), f"{path.name}: the setup cell must be tagged {SETUP_TAG}"
    assert not first.get("outputs"), f"{path.name}: the setup cell must have no output outside Colab"


def test_cell_builders_for_the_notebook_generators():
    from lessons_lib.notebooks import code_cell, markdown_cell

    assert markdown_cell("\n# Title\n").source == "# Title"
    cell = code_cell("\nplot()\n", tags=("hide-input",), alt="a figure")
    assert cell.source == "plot()" and cell.metadata["tags"] == ["hide-input"]
    assert cell.metadata["mystnb"] == {"image": {"alt": "a figure"}}
    assert "tags" not in code_cell("x = 1").metadata
