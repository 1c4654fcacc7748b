"""The reader checks of page_checks.js proven on tiny synthetic pages: each must fail on a bad
page and pass on a good one, in the same Chromium and through the same code as the book's
pages (browsing.visit). Needs no built book. Collected only when ``LESSONS_BROWSER_TEST=1``.
"""
from pathlib import Path

import pytest

from browsing import DESKTOP, PHONE, describe, describe_overflow, visit

BOOK_CSS = Path(__file__).resolve().parents[2] / "book" / "_static" / "book.css"

# A 1x1 PNG, so that images load without a file or a network.
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
         "/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==")

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Synthetic page</title>
<style>
  body {{ margin: 0; font: 16px/1.5 sans-serif; }}
  .bd-article {{ padding: 0 1rem; }}
  span.pre {{ white-space: nowrap; }}              /* as Sphinx's basic.css */
  div.cell_output .output {{ max-width: 100%; }}
</style>
{css}
</head><body>
<nav class="bd-docs-nav"><a href="#">Home</a></nav>
<article class="bd-article"><section id="s"><h1>A chapter</h1>
<section id="t"><h2>A section</h2>
{body}
</section></section></article>
</body></html>
"""


def output(text: str, kind: str = "text_plain") -> str:
    """A notebook output as myst-nb writes it."""
    return (f'<div class="cell_output docutils container"><div class="output {kind} highlight-myst-ansi notranslate">'
            f'<div class="highlight"><pre><span></span>{text}\n</pre></div></div></div>')


def code_cell(source: str) -> str:
    return (f'<div class="cell docutils container"><div class="cell_input docutils container">'
            f'<div class="highlight-ipython3 notranslate"><div class="highlight"><pre><span></span>{source}</pre>'
            f'</div></div></div></div>')


# (check, case, body, whether the check must fire). Every check has bad and good cases.
CASES = [
    ("raw-table", "markdown table as text", "<p>| layer | type |\n|---|---|\n| 1 | Conv2d |</p>", True),
    ("raw-table", "table row after a sentence", "<p>The layers:\n| 1 | Conv2d | 5 x 5 |</p>", True),
    ("raw-table", "a real table and a norm", '<table class="table"><tr><th>layer</th></tr><tr><td>1</td></tr></table>'
                                             '<p>The norm |x| of a vector, and <span class="math">|x|</span>.</p>', False),
    ("bare-number", "a float", output("2.293122016997582"), True),
    ("bare-number", "a numpy float", output("np.float64(0.7276785714285714)"), True),
    ("bare-number", "an integer in a Markdown output", '<div class="cell_output docutils container"><p>400500</p></div>', True),
    ("bare-number", "a number in a sentence", output("test accuracy: 0.7277 after 2 epochs")
                                               + "<p>0.73</p>", False),
    ("warning", "a stderr output", output("loading...", "stderr"), True),
    ("warning", "a warning printed on stdout", output("/x/y.py:3: UserWarning: the dataloader is slow"), True),
    ("warning", "a traceback", output("Traceback (most recent call last):\n  File ...\nValueError: no"), True),
    ("warning", "a warning admonition and prose", '<div class="admonition warning"><p class="admonition-title">Warning</p>'
                                                   "<p>Training may diverge; a warning is not an error.</p></div>"
                                                   + output("done in 3.2 s"), False),
    ("alt-text", "no alt", f'<div class="cell_output"><img src="{PIXEL}"></div>', True),
    ("alt-text", "empty alt", f'<img alt="" src="{PIXEL}">', True),
    ("alt-text", "alt is the file name", '<img alt="../_images/0fe8aa4ad693.png" src="' + PIXEL + '">', True),
    ("alt-text", "inline SVG without a title", '<div class="cell_output"><svg viewBox="0 0 10 10"><rect width="5" height="5"/></svg></div>', True),
    ("alt-text", "described image and SVG", f'<img alt="Loss against epochs for three seeds." src="{PIXEL}">'
                                            '<div class="cell_output"><svg viewBox="0 0 10 10"><title>A square</title>'
                                            '<rect width="5" height="5"/></svg></div>', False),
    ("words", "the lecture as the seed", "<p>The seed’s table is quoted below.</p>", True),
    ("words", "seed's in an output", '<div class="cell_output"><table><tr><th>seed\'s layer</th></tr></table></div>', True),
    ("words", "an issue number", "<p>This was fixed in issue 12.</p>", True),
    ("words", "glue in prose", "<p>The number is computed with <code>glue</code>.</p>", True),
    ("words", "a -dirty version", output("lessons_lib 0.1.0 (v0.1-3-dirty)"), True),
    ("words", "the lecture, random seeds and code", "<p>The lecture’s table; seed 0 and three seeds agree.</p>"
                                                    + code_cell('glue("acc", acc)  # the seed\'s issue 12'), False),
    ("hash", "a short hash in prose", "<p>Measured at commit 1b8b48e on a laptop.</p>", True),
    ("hash", "a full hash in an output", output("commit: 1b8b48e2e2a6fcf00bae5c476fc37cbb48625ca4-dirty"), True),
    ("hash", "git describe", "<p>Built from v0.1-3-g3fa9c21.</p>", True),
    ("hash", "the collapsed run record", "<details><summary>How this page was made</summary>"
     + output("commit: 1b8b48e2e2a6fcf00bae5c476fc37cbb48625ca4") + "</details>", False),
    ("hash", "numbers, words and a SHA-256", "<p>seed 0 gives 60,965,224 parameters and 1,274,716,704 multiply-adds on "
                                             "2026-11-27; a deadbeef cafe; the file's SHA-256 is "
                                             "0424756e2e5d055a415c50276296b8745b46f94499fef15aa94b626036bf286b.</p>"
                                             + code_cell("torch.manual_seed(0)  # 1b8b48e"), False),
]


def write(tmp_path: Path, name: str, body: str, css: str = "") -> str:
    path = tmp_path / f"{name}.html"
    path.write_text(PAGE.format(body=body, css=css), encoding="utf-8")
    return path.as_uri()


@pytest.mark.parametrize("check,case,body,fires", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_check(check, case, body, fires, browser, tmp_path):
    findings = visit(browser, write(tmp_path, "page", body), DESKTOP)["findings"]
    found = [f for f in findings if f["check"] == check]
    if fires:
        assert found, f"{check} did not fire on: {body}"
        for line in describe(found):  # the message quotes what the reader sees, and where
            assert "'" in line and ("in the text" in line or "in an output" in line), line
    else:
        assert not found, f"{check} fired on a good page: {describe(found)}"
    # no other check fires on these pages (they are clean apart from the defect planted)
    others = [f for f in findings if f["check"] != check and not (f["check"] == "words" and check == "hash")]
    assert not others, describe(others)


def test_words_off(browser, tmp_path):
    """The appendix that reproduces the lecture may say "the seed": the option turns it off."""
    url = write(tmp_path, "seed", "<p>The seed’s table at commit 1b8b48e.</p>")
    assert {f["check"] for f in visit(browser, url, DESKTOP)["findings"]} == {"words", "hash"}
    assert not visit(browser, url, DESKTOP, words=False)["findings"]


def test_navigation_links(browser, tmp_path):
    """A link in the sidebar to another page counts (its title is to fix, and the message names
    that page); a link to a heading of this page is that heading again, checked once."""
    page = PAGE.format(css="", body="<p>Clean text.</p>").replace(
        '<nav class="bd-docs-nav"><a href="#">Home</a></nav>',
        '<nav class="bd-docs-nav"><a href="lenet.html">LeNet: the seed’s table</a>'
        '<a href="#the-seed">Unfolding: the seed’s question</a></nav>')
    path = tmp_path / "nav.html"
    path.write_text(page, encoding="utf-8")
    (line,) = describe(visit(browser, path.as_uri(), DESKTOP)["findings"])
    assert "a link to" in line and "lenet.html" in line and "LeNet: the seed’s table" in line, line


def test_message_quotes_the_text(browser, tmp_path):
    body = "<section><h3>Receptive fields</h3>" + output("0.7276785714285714") + "</section>"
    (line,) = describe(visit(browser, write(tmp_path, "q", body), DESKTOP)["findings"])
    assert "'0.7276785714285714'" in line and 'section "Receptive fields"' in line, line


# Sideways scrolling at 390 px. Each bad page is fixed, not by changing its HTML, but by
# adding the book's stylesheet: that also proves book.css handles what the book produces.
WIDE_TABLE = ('<div class="cell_output docutils container"><div class="output text_html"><table class="layer-table">'
              "<thead><tr>" + "".join(f"<th>column {i}</th>" for i in range(12)) + "</tr></thead><tbody><tr>"
              + "".join("<td>13 x 13 x 384</td>" for _ in range(12)) + "</tr></tbody></table></div></div>")
LONG_HASH = ('<p>The lecture file (SHA-256 <code class="docutils literal notranslate"><span class="pre">'
             "0424756e2e5d055a415c50276296b8745b46f94499fef15aa94b626036bf286b</span></code>).</p>")
LONG_URL = "<p>Downloaded from https://example.org/" + "x" * 90 + "/data.tar.gz every time.</p>"
OVERFLOW_CASES = [("wide output table", WIDE_TABLE, "table.layer-table"),
                  ("64-character hash", LONG_HASH, "code.docutils.literal.notranslate"),
                  ("long word in a paragraph", LONG_URL, "p")]


@pytest.mark.parametrize("case,body,culprit", OVERFLOW_CASES, ids=[c[0] for c in OVERFLOW_CASES])
def test_overflow(case, body, culprit, browser, tmp_path):
    bad = visit(browser, write(tmp_path, "bad", body), PHONE)
    lines = describe_overflow(bad)
    assert lines and "scrolls sideways at 390 px" in lines[0], lines
    assert any(f"<{culprit}>" in line for line in lines), lines  # names the element...
    assert any(any(t in line for t in ("13 x 13 x 384", "0424756e", "example.org")) for line in lines), lines  # ...and quotes it
    assert len(lines) == 2, lines  # only the culprit, not the boxes around it

    css = f'<link rel="stylesheet" href="{BOOK_CSS.as_uri()}">'
    good = visit(browser, write(tmp_path, "good", body, css=css), PHONE)
    assert not describe_overflow(good), describe_overflow(good)


def test_console_error(browser, tmp_path):
    bad = visit(browser, write(tmp_path, "bad", '<p>Text.</p><script>console.error("the figure failed")</script>'), PHONE)
    assert any("the figure failed" in e.get("message", "") for e in bad["console"]), bad["console"]
    good = visit(browser, write(tmp_path, "good", "<p>Text.</p>"), PHONE)
    assert not good["console"], good["console"]


def test_screenshot_is_the_whole_page(browser, tmp_path):
    from PIL import Image

    shot = tmp_path / "tall.png"
    visit(browser, write(tmp_path, "tall", '<div style="height:3000px">tall</div>'), PHONE, shot=shot)
    with Image.open(shot) as im:
        assert im.width == PHONE and im.height >= 3000, im.size
