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
    import myst_nb

    np = pytest.importorskip("numpy")
    stored = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: stored.update({name: value}))
    page.glue("mean", np.float64(0.25))
    page.glue("count", np.int64(3))
    assert repr(stored["mean"]) == "0.25" and repr(stored["count"]) == "3"  # not "np.float64(0.25)"


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
