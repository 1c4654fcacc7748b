"""What a chapter's page uses besides training: glue, tables, source listings, the run record."""
import pytest

from lessons_lib import page
from lessons_lib.training import Trainer


def test_glue_shows_nothing_and_checks_the_name(capsys):
    assert page.glue("value_a", 0.7276785714285714) is None  # nothing to print at the end of a cell
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="identifier-like"):
        page.glue("not a name", 1)


def test_glue_stores_numpy_scalars_as_plain_numbers(monkeypatch):
    myst_nb = pytest.importorskip("myst_nb")  # the book's dependency, not the library's

    np = pytest.importorskip("numpy")
    stored = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: stored.update({name: value}))
    page.glue("mean", np.float64(0.25))
    page.glue("count", np.int64(3))
    assert repr(stored["mean"]) == "0.25" and repr(stored["count"]) == "3"  # not "np.float64(0.25)"
    page.glue("sizes", "2, 8, 32")
    myst_variables = pytest.importorskip("myst_nb.core.variables")
    # the book shows the stored text/plain through format_plain_text: the string, not a tuple
    assert myst_variables.format_plain_text(repr(stored["sizes"]), "") == "2, 8, 32"


def test_table_renders_as_html_and_aligned_text():
    t = page.Table(["layer", "params"], [[1, "520"], [2, None]], caption="LeNet")
    assert repr(t).splitlines() == ["LeNet", "layer  params", "-----  ------", "1      520", "2"]
    assert "<table class='lessons-table'><caption>LeNet</caption>" in t._repr_html_()
    assert "<td>520</td>" in t._repr_html_() and "<td></td>" in t._repr_html_()
    with pytest.raises(ValueError, match="every row must have 2 cells"):
        page.Table(["a", "b"], [[1]])


def test_show_source_is_the_current_code():
    code = page.show_source(Trainer.train_epoch)
    assert "def train_epoch(self, loader)" in code.data and "self.step(x, y)" in code.data
    with pytest.raises(ValueError, match="function, method or class"):
        page.show_source(3)


def test_report(capsys):
    page.report()
    out = capsys.readouterr().out
    for key in ("profile:", "device:", "versions:", "commit:", "wall time:"):
        assert key in out


def test_figures_are_svg_or_a_2x_png_when_the_svg_would_be_heavy():
    """Whether pyplot is imported before or after the page module, a line plot comes out as SVG
    and a dense scatter plot as a pixel-doubled PNG (displayed at half its pixel size)."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    for first, second in (("from lessons_lib.page import glue", "import matplotlib.pyplot as plt"),
                          ("import matplotlib.pyplot as plt", "from lessons_lib.page import glue")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"{first}\n{second}\nimport numpy as np"),
                                             nbformat.v4.new_code_cell("plt.plot([1, 2, 3]);"),
                                             nbformat.v4.new_code_cell("x = np.random.randn(30000, 2)\n"
                                                                       "plt.scatter(x[:, 0], x[:, 1], s=2);")])
        NotebookClient(nb, kernel_name="python3", timeout=120).execute()
        line, dense = ([o for o in c.outputs if "data" in o][0] for c in nb.cells[1:])
        assert "image/svg+xml" in line["data"] and "image/png" not in line["data"]
        assert "image/png" in dense["data"] and "image/svg+xml" not in dense["data"]
        assert len(dense["data"]["image/png"]) < page.SVG_LIMIT
        assert dense["metadata"]["image/png"]["width"] > 200
