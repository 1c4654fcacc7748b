"""The book's tooling outside the package: text sources and notebooks (tools/notebooks.py), the
generated pages (book/_ext/lessons_book.py), and the Colab setup cell every chapter starts with."""
import importlib.util
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml

from lessons_lib import reproduce

ROOT = Path(__file__).resolve().parent.parent


def load(path):
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notebooks = load("tools/notebooks.py")
book = load("book/_ext/lessons_book.py")
SOURCES = sorted((ROOT / "book" / "src").glob("*.md"))


# -- text sources and notebooks --------------------------------------------------------------
def test_every_notebook_matches_its_text_source():
    stale = notebooks.out_of_sync()
    assert not stale, f"notebooks out of sync with book/src/ (run `make sync`): {stale}"
    assert {p.stem for p in SOURCES} == {p.stem for p in (ROOT / "book").glob("*.ipynb")}


def test_sync_keeps_outputs_and_check_notices_an_edit(tmp_path, monkeypatch):
    (tmp_path / "book" / "src").mkdir(parents=True)
    md = tmp_path / "book" / "src" / "x.md"
    md.write_text("---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n  name: python3\n"
                  "  display_name: Python 3\n---\n\n# Title\n\n```{code-cell} ipython3\nprint(6 * 7)\n```\n")
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(notebooks, "SOURCES", tmp_path / "book" / "src")
    ipynb = tmp_path / "book" / "x.ipynb"
    assert notebooks.out_of_sync() == ["book/x.ipynb (source book/src/x.md)"]
    assert notebooks.sync() == [ipynb]
    notebooks.execute(ipynb, "smoke", timeout=120)
    assert nbformat.read(ipynb, 4).cells[1].outputs[0]["text"] == "42\n"
    md.write_text(md.read_text().replace("# Title", "# A better title"))
    assert notebooks.out_of_sync() and notebooks.sync() == [ipynb] and not notebooks.out_of_sync()
    cells = nbformat.read(ipynb, 4).cells
    assert cells[0].source == "# A better title" and cells[1].outputs[0]["text"] == "42\n"  # output kept


def test_execute_writes_back_only_on_success(tmp_path):
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os; print(os.environ['LESSONS_PROFILE'], os.environ['LESSONS_EXECUTING'])")]), path)
    notebooks.execute(path, "smoke", timeout=120)
    assert nbformat.read(path, 4).cells[0].outputs[0]["text"].strip() == "smoke 1"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass")]), path)
    wall, cpu = notebooks.execute(path, "smoke", timeout=120)  # the kernel's CPU time counts the busy loop
    assert cpu >= 1.0 and wall >= 1.0, (wall, cpu)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise RuntimeError('boom')")]), path)
    before = path.read_text()
    with pytest.raises(Exception, match="boom"):
        notebooks.execute(path, "smoke", timeout=120)
    assert path.read_text() == before
    with pytest.raises(ValueError, match="expected an existing .ipynb file"):
        notebooks.execute(tmp_path / "missing.ipynb", "smoke")


def test_execute_copy_leaves_the_notebook_and_reports_every_failure(tmp_path):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), good)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1/0")]), bad)
    before = good.read_text()
    out = subprocess.run([sys.executable, str(ROOT / "tools/notebooks.py"), "execute", "--copy", "--profile", "smoke",
                          str(bad), str(good)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1 and "ZeroDivisionError" in out.stdout and "done in" in out.stdout
    assert good.read_text() == before


def test_execute_in_place_reports_a_failure_runs_the_rest_and_survives_an_unwritable_results_folder(
        tmp_path, monkeypatch, capsys):
    """Three notebooks of a book, the middle one failing, and a results folder that cannot be
    written (under a regular file: not even root can): the failure is reported, the others run and
    are saved, and each says it could not record its timing."""
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(notebooks, "SOURCES", book_dir / "src")  # no text sources: nothing to sync
    (tmp_path / "results").write_text("")  # where the results folder should be, a file
    monkeypatch.setattr(notebooks, "TIMINGS", tmp_path / "results" / "notebook_timings.json")
    paths = [book_dir / f"{name}.ipynb" for name in ("a", "b", "c")]
    for path, code in zip(paths, ("print(1)", "1/0", "print(3)")):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), path)
    before = paths[1].read_text()
    assert notebooks.main(["execute", "--profile", "smoke", *map(str, paths)]) == 1
    out = capsys.readouterr()
    assert out.out.count("done in") == 2 and "FAILED: CellExecutionError" in out.out and "ZeroDivisionError" in out.out
    assert out.out.count(f"could not record the timing in {tmp_path / 'results' / 'notebook_timings.json'}") == 2
    assert "1 notebook(s) failed" in out.err and str(paths[1]) in out.err
    assert [nbformat.read(p, 4).cells[0].outputs[0]["text"] for p in (paths[0], paths[2])] == ["1\n", "3\n"]
    assert paths[1].read_text() == before
    assert sorted(p.name for p in book_dir.iterdir()) == ["a.ipynb", "b.ipynb", "c.ipynb"]  # no temporary file


def test_execute_on_a_read_only_results_folder(tmp_path):
    """The same with a real read-only file system as results/ (a tmpfs mounted read-only)."""
    from testsupport import on_tmpfs

    nb = tmp_path / "book" / "x.ipynb"
    nb.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), nb)
    code = ("import importlib.util, pathlib, sys\n"
            "spec = importlib.util.spec_from_file_location('nb', sys.argv[1]); m = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(m)\n"
            "root = pathlib.Path(sys.argv[2]); m.ROOT, m.SOURCES = root, root / 'book' / 'src'\n"
            "m.TIMINGS = root / 'results' / 'notebook_timings.json'\n"
            "sys.exit(m.main(['execute', '--profile', 'smoke', str(root / 'book' / 'x.ipynb')]))")
    out = on_tmpfs(tmp_path / "results", code, ROOT / "tools" / "notebooks.py", tmp_path, readonly=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"could not record the timing in {tmp_path / 'results' / 'notebook_timings.json'} (Read-only file system)" \
        in out.stdout
    assert nbformat.read(nb, 4).cells[0].outputs[0]["text"] == "42\n"


def test_execute_with_nothing_to_execute_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(notebooks, "SOURCES", tmp_path / "book" / "src")  # as in an installed package: no book
    assert notebooks.main(["execute"]) == 2
    assert "no notebooks to execute" in capsys.readouterr().err


# -- the Colab setup cell --------------------------------------------------------------------
def setup_cell(md: Path):
    import jupytext

    return jupytext.read(md, fmt="md:myst").cells[0]


@pytest.mark.parametrize("md", SOURCES, ids=[p.stem for p in SOURCES])
def test_every_chapter_starts_with_the_setup_cell(md):
    cell = setup_cell(md)
    assert cell.cell_type == "code" and cell.source.startswith("# lessons_lib setup cell")
    assert "remove-cell" in cell.metadata.get("tags", [])
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert f'REPO_URL = "{url}"' in cell.source, "the setup cell must install from _config.yml's repository.url"


def run_cell(source, monkeypatch, colab, installed):
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, *a, **k: calls.append(cmd) or 0)
    if colab:
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "lessons_lib" and not installed else real(name, *a, **k))
    exec(compile(source, "<setup cell>", "exec"), {"__name__": "__main__"})
    return calls


@pytest.mark.parametrize("colab, installed, installs", [(True, False, True), (True, True, False), (False, False, False)])
def test_setup_cell_installs_only_in_colab_when_missing(monkeypatch, colab, installed, installs):
    source = setup_cell(SOURCES[0]).source
    calls = run_cell(source, monkeypatch, colab, installed)
    assert bool(calls) is installs
    if installs:
        assert calls[0][:4] == [sys.executable, "-m", "pip", "install"] and calls[0][-1].startswith("git+https://")


# -- the generated pages ---------------------------------------------------------------------
def test_verdicts():
    s = {"mean": 0.9930, "std": 0.0003, "n": 3}
    assert book.verdict({"value": 0.9938}, s) == "not reproduced"  # 0.0008 away, two std are 0.0006
    assert book.verdict({"value": 0.9938, "tolerance": 0.0016}, s) == "reproduced"
    assert book.verdict({"value": 0.98, "compare": "at_least"}, s) == "reproduced"
    assert book.verdict({"value": 0.98, "compare": "at_most"}, s) == "not reproduced"
    assert book.verdict({"value": 0.98}, {"mean": None, "std": None}) == "not reproduced"
    with pytest.raises(ValueError, match="compare"):
        book.verdict({"value": 1, "compare": "near"}, s)


def test_results_page_shows_only_full_scale_records(tmp_path):
    text = book.results_page(tmp_path, out=None)
    assert "`lenet_caffe` ({ref}`discussed <lenet-full>`) | 99.38% after 75 epochs" in text
    assert text.count("not yet measured") >= len(reproduce.experiments())
    reproduce.run_many(["lenet_caffe"], profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False,
                       checkpoints=tmp_path / "ck")
    assert book.results_page(tmp_path, out=None) == text  # a smoke run is never published
    record = json.loads((tmp_path / "lenet_caffe.json").read_text())
    record.update(profile="full")
    record["environment"]["commit"] = "0123456789abcdef"  # as from a clean checkout
    (tmp_path / "lenet_caffe.json").write_text(json.dumps(record))
    text = book.results_page(tmp_path, out=None)
    acc = record["summary"]["test_accuracy"]["mean"]
    assert f"{100 * acc:.2f}% ± 0.00% (test_accuracy, 1 seeds)" in text
    assert "not reproduced: {ref}`why <lenet-full>`" in text and "cpu: " in text
    assert "resumed after an interruption" not in text
    assert "of CPU time a seed" in text and record["runs"][0]["cpu_time_s"] > 0
    record["runs"][0]["resumed"] = True  # an interrupted seed, finished by a second call
    (tmp_path / "lenet_caffe.json").write_text(json.dumps(record))
    assert "resumed after an interruption: the time counts the last session only" in book.results_page(tmp_path, out=None)


def test_every_experiment_section_label_exists_in_the_book():
    labels = set()
    for md in SOURCES:
        labels |= set(re.findall(r"^\(([\w-]+)\)=", md.read_text(), re.M))
    missing = {e.name: e.section for e in reproduce.experiments().values() if e.section not in labels}
    assert not missing, f"section labels not found in any chapter: {missing}"
