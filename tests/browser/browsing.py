"""Opening one page in the test's Chromium at a given width, and what the reader checks found.

Shared by test_pages.py (every page of the built book) and test_page_checks.py (tiny synthetic
pages that prove each check can fail and pass). The checks themselves run in the page, in
page_checks.js; this module waits for the page, runs them, takes the screenshot and words the
failures so that a chapter author can find the text to fix.
"""
from __future__ import annotations

import base64
from pathlib import Path

CHECKS_JS = (Path(__file__).with_name("page_checks.js")).read_text()

# The two widths a page is read at: a laptop and a phone.
DESKTOP, PHONE = 1400, 390
HEIGHT = 900

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
  if (document.fonts && document.fonts.ready) { try { await document.fonts.ready; } catch (e) {} }
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


def set_width(browser, width: int, height: int = HEIGHT) -> None:
    """The window's CSS width in px (device scale 1), the same in every Chromium version."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def screenshot(browser, path: Path, width: int) -> None:
    """The whole page, top to bottom, as one PNG, from its top-left corner (a page left scrolled
    sideways showed up as a cut-off screenshot)."""
    browser.execute_script("window.scrollTo(0, 0); for (const el of document.querySelectorAll('*'))"
                           " { if (el.scrollLeft) el.scrollLeft = 0; }")
    height = browser.execute_script(
        "return Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0)")
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "optimizeForSpeed": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": max(int(height), 1), "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))


def visit(browser, url: str, width: int, *, words: bool = True, shot: Path | None = None) -> dict:
    """Open ``url`` at ``width`` px, wait for MathJax and images, run the reader checks.

    Returns INSPECT's report plus ``console`` (severe console messages), ``findings`` and
    ``overflow`` (from page_checks.js) and ``screenshot`` (the PNG's path, when ``shot``).
    """
    set_width(browser, width)
    browser.get_log("browser")  # drop what earlier pages left
    browser.get(url)
    info = browser.execute_async_script(INSPECT)
    browser.execute_script("window.scrollTo(0, 0)")
    info.update(browser.execute_script(CHECKS_JS, {"words": words}))
    info["console"] = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    info["width"] = width
    if shot is not None:
        screenshot(browser, shot, width)
        info["screenshot"] = shot
    return info


def describe(findings: list[dict]) -> list[str]:
    """One line per finding, the same text found twice in one place counted once."""
    lines, seen = [], {}
    for f in findings:
        key = (f["check"], f["message"], f["where"], f["text"])
        seen[key] = seen.get(key, 0) + 1
    for (check, message, where, text), n in seen.items():
        lines.append(f"{message} {where}{f' ({n} times)' if n > 1 else ''}: {text!r}")
    return lines


def describe_overflow(report: dict) -> list[str]:
    """Empty when the page fits its window; else the width and the elements that stick out."""
    o = report["overflow"]
    if o["scrollWidth"] <= o["clientWidth"]:
        return []
    lines = [f"the page scrolls sideways at {report['width']} px: it is {o['scrollWidth']} px wide"]
    for c in o["culprits"]:
        lines.append(f"  <{c['element']}> {c['where']} reaches {c['right']} px: {c['text']!r}")
    if not o["culprits"]:
        lines.append("  (no single element found: look for a wide element with overflow: visible)")
    return lines
