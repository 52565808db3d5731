// The console's HTTP plumbing: the API key header, JSON calls, and Server-Sent Events read over fetch().
//
// Streams use fetch() (not EventSource) so the API key travels in a header, never in a URL or an access
// log; a dropped run stream is rejoined with Last-Event-ID, so nothing is lost or shown twice.
//
// SAFETY: el() builds nodes with createElement and textContent only (no innerHTML anywhere in the console).

const KEY = "steward.apiKey";

export function saveKey(value) { localStorage.setItem(KEY, value); }
export function key() { return localStorage.getItem(KEY) || ""; }

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

export async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "X-Api-Key": key(), ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const detail = typeof data === "object" ? data.detail : data;
    throw Object.assign(new Error(`${res.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`),
      { status: res.status, detail });
  }
  return data;
}

export const enc = encodeURIComponent;

// ---- SSE over fetch ----------------------------------------------------------------------------
export function parseBlock(block) {
  const frame = { id: null, event: "message", data: "" };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const name = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
    if (name === "id") frame.id = value; else if (name === "event") frame.event = value;
    else if (name === "data") frame.data += (frame.data ? "\n" : "") + value;
  }
  return frame;
}

/** Read an SSE response body, calling onFrame(frame) per frame; returns true when an "end" frame arrived. */
export async function readFrames(res, onFrame) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return false;
    buf += value;
    // Normalise CRLF, keeping a trailing CR until its LF arrives in the next chunk.
    const keepCR = buf.endsWith("\r");
    buf = (keepCR ? buf.slice(0, -1) : buf).replace(/\r\n?/g, "\n") + (keepCR ? "\r" : "");
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const frame = parseBlock(buf.slice(0, cut));
      buf = buf.slice(cut + 2);
      if (onFrame(frame) === "end") return true;
    }
  }
}

export async function followRun(threadId, runId, onFrame, signal) {
  let lastId = null;
  for (let attempt = 0; attempt < 30 && !signal.aborted; attempt++) {
    try {
      const headers = { "X-Api-Key": key(), ...(lastId ? { "Last-Event-ID": lastId } : {}) };
      const url = `/threads/${enc(threadId)}/runs/${enc(runId)}/stream?stream_mode=custom&follow=true`;
      const res = await fetch(url, { headers, signal });
      if (res.status >= 400 && res.status < 500) throw Object.assign(new Error(await res.text()), { fatal: true });
      if (!res.ok) throw new Error(`stream: ${res.status}`);
      const ended = await readFrames(res, (frame) => {
        if (frame.id) lastId = frame.id;
        attempt = 0;
        const data = frame.data ? JSON.parse(frame.data) : null;
        onFrame(frame.event, data);
        return frame.event === "end" ? "end" : null;
      });
      if (ended) return;
    } catch (err) {
      if (signal.aborted) return;
      if (err.fatal) { onFrame("error", { message: err.message }); return; }
    }
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));  // dropped: rejoin
  }
}

