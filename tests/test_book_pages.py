"""The book's generated and copied pages: the timings table of the landing page (book/_ext), the
lecture reproduced verbatim in book/seed.md, and the apparatus every chapter carries."""
import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pages = _load("book/_ext/lessons_book.py")
notebooks = _load("tools/notebooks.py")
SEED_SOURCE = ROOT.parent / "shared" / "seed" / "cnn_examples.md"  # the development checkout's copy


@pytest.mark.parametrize("secs, text", [(0, "0 s"), (38.4, "38 s"), (59.6, "1 min 00 s"), (245, "4 min 05 s"),
                                        (3725, "1 h 02 min")])
def test_format_seconds(secs, text):
    assert pages.format_seconds(secs) == text


@pytest.mark.parametrize("bad", [-1, "3", None, float("nan"), True])
def test_format_seconds_rejects_bad_input(bad):
    with pytest.raises(ValueError, match="seconds must be a non-negative number"):
        pages.format_seconds(bad)


def make_book(root: Path, chapters=("lenet", "alexnet")) -> None:
    (root / "book").mkdir(parents=True)
    (root / "results").mkdir()
    toc = "format: jb-book\nroot: book/index\nparts:\n  - caption: A\n    chapters:\n"
    for c in chapters:
        (root / "book" / f"{c}.ipynb").write_text("{}")
        toc += f"      - file: book/{c}\n"
    toc += "      - file: book/seed\n"  # a markdown page: not a notebook row
    (root / "_toc.yml").write_text(toc)


def test_timings_table_from_records(tmp_path):
    make_book(tmp_path)
    (tmp_path / "book" / "extra.ipynb").write_text("{}")
    timings = {
        "book/alexnet.ipynb": {"standard": {"seconds": 312.4, "device": "cpu (2 threads)", "date": "2026-11-27"},
                               "smoke": {"seconds": 9.0, "device": "cpu (2 threads)", "date": "2026-11-27"}},
        "book/extra.ipynb": {"standard": {"seconds": 61, "device": "cpu (2 threads)", "date": "2026-11-27"}},
        "book/gone.ipynb": {"standard": {"seconds": 1, "device": "cpu", "date": "2026-11-27"}},
    }
    (tmp_path / "results" / "notebook_timings.json").write_text(json.dumps(timings))
    full = {"name": "alexnet_relu", "chapter": "alexnet", "profile": "full", "overrides": {},
            "wall_time_s": 80.2, "environment": {"device": "cuda (NVIDIA H100)", "commit": "abc"}}
    (tmp_path / "results" / "alexnet_relu.json").write_text(json.dumps(full))
    cut = dict(full, name="cut", overrides={"epochs": 1}, wall_time_s=5)  # not a full-profile result
    (tmp_path / "results" / "cut.json").write_text(json.dumps(cut))
    out = tmp_path / "book" / "_generated" / "timings.md"

    text = pages.timings_table(tmp_path / "results" / "notebook_timings.json", tmp_path / "results", tmp_path, out)
    assert out.read_text() == text
    assert "5\u00a0min\u00a012\u00a0s" in text  # times never wrap inside a cell
    text = text.replace("\u00a0", " ")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0] for r in rows] == ["| {doc}`lenet.ipynb </book/lenet>`",
                                                     "| {doc}`alexnet.ipynb </book/alexnet>`", "| `book/extra.ipynb`"]
    assert rows[0].count(pages.NOT_MEASURED) == 3
    assert rows[1] == ("| {doc}`alexnet.ipynb </book/alexnet>` | 9 s | 5 min 12 s | "
                       "1 min 20 s for 1 experiment on cuda (NVIDIA H100) |")
    assert "1 min 01 s" in rows[2] and "gone" not in text
    assert "`standard` on cpu (2 threads)" in text
    stamp = out.stat().st_mtime_ns
    pages.timings_table(tmp_path / "results" / "notebook_timings.json", tmp_path / "results", tmp_path, out)
    assert out.stat().st_mtime_ns == stamp  # unchanged text: the file is left alone
    # a CPU record counts its seeds' CPU time, not a shared machine's wall time
    cpu = dict(full, name="lenet_x", chapter="lenet", wall_time_s=3000.0, environment={"device": "cpu (1 threads)", "commit": "abc"},
               runs=[{"wall_time_s": 1500.0, "cpu_time_s": 300.0}, {"wall_time_s": 1500.0, "cpu_time_s": 330.0}])
    (tmp_path / "results" / "lenet_x.json").write_text(json.dumps(cpu))
    text = pages.timings_table(tmp_path / "results" / "notebook_timings.json", tmp_path / "results", tmp_path, out=None)
    assert "10 min 30 s of CPU time for 1 experiment on cpu |" in text.replace("\u00a0", " ")



def test_timings_table_without_records(tmp_path):
    make_book(tmp_path, chapters=("rnn",))
    text = pages.timings_table(tmp_path / "results" / "missing.json", tmp_path / "results", tmp_path, out=None)
    assert "| {doc}`rnn.ipynb </book/rnn>` | " + " | ".join([pages.NOT_MEASURED] * 3) + " |" in text
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "(no notebooks yet)" in pages.timings_table(empty / "t.json", empty, empty, out=None)


def test_timings_table_rejects_a_broken_record(tmp_path):
    make_book(tmp_path)
    bad = tmp_path / "results" / "notebook_timings.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="notebook_timings.json is not valid JSON"):
        pages.timings_table(bad, tmp_path / "results", tmp_path, out=None)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        pages.timings_table(bad, tmp_path / "results", tmp_path, out=None)


def test_timings_recorded_by_execute_reach_the_table(tmp_path, monkeypatch):
    """The contract with tools/notebooks.py: what record_timing writes, the table shows."""
    make_book(tmp_path, chapters=("lenet",))
    record = tmp_path / "results" / "notebook_timings.json"
    monkeypatch.setattr(notebooks, "TIMINGS", record)
    notebooks.record_timing(ROOT / "book" / "lenet.ipynb", "standard", 298.7)
    text = pages.timings_table(record, tmp_path / "results", tmp_path, out=None).replace("\u00a0", " ")
    assert "| {doc}`lenet.ipynb </book/lenet>` | — | 4 min 59 s | — |" in text
    assert "CPU time" not in text  # an old entry, without the kernel's CPU time
    notebooks.record_timing(ROOT / "book" / "lenet.ipynb", "standard", 1800.0, cpu_seconds=298.7)
    text = pages.timings_table(record, tmp_path / "results", tmp_path, out=None).replace("\u00a0", " ")
    assert "| 30 min 00 s (4 min 59 s of CPU) |" in text and "the CPU time of the notebook's kernel" in text


def test_concurrent_timing_records_lose_nothing(tmp_path, monkeypatch):
    """record_timing is a locked read-modify-write: writers in parallel processes keep every entry."""
    import subprocess
    import sys

    record = tmp_path / "timings.json"
    code = ("import importlib.util, sys, pathlib; spec = importlib.util.spec_from_file_location('nb', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); m.TIMINGS = pathlib.Path(sys.argv[2]); "
            "[m.record_timing(m.ROOT / 'book' / f'{sys.argv[3]}{i}.ipynb', 'smoke', i) for i in range(15)]")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(ROOT / "tools/notebooks.py"), str(record), w])
             for w in ("a", "b", "c")]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    assert len(json.loads(record.read_text())) == 45


def test_the_repository_table_builds():
    text = pages.timings_table(out=None)
    assert text.startswith("| notebook | smoke | standard | the chapter's full-scale experiments |")


def test_sphinx_hooks(tmp_path):
    make_book(tmp_path)
    app = SimpleNamespace(srcdir=str(tmp_path))
    config = SimpleNamespace(exclude_patterns=["_build"])
    pages._on_config_inited(app, config)
    assert (tmp_path / "book" / "_generated" / "timings.md").is_file()
    assert (tmp_path / "book" / "_generated" / "results.md").is_file()
    assert config.exclude_patterns == ["_build", "book/_generated"]

    _JavaScript = pytest.importorskip("sphinx.builders.html._assets")._JavaScript

    scripts = [_JavaScript("a.js"), _JavaScript(None, body="const X = 1"), _JavaScript("", body="const X = 1"),
               _JavaScript("a.js"), _JavaScript("b.js", priority=100)]
    context = {"script_files": scripts}
    pages._dedupe_scripts(None, "p", "page.html", context, None)
    assert [(js.filename, js.attributes) for js in context["script_files"]] == [
        ("b.js", {}), ("a.js", {}), (None, {"body": "const X = 1"})]


def test_index_includes_the_generated_table():
    index = (ROOT / "book" / "index.md").read_text()
    target = re.search(r"```\{include\}\s+(\S+)", index).group(1)
    assert (ROOT / "book" / target).resolve() == pages.OUTPUT.resolve()


def seed_page_blocks() -> list[str]:
    page = (ROOT / "book" / "seed.md").read_text()
    return re.findall(r"^```\{code-block\} text\n:class: seed-lecture\n(.*?)\n```$", page, flags=re.S | re.M)


def test_seed_page_reproduces_the_lecture_verbatim():
    text = "\n".join(seed_page_blocks()) + "\n"
    stated = re.search(r"SHA-256\s+`([0-9a-f]{64})`", (ROOT / "book" / "seed.md").read_text()).group(1)
    assert hashlib.sha256(text.encode()).hexdigest() == stated
    if SEED_SOURCE.is_file():  # the development checkout also has the original file
        assert text == SEED_SOURCE.read_text()


def test_seed_page_links_each_part_to_a_chapter():
    page = (ROOT / "book" / "seed.md").read_text()
    parts = re.findall(r"^\(seed-[\w-]+\)=\n## .+\n\nChecked in \{doc\}`(\w+)`", page, flags=re.M)
    assert parts == ["lenet", "alexnet", "alexnet", "autoencoders", "rnn"]
    assert len(seed_page_blocks()) == len(parts)


# The apparatus every chapter notebook carries (house conventions 2, 4, 5, 6 and 7).
CHAPTERS = [ipynb for _, ipynb in notebooks.pairs()]


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _read(path):
    import nbformat

    return nbformat.read(path, as_version=4)


@pytest.mark.skipif(not CHAPTERS, reason="no notebooks in book/ yet")
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_chapter_apparatus(path):
    nb = _read(path)
    text = _markdown(nb)
    problems = []
    first_md = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    if not re.match(r"\([\w-]+\)=\n# \S", first_md):
        problems.append("the first markdown cell must start with a label line `(slug)=` and then `# Title`")
    if "{cite" in text and not re.search(r"```\{bibliography\}\n:filter: docname in docnames", text):
        problems.append("cites papers but has no ```{bibliography} with `:filter: docname in docnames`")
    for m in re.finditer(r":::\{solution\}[^\n]*\n((?::[^\n]*\n)*)", text):
        if ":class: dropdown" not in m.group(1):
            problems.append(f"solution not collapsed (needs `:class: dropdown`): {m.group(0).splitlines()[0]}")
    if text.count("{solution}") and text.count("{exercise}") < 1:
        problems.append("solutions without exercises")
    for i, cell in enumerate(nb.cells):
        # a control character in a source is a lost backslash escape
        bad = re.search(r"[\x00-\x08\x0b-\x1f]|\$[^$\n]*\t[^$\n]*\$", cell.source)
        if bad:
            problems.append(f"cell {i} holds a control character (a lost backslash escape?): "
                            f"{cell.source[max(0, bad.start() - 30):bad.end() + 10]!r}")
        if cell.cell_type != "code":
            continue
        has_image = any(k.startswith("image/") for o in cell.get("outputs", []) for k in o.get("data", {}))
        meta = cell.metadata.get("mystnb", {})
        if has_image and not (meta.get("image", {}).get("alt") or meta.get("figure", {}).get("caption")):
            problems.append(f"cell {i} shows a figure without alt text (metadata mystnb.image.alt)")
        code = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        hidden = {"remove-input", "remove-cell", "hide-input"} & set(cell.metadata.get("tags", []))
        if code and code[0].startswith("assert") and not hidden and all(
                ln.startswith(("assert", " ", "\t", ")", "]", "}")) for ln in code):
            problems.append(f"cell {i} only checks (asserts) but is shown: tag it remove-input")
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


def test_measured_values_keep_four_digits_and_spreads_two():
    assert pages._fmt(0.16852, "rnn_T400.final_mse") == "0.1685"
    assert pages._fmt(0.0027082, "rnn_T400.final_mse", 2) == "0.0027"
    assert pages._fmt(0.9913, "test_accuracy") == "99.13%" and pages._fmt(None, "x") == "not reached"


def test_the_book_ignores_environments_built_in_the_checkout():
    """CI builds its floor-versions venv in .ci-floor/ before `make book`; its READMEs and licences
    were read as pages and failed the build (warnings are errors)."""
    import yaml

    excluded = yaml.safe_load((ROOT / "_config.yml").read_text())["exclude_patterns"]
    assert {".ci-floor", ".venv", "venv"} <= set(excluded), excluded
    assert ".ci-floor" in (ROOT / ".ci" / "run").read_text()


def _library_sources() -> set[str]:
    """The source of every function, method and class of lessons_lib, dedented."""
    import ast
    import textwrap

    sources = set()
    for path in (ROOT / "lessons_lib").rglob("*.py"):
        text = path.read_text()
        lines = text.splitlines(keepends=True)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                sources.add(textwrap.dedent("".join(lines[start - 1:node.end_lineno])).strip())
    return sources


def stale_listings(notebook: Path, sources: set[str]) -> list[str]:
    """The show_source listings stored in ``notebook`` that are no longer the library's code."""
    import textwrap

    stale = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "code" and "show_source(" in "".join(cell["source"]):
            for output in cell.get("outputs", []):
                text = output.get("data", {}).get("text/plain")
                if text and textwrap.dedent("".join(text)).strip() not in sources:
                    stale.append("".join(text).splitlines()[0])
    return stale


@pytest.mark.parametrize("notebook", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_code_listings_on_the_pages_are_the_librarys_current_code(notebook):
    """A page that shows the library's code shows the code as it is now (the stored scale page
    listed a train() that had since gained a timeout): re-execute the page after changing it."""
    assert stale_listings(notebook, _library_sources()) == []
