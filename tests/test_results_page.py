import json

import pytest

from lessons_lib import reproduce, results_page


def test_verdicts():
    s = {"mean": 0.9930, "std": 0.0003, "n": 3}
    assert results_page.verdict({"value": 0.9938}, s)[0] is False  # 0.0008 away, two std are 0.0006
    assert results_page.verdict({"value": 0.9938, "tolerance": 0.0016}, s)[0] is True
    assert results_page.verdict({"value": 0.98, "compare": "at_least"}, s)[0] is True
    assert results_page.verdict({"value": 0.98, "compare": "at_most"}, s)[0] is False
    with pytest.raises(ValueError, match="compare"):
        results_page.verdict({"value": 1, "compare": "near"}, s)


def test_page_shows_measured_and_unmeasured(tmp_path):
    text = results_page.render(tmp_path)
    assert "`lenet_caffe` ({ref}`discussed <lenet-full>`) | 99.38% after 75 epochs" in text
    assert "not yet measured" in text
    reproduce.run("lenet_caffe", profile="smoke", seeds=1, out=tmp_path, device="cpu", verbose=False)
    text = results_page.render(tmp_path)
    record = json.loads((tmp_path / "lenet_caffe.json").read_text())
    acc = record["summary"]["test_accuracy"]["mean"]
    assert f"{100 * acc:.2f}% ± 0.00%" in text and "not reproduced: {ref}`why <lenet-full>`" in text


def test_committed_page_is_up_to_date():
    assert results_page.main(["--check"]) == 0, "run python -m lessons_lib.results_page and commit book/reproducing.md"


def test_run_column_says_how_the_seeds_ran():
    assert results_page._how({"concurrent_jobs": 1}) == ""
    assert results_page._how({"concurrent_jobs": 3}) == ", 3 processes at once"
    assert results_page._how({"concurrent_jobs": 1, "seeds_batched": True}) == ", seeds stacked in one model"


def test_every_registered_section_label_exists_in_the_book():
    import re

    labels = set()
    for nb in (results_page.PAGE.parent).glob("*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] == "markdown":
                labels |= set(re.findall(r"^\(([\w-]+)\)=", "".join(cell["source"]), re.M))
    sections = {e.name: e.section for e in reproduce.experiments().values() if not e.name.startswith("_")}
    assert all(sections.values()), f"experiments without a section: {[n for n, s in sections.items() if not s]}"
    missing = {n: s for n, s in sections.items() if s not in labels}
    assert not missing, f"section labels not found in any notebook: {missing}"
