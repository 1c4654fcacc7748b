// What a reader should never meet on a page of the book, found in the rendered DOM.
// Run by tests/browser/test_pages.py on every page of the built book (and by
// test_page_checks.py on tiny synthetic pages) through Selenium's execute_script:
//
//   browser.execute_script(source_of_this_file, {words: true})  ->  {findings: [...], overflow: {...}}
//
// Every finding is {check, message, text, where}: `check` names the rule, `text` quotes what the
// reader sees (whitespace collapsed, at most 160 characters), `where` says where it sits (the
// section heading, and whether it is in an output, a code cell or the text).
// Options: words (default true): look for maintainer words and commit hashes; the appendix
// that reproduces the lecture (book/seed) and Sphinx's own pages switch it off.
const opts = Object.assign({words: true}, arguments[0] || {});

const SKIP = "script, style, noscript, template, mjx-container, mjx-assistive-mml";
// Elements whose text is quoted as one piece; text outside them is quoted by its parent.
const UNIT = "pre, p, li, td, th, dt, dd, h1, h2, h3, h4, h5, h6, caption, figcaption, summary, " +
             "title, blockquote, .output";

const findings = [];

function squash(s) {
  return (s || "").replace(/\s+/g, " ").trim();
}

function quote(s, around) {
  // `around`: an index into s to centre the quote on (a long paragraph is quoted near the hit)
  s = s || "";
  const max = 160;
  if (s.length <= max) return squash(s);
  const at = around === undefined ? 0 : Math.max(0, around - 60);
  const cut = s.slice(at, at + max);
  return (at > 0 ? "…" : "") + squash(cut) + (at + max < s.length ? "…" : "");
}

function heading(el) {
  for (let sec = el.closest("section"); sec; sec = sec.parentElement && sec.parentElement.closest("section")) {
    const h = sec.querySelector(":scope > h1, :scope > h2, :scope > h3, :scope > h4, :scope > h5, :scope > h6");
    if (h) return squash(h.textContent).replace(/#$/, "").trim();
  }
  return "";
}

// Printed text (streams, text/plain) is an output; source shown by an output (IPython's Code
// display, a fenced block in a Markdown output) is code.
const PRINTED = ".output.stream, .output.text_plain, .output.stderr, .output.traceback, .output.error";

function area(el) {
  if (el.closest && el.closest(".cell_output")) {
    return el.closest("pre") && !el.closest(PRINTED) ? "code" : "output";
  }
  if (el.closest && el.closest(".cell_input")) return "code";
  if (el.closest && el.closest("pre")) return "code block";
  if (el.closest && el.closest("article")) return "text";
  if (el.tagName === "TITLE") return "page title";
  return "navigation";
}

function where(el) {
  const a = area(el);
  const link = a === "navigation" && el.closest && el.closest("a[href]");
  if (link) return `in the navigation, a link to ${new URL(link.href, location.href).pathname.split("/").slice(-2).join("/")}`;
  const h = a === "navigation" || a === "page title" ? "" : heading(el);
  const what = {output: "in an output", code: "in a code cell", "code block": "in a code block",
                text: "in the text", "page title": "in the page title",
                navigation: "in the navigation (sidebar, header or footer)"}[a];
  return h ? `${what}, section "${h}"` : what;
}

function add(check, el, message, text, around) {
  findings.push({check, message, text: quote(text, around), where: where(el)});
}

// Text of the page grouped by the smallest enclosing UNIT, in reading order. Highlighted code
// splits words over several spans: grouping joins them again ("UserWarning" + ":").
// Outside the article, a link to a place on this page (the page's contents, its own entry in
// the sidebar) repeats a heading that is checked where it stands. Links to other pages are
// checked (the reviewer's linter reads the sidebar too): the message names the page linked
// to, whose title is the one to fix. The <title> repeats the page's first heading.
function textUnits() {
  const units = new Map();
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const parent = n.parentElement;
    if (!parent || parent.closest(SKIP) || parent.closest("title, .onlyprint")) continue;
    if (!parent.closest("article") && parent.closest('a[href^="#"]')) continue;
    const unit = (!parent.closest("article") && parent.closest("a[href]")) || parent.closest(UNIT) || parent;
    units.set(unit, (units.get(unit) || "") + n.nodeValue);
  }
  return units;
}

const units = textUnits();

// 1. raw-table: a paragraph with a line that starts with "|": a Markdown table that was
//    rendered as text (CommonMark has no tables).
//    Also a row ("| a | b |") or a rule ("|---|:--:|") on a later line of a paragraph.
function ownText(el) {  // the text a reader sees as characters: math (typeset) left out
  let text = "";
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.parentElement.closest(SKIP + ", .math")) text += n.nodeValue;
  }
  return text;
}
const ROW = /^\s*\|.*\|.*\|\s*$|^\s*\|?\s*:?-{3,}:?\s*\|/;
for (const p of document.querySelectorAll("p")) {
  if (p.closest(SKIP)) continue;
  const text = ownText(p);
  if (text.trim().startsWith("|") || text.split("\n").some(l => ROW.test(l))) {
    add("raw-table", p, "a paragraph that starts with '|': a Markdown table rendered as raw text", text);
  }
}

// 2. bare-number: an output area whose whole text is one number (what a notebook shows when
//    a cell ends with an expression such as glue(...)'s value or a float): 2.293122016997582,
//    np.float64(0.72), tensor(0.5), 12.5%, 2026-11-27.
const NUMBER = /^[-+\u2212]?[\d.,_eE+\-]*\d[\d.,_eE+\-]*%?$/;
const WRAPPED = /^(?:(?:np|numpy)\.)?(?:float|int|uint|bool_|complex)(?:8|16|32|64|128)?\((.*)\)$|^(?:tensor|array|Decimal|Fraction)\((.*)\)$/;

function isBareNumber(text) {
  let t = text.trim();
  const m = t.match(WRAPPED);
  if (m) t = (m[1] !== undefined ? m[1] : m[2]).trim();
  t = t.replace(/^(['"])(.*)\1$/, "$2").trim();
  return NUMBER.test(t);
}

for (const out of document.querySelectorAll(".cell_output")) {
  for (const child of out.children) {
    const text = child.innerText !== undefined ? child.innerText : child.textContent;
    if (text && isBareNumber(text)) {
      add("bare-number", child, "an output that is only a number (end the cell with ';' or show the value in a sentence)", text);
    }
  }
}

// 3. warning: a stored warning, log line on stderr or traceback. stderr and error outputs by
//    their class; "…Warning:" and "Traceback (most recent call last)" anywhere on the page.
for (const o of document.querySelectorAll(".cell_output .stderr, .cell_output .traceback, .cell_output .error")) {
  add("warning", o, "a stderr or error output (a stored warning, log or traceback)", o.textContent);
}
const WARNING = /\b\w*Warning:|Traceback \(most recent call last\)/;
for (const [el, text] of units) {
  const m = WARNING.exec(text);
  if (m && !el.closest(".cell_output .stderr, .cell_output .traceback, .cell_output .error")) {
    add("warning", el, `"${m[0]}" on the page (a stored warning or traceback)`, text, m.index);
  }
}

// 4. alt-text: an image without alt text, or whose alt is only its file name (docutils writes
//    the image's path when a notebook gives no alt); an inline SVG figure in an output without
//    a title or aria-label.
for (const img of document.images) {
  const alt = (img.getAttribute("alt") || "").trim();
  const src = img.getAttribute("src") || "";
  if (!alt) {
    add("alt-text", img, "an image without alt text", src);
  } else if (alt === src || /(^|\/)[^\s\/]+\.(png|jpe?g|gif|svg|webp)$/i.test(alt) || alt.includes("_images/")) {
    add("alt-text", img, "an image whose alt text is only its file name", alt);
  }
}
for (const svg of document.querySelectorAll(".cell_output svg")) {
  if (svg.closest("[aria-hidden=true]") || svg.parentElement.closest(".cell_output svg")) continue;
  const label = svg.getAttribute("aria-label") || svg.getAttribute("aria-labelledby") ||
                (svg.querySelector(":scope > title") || {}).textContent;
  if (!label || !label.trim()) add("alt-text", svg, "an SVG figure without a <title> or aria-label", svg.outerHTML.slice(0, 120));
}

// 5. words: maintainer vocabulary in what a reader reads (the text, the navigation, outputs;
//    not code cells): the lecture called "the seed", an issue number, the word "glue",
//    a "-dirty" version. 6. hash: a commit hash (7-40 hex digits with both digits and letters,
//    alone or after git describe's "-g"); random seeds ("seed 0") are not hex words. The
//    collapsed run record at the end of a chapter may name its commit: a hash inside a box the
//    reader opens on purpose (<details>, a toggled output) is not reported.
const WORDS = /\b(?:the seed|seed['\u2019]s|glue[ds]?|gluing|issues? ?#?\d+)\b|-dirty\b/gi;
const HASH = /(?<![\w])(?:g(?=[0-9a-f]{7,40}\b))?([0-9a-f]{7,40})(?![\w])/gi;
if (opts.words) {
  for (const [el, text] of units) {
    if (area(el) === "code" || area(el) === "code block") continue;
    for (const m of text.matchAll(WORDS)) {
      add("words", el, `maintainer word "${m[0]}"`, text, m.index);
    }
    const collapsed = el.closest("details, .toggle-hidden, .tag_hide-output, .tag_hide-cell");
    for (const m of collapsed ? [] : text.matchAll(HASH)) {
      const h = m[1];
      if (/\d/.test(h) && /[a-f]/i.test(h)) add("hash", el, `a commit hash "${m[0]}"`, text, m.index);
    }
  }
}

// 7. overflow: the page is wider than the window (it scrolls sideways). Reported with the
//    elements that stick out past the right edge outside any box that scrolls or clips them.
function overflow() {
  const doc = document.documentElement;
  const vw = doc.clientWidth;
  const result = {scrollWidth: Math.max(doc.scrollWidth, document.body ? document.body.scrollWidth : 0),
                  clientWidth: vw, culprits: []};
  if (result.scrollWidth <= vw) return result;
  const style = new Map();
  const cs = el => { if (!style.has(el)) style.set(el, getComputedStyle(el)); return style.get(el); };
  const contained = el => {  // inside a box that clips or scrolls, or out of the flow (fixed)
    for (let a = el; a && a !== document.body && a !== doc; a = a.parentElement) {
      const s = cs(a);
      if (s.position === "fixed") return true;
      if (a !== el && s.overflowX !== "visible") return true;
    }
    return false;
  };
  const right = el => { const r = el.getBoundingClientRect(); return r.width || r.height ? r.right + window.scrollX : -Infinity; };
  const sticksOut = el => right(el) > vw + 1 && !contained(el);
  const all = Array.from(document.body.querySelectorAll("*")).filter(el => !el.closest(SKIP));
  // boxes that stick out while their parent does not: a wide table, an unbreakable code span
  const boxes = all.filter(el => sticksOut(el) &&
                                 !(el.parentElement && el.parentElement !== document.body && sticksOut(el.parentElement)));
  // boxes that fit but whose own text runs out of them (a long word in a paragraph)
  const spills = all.filter(el => !sticksOut(el) && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1 &&
                                  cs(el).overflowX === "visible" && !contained(el) &&
                                  el.getBoundingClientRect().left + window.scrollX + el.scrollWidth > vw + 1);
  const innermost = spills.filter(el => !boxes.some(b => el.contains(b)) &&
                                        !spills.some(o => o !== el && el.contains(o)));
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "");
  for (const el of all.filter(e => boxes.includes(e) || innermost.includes(e)).slice(0, 8)) {
    const r = el.getBoundingClientRect();
    const reach = boxes.includes(el) ? right(el) : r.left + window.scrollX + el.scrollWidth;
    result.culprits.push({element: name(el), right: Math.round(reach),
                          text: quote(el.innerText || el.textContent || el.outerHTML.slice(0, 120)), where: where(el)});
  }
  return result;
}

return {findings, overflow: overflow(), title: document.title};
