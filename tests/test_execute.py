import pytest

nbformat = pytest.importorskip("nbformat")

from lessons_lib.execute import execute_notebook  # noqa: E402


def write(path, *sources):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)


def test_execute_stores_outputs_at_the_profile(tmp_path):
    path = tmp_path / "nb.ipynb"
    write(path, "import os; print(os.environ['LESSONS_PROFILE'], os.environ['LESSONS_EXECUTING'])",
          "import lessons_lib; lessons_lib.report()")
    execute_notebook(path, profile="smoke", timeout=120)
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].outputs[0]["text"].strip() == "smoke 1"
    report = cells[1].outputs[0]["text"]
    assert "profile: smoke" in report and "torch" in report and "wall time" in report


def test_failed_run_leaves_the_notebook_untouched(tmp_path):
    path = tmp_path / "nb.ipynb"
    write(path, "x = 1", "raise RuntimeError('boom')")
    before = path.read_text()
    with pytest.raises(Exception, match="boom"):
        execute_notebook(path, profile="smoke", timeout=120)
    assert path.read_text() == before


def test_execute_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="path must be an existing .ipynb file"):
        execute_notebook(tmp_path / "missing.ipynb")
    path = tmp_path / "nb.ipynb"
    write(path, "1")
    with pytest.raises(ValueError, match="profile must be one of"):
        execute_notebook(path, profile="tiny")
