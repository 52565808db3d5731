// A small Markdown renderer for untrusted text (operator messages, model output, approval comments).
//
// SAFETY: every node is built with document.createElement / document.createTextNode / textContent.
// Nothing here (or anywhere in the console) uses innerHTML, outerHTML, insertAdjacentHTML or document.write:
// text that looks like HTML stays text. Links are kept only for http(s) URLs and in-page "#..." anchors;
// any other scheme (javascript:, data:, vbscript:, file:...) is shown as the literal source text. Images are
// never loaded: ![alt](url) becomes the text "[image: alt]".
//
// Supported: paragraphs (blank-line separated; single newlines become <br>), **bold**, *italic* / _italic_,
// `code`, bullet lists (-, *, +) and numbered lists (1. or 1)), [text](http...) links. A hook lets the caller
// turn citation markers "[n]" into its own nodes.

/** The href to use for a link target, or null when it must not become a link. */
export function safeHref(raw) {
  const url = String(raw ?? "").trim();
  if (/^#[\w\-.:]*$/.test(url)) return url;
  if (!/^https?:\/\//i.test(url)) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch {
    return null;
  }
}

// Order matters: code spans first (their content is literal), then images before links, bold before italic.
const INLINE = new RegExp(
  [
    "(`+)([^`][\\s\\S]*?)\\1(?!`)", // 1,2: code span
    "!\\[([^\\]\\n]*)\\]\\(([^)\\n]*)\\)", // 3,4: image
    "\\[([^\\]\\n]+)\\]\\(([^)\\n]*)\\)", // 5,6: link
    "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*", // 7: bold
    "\\*(?=[^\\s*])([^*\\n]*?[^\\s*])\\*", // 8: italic with *
    "(?<![\\w])_(?=\\S)([^_\\n]*?\\S)_(?![\\w])", // 9: italic with _
    "\\[(\\d{1,3})\\](?!\\()", // 10: citation marker [n]
  ].join("|"),
  "g",
);

function inline(text, parent, opts) {
  let last = 0;
  // matchAll works on a copy of the regex: the recursion for bold/italic must not move this loop's cursor.
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(document.createTextNode(text.slice(last, m.index)));
    last = m.index + m[0].length;
    if (m[2] !== undefined) {
      const code = document.createElement("code");
      code.textContent = m[2];
      parent.append(code);
    } else if (m[4] !== undefined) {
      // Never an <img>: loading a URL from untrusted text would leak, and it could be anything.
      parent.append(document.createTextNode(`[image: ${m[3]}]`));
    } else if (m[6] !== undefined) {
      const href = safeHref(m[6]);
      if (href === null) {
        parent.append(document.createTextNode(m[0]));
      } else {
        const a = document.createElement("a");
        a.setAttribute("href", href);
        if (!href.startsWith("#")) {
          a.setAttribute("target", "_blank");
          a.setAttribute("rel", "noopener noreferrer");
        }
        a.textContent = m[5];
        parent.append(a);
      }
    } else if (m[7] !== undefined) {
      const b = document.createElement("strong");
      inline(m[7], b, opts);
      parent.append(b);
    } else if (m[8] !== undefined || m[9] !== undefined) {
      const i = document.createElement("em");
      inline(m[8] ?? m[9], i, opts);
      parent.append(i);
    } else if (m[10] !== undefined) {
      const node = opts.citation ? opts.citation(Number(m[10])) : null;
      parent.append(node ?? document.createTextNode(m[0]));
    }
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

function lines(text, parent, opts) {
  text.split("\n").forEach((line, i) => {
    if (i) parent.append(document.createElement("br"));
    inline(line, parent, opts);
  });
}

const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;

/**
 * Render untrusted Markdown-ish text into a DocumentFragment.
 * @param {string} source the text
 * @param {{citation?: (n: number) => Node | null}} opts citation: a node for a "[n]" marker, or null to keep it
 */
export function renderMarkdown(source, opts = {}) {
  const out = document.createDocumentFragment();
  const rows = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  let para = [];
  let list = null;
  const flushPara = () => {
    if (!para.length) return;
    const p = document.createElement("p");
    lines(para.join("\n"), p, opts);
    out.append(p);
    para = [];
  };
  for (const row of rows) {
    const bullet = BULLET.exec(row);
    const numbered = bullet ? null : NUMBERED.exec(row);
    if (bullet || numbered) {
      flushPara();
      const tag = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = document.createElement(tag);
        if (numbered && numbered[1] !== "1") list.setAttribute("start", String(Number(numbered[1])));
        out.append(list);
      }
      const li = document.createElement("li");
      inline(bullet ? bullet[1] : numbered[2], li, opts);
      list.append(li);
    } else if (!row.trim()) {
      flushPara();
      list = null;
    } else {
      list = null;
      para.push(row);
    }
  }
  flushPara();
  return out;
}
