"""Every page of the built book, opened in headless Chromium the way a reader meets it.

Per page: no console errors (the book must work offline: nothing from a CDN), every image
loaded, the math typeset by MathJax, internal links that lead to existing pages and
anchors, and a sidebar that links to every chapter of ``_toc.yml``. Chapter pages also get
a screenshot of their first screen under ``_build/screenshots/`` and, when they are
notebooks, their launch buttons (Colab, Binder) plus the repository and issue buttons.
See conftest.py for how to run it.
"""
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

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
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


# One round trip per page: waits for MathJax and for every image, then reports what it found.
INSPECT = r"""
const done = arguments[arguments.length - 1];
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) {}
  }
  for (const img of document.images) { img.loading = "eager"; }
  const until = Date.now() + 20000;
  while (Date.now() < until && Array.from(document.images).some(i => !i.complete)) {
    await new Promise(r => setTimeout(r, 100));
  }
  const maths = Array.from(document.querySelectorAll(".math"));
  const article = document.querySelector("article") || document.body;
  const clone = article.cloneNode(true);
  clone.querySelectorAll("pre, code, script, style, mjx-container").forEach(e => e.remove());
  done({
    title: document.title,
    images: Array.from(document.images).map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth,
                                                   h: i.naturalHeight, complete: i.complete})),
    math: maths.length,
    typeset: maths.filter(m => m.querySelector("mjx-container")).length,
    mathErrors: Array.from(document.querySelectorAll("mjx-merror")).map(e => e.textContent),
    mathjax: (window.MathJax && MathJax.version) || null,
    rawTex: (clone.textContent.match(/\\\(|\\\[|\$\$|\\begin\{/g) || []).length,
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
    nav: Array.from(document.querySelectorAll("nav.bd-docs-nav a[href]")).map(a => a.href),
    headerLinks: Array.from(document.querySelectorAll(".article-header-buttons a[href], .dropdown-launch-buttons a[href]"))
                      .map(a => a.href),
    body: document.body ? document.body.innerText.length : 0,
  });
})();
"""


def _open(browser, url):
    browser.get_log("browser")  # drop what earlier pages left
    browser.get(url)
    info = browser.execute_async_script(INSPECT)
    info["console"] = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    return info


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
def test_page(page, html_dir, server, browser, screenshots_dir):
    url = server + page
    info = _open(browser, url)
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

    is_page = page not in ("index.html",)  # the root index.html only redirects to the landing page
    if is_page and page not in ("genindex.html", "search.html"):
        nav = {re.sub(r"\.html(#.*)?$", "", urlsplit(h).path.lstrip("/")) for h in info["nav"]}
        nav |= {doc}  # the current page's own entry may be rendered without a link
        missing = [d for d in toc_docs()[1:] if d not in nav]
        if missing:
            problems.append(f"the table of contents does not link to {missing}")

    if doc in toc_docs():
        browser.execute_script("window.scrollTo(0, 0)")
        shot = screenshots_dir / (doc.replace("/", "_") + ".png")
        browser.save_screenshot(str(shot))
        if not shot.is_file() or shot.stat().st_size < 1000:
            problems.append(f"screenshot {shot} not written")
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

    assert not problems, f"{page}:\n  " + "\n  ".join(problems)
