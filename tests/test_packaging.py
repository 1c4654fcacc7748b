"""What a user who installs lessons_lib (pip, Colab) gets: the committed full-scale results inside
the package, and nothing of the book's tooling."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_an_installed_wheel_finds_the_committed_results(tmp_path):
    wheel_dir, target, elsewhere = tmp_path / "wheel", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    source = tmp_path / "source"  # a copy: building leaves build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", "_build", "build", ".ci-floor", "checkpoints",
                                                                 "*.egg-info", "__pycache__", ".data"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(source)],
                   check=True, capture_output=True)
    wheel = next(wheel_dir.glob("lessons_lib-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    committed = sorted(p.stem for p in (ROOT / "results").glob("*.json") if p.name != "notebook_timings.json")
    code = ("import json, lessons_lib, lessons_lib.results as r; print(json.dumps({'file': lessons_lib.__file__, "
            "'dir': str(r.results_dir()), 'names': sorted(p.stem for p in r.results_dir().glob('*.json')), "
            "'tools': __import__('importlib').util.find_spec('lessons_lib.notebooks') is not None}))")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LESSONS_RESULTS")}
    env["PYTHONPATH"] = str(target)
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, check=True, capture_output=True,
                         text=True)
    import json

    found = json.loads(out.stdout)
    assert found["file"].startswith(str(target)), "the wheel's copy must be imported, not the checkout's"
    assert found["dir"] == str(target / "lessons_lib" / "_results")
    assert [n for n in found["names"] if n != "notebook_timings"] == committed
    assert found["tools"] is False  # book tooling is not part of the package


def test_results_dir_prefers_the_environment_then_the_checkout(tmp_path, monkeypatch):
    from lessons_lib import results

    monkeypatch.setenv("LESSONS_RESULTS", str(tmp_path))
    assert results.results_dir() == tmp_path
    monkeypatch.delenv("LESSONS_RESULTS")
    assert results.results_dir() == ROOT / "results"


def test_every_package_folder_is_listed_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "lessons_lib").rglob("__init__.py")}
    assert on_disk | {"lessons_lib._results"} == listed
