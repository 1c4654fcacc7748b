"""Every page of the built book, opened in headless Chromium the way a reader meets it.

Per page, at 1400 px: no console errors (the book must work offline: nothing from a CDN),
every image loaded, the math typeset by MathJax, internal links that lead to existing pages
and anchors, and a sidebar that links to every chapter of ``_toc.yml``; notebook chapters
have their launch buttons (Colab, Binder) plus the repository and issue buttons.

Then what a reader should never meet (page_checks.js, proven on synthetic pages by
test_page_checks.py), one test per check and page so that the summary lists them:
``raw-table`` (a paragraph starting with "|"), ``bare-number`` (an output that is only a
number), ``warning`` (a stored warning, stderr output or traceback), ``alt-text`` (an image
without alt text), ``words`` and ``hash`` (the lecture called "the seed", an issue number,
"glue", a commit hash: not on the appendix that reproduces the lecture), and ``phone``: at
390 px the page must not scroll sideways, nor log a console error.

Every page is also saved whole (its full height) at 1400 and at 390 px as
``_build/screenshots/<page>-1400.png`` and ``-390.png`` for review.
See conftest.py for how to run it.
"""
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from browsing import DESKTOP, PHONE, describe, describe_overflow, visit

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("LESSONS_BOOK_HTML", ROOT / "_build" / "html")).resolve()  # as in conftest.py

# Internal pages only: Sphinx's static files and page sources are not pages.
PAGES = sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
               if p.relative_to(HTML).parts[0] not in ("_static", "_sources", "_images"))


def toc_docs() -> list[str]:
    """The root and every chapter of ``_toc.yml``, as document names like ``book/lenet``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    docs = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                docs.append(str(node["file"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [re.sub(r"\.(md|ipynb)$", "", d) for d in docs]


def repository_url() -> str:
    """``repository.url`` of ``_config.yml`` (read here: the test does not import the library)."""
    return str(yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]).rstrip("/")


# Pages that are Sphinx's own (no prose of ours) and the appendix that reproduces the lecture
# verbatim: the maintainer-words and hash checks leave them alone.
NOT_PROSE = {"genindex.html", "search.html", "book/seed.html"}
REDIRECT = "index.html"  # the root index.html only redirects to the landing page


@pytest.fixture(scope="session")
def report(server, browser, screenshots_dir):
    """``report(page, width)``: the page visited once per width (then cached), screenshot saved."""
    cache = {}

    def get(page: str, width: int) -> dict:
        if (page, width) not in cache:
            shot = screenshots_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', page.removesuffix('.html'))}-{width}.png"
            cache[page, width] = visit(browser, server + page, width, words=page not in NOT_PROSE, shot=shot)
        return cache[page, width]

    return get


def source_has_math(html_dir: Path, doc: str) -> bool:
    """Whether the page's source (copied by Sphinx into ``_sources``) writes dollar math."""
    import json

    for suffix in (".md", ".ipynb"):
        path = html_dir / "_sources" / f"{doc}{suffix}"
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if suffix == ".ipynb":
            cells = json.loads(text).get("cells", [])
            text = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "markdown")
        text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks and directives
        text = re.sub(r"`[^`\n]*`", "", text)  # inline code and roles
        return bool(re.search(r"\$\$|\$[^\s$][^$\n]*?[^\s$\\]\$|\$[^\s$]\$", text))
    return False


def _check_links(html_dir: Path, base: str, links: list[str]) -> list[str]:
    broken = []
    for href in set(links):
        if not href.startswith(base):
            continue
        parts = urlsplit(href)
        rel = unquote(parts.path)[len(urlsplit(base).path):]
        target = html_dir / rel
        if rel == "" or rel.endswith("/"):
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href} (no file {target.relative_to(html_dir)})")
        elif parts.fragment and target.suffix == ".html":
            text = target.read_text(errors="replace")
            if f'id="{unquote(parts.fragment)}"' not in text:
                broken.append(f"{href} (no anchor #{parts.fragment})")
    return sorted(broken)


def test_book_is_built(html_dir):
    assert PAGES, f"no HTML pages under {html_dir}"
    for doc in toc_docs():
        assert (html_dir / f"{doc}.html").is_file(), f"_toc.yml lists {doc} but {doc}.html was not built"


@pytest.mark.parametrize("page", PAGES or ["book/index.html"])
def test_page(page, html_dir, server, report):
    info = report(page, DESKTOP)
    problems = []

    if info["body"] < 20:
        problems.append(f"the page is (nearly) empty: {info['body']} characters of text")
    for entry in info["console"]:
        problems.append(f"console error: {entry.get('message')}")
    for img in info["images"]:
        if not (img["complete"] and img["w"] > 0 and img["h"] > 0):
            problems.append(f"image not loaded: {img['src']} ({img['w']}x{img['h']})")
    doc = re.sub(r"\.html$", "", page)
    if not info["math"] and source_has_math(html_dir, doc):
        problems.append("the source writes $math$ but the page has no math elements")
    if info["math"]:
        if not info["mathjax"]:
            problems.append(f"{info['math']} math elements but MathJax did not load")
        elif info["typeset"] != info["math"]:
            problems.append(f"MathJax typeset {info['typeset']} of {info['math']} math elements")
    for err in info["mathErrors"]:
        problems.append(f"MathJax error: {err}")
    if info["rawTex"]:
        problems.append(f"{info['rawTex']} untypeset TeX delimiters in the page's text")
    problems += [f"broken link: {b}" for b in _check_links(html_dir, server, info["links"])]

    is_page = page != REDIRECT
    if is_page and page not in ("genindex.html", "search.html"):
        nav = {re.sub(r"\.html(#.*)?$", "", urlsplit(h).path.lstrip("/")) for h in info["nav"]}
        nav |= {doc}  # the current page's own entry may be rendered without a link
        missing = [d for d in toc_docs()[1:] if d not in nav]
        if missing:
            problems.append(f"the table of contents does not link to {missing}")

    shot = info["screenshot"]
    if not shot.is_file() or shot.stat().st_size < 1000:
        problems.append(f"screenshot {shot} not written")
    if doc in toc_docs():
        if (html_dir / "_sources" / f"{doc}.ipynb").is_file():
            repo = repository_url()
            path = f"{doc}.ipynb"
            wanted = {
                "Colab": f"https://colab.research.google.com/github/{urlsplit(repo).path.strip('/')}/blob/",
                "Binder": "https://mybinder.org/v2/gh/",
                "repository": repo,
                "open an issue": f"{repo}/issues/new",
            }
            for what, prefix in wanted.items():
                hits = [h for h in info["headerLinks"] if h.startswith(prefix)]
                if not hits:
                    problems.append(f"no {what} button (a link starting {prefix})")
                elif what in ("Colab", "Binder") and not any(path in h for h in hits):
                    problems.append(f"the {what} button does not open {path}: {hits}")

    if problems:
        pytest.fail(f"{page}:\n  " + "\n  ".join(problems), pytrace=False)


# What a reader should never meet. Each check of page_checks.js is its own test per page.
READER_CHECKS = ["raw-table", "bare-number", "warning", "alt-text", "words", "hash"]


@pytest.mark.parametrize("check", READER_CHECKS)
@pytest.mark.parametrize("page", PAGES or ["book/index.html"])
def test_reader_check(page, check, report):
    if page == REDIRECT:
        pytest.skip(f"{page} only redirects to the landing page, checked as book/index.html")
    if check in ("words", "hash") and page in NOT_PROSE:
        pytest.skip(f"{page} is not the book's prose")
    found = [f for f in report(page, DESKTOP)["findings"] if f["check"] == check]
    if found:
        pytest.fail(f"{page}: {check}: {len(found)} finding(s)\n  " + "\n  ".join(describe(found)), pytrace=False)


@pytest.mark.parametrize("page", PAGES or ["book/index.html"])
def test_phone(page, report):
    """At 390 px: the page never scrolls sideways (measured after MathJax and images) and logs
    no console error; its screenshot is written."""
    info = report(page, PHONE)
    problems = describe_overflow(info)
    problems += [f"console error at {PHONE} px: {e.get('message')}" for e in info["console"]]
    shot = info["screenshot"]
    if not shot.is_file() or shot.stat().st_size < 1000:
        problems.append(f"screenshot {shot} not written")
    if problems:
        pytest.fail(f"{page}:\n  " + "\n  ".join(problems), pytrace=False)
