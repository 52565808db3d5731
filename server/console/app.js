// Steward operator console: one ES module, no build step.
// Streams use fetch() (not EventSource) so the API key travels in a header, never in a URL or an access
// log; a dropped stream is rejoined with Last-Event-ID, so nothing is lost or shown twice.

const $ = (sel) => document.querySelector(sel);
const KEY = "steward.apiKey";
const state = { assistant: null, thread: null, run: null, stream: null, info: null, schemas: {}, actions: new Map() };

function key() { return localStorage.getItem(KEY) || ""; }

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "X-Api-Key": key(), ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const data = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
  if (!res.ok) {
    const detail = typeof data === "object" ? data.detail : data;
    throw new Error(`${res.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return data;
}

// ---- SSE over fetch ----------------------------------------------------------------------------
function parseBlock(block) {
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

async function followRun(threadId, runId, onFrame, signal) {
  let lastId = null;
  for (let attempt = 0; attempt < 30 && !signal.aborted; attempt++) {
    try {
      const headers = { "X-Api-Key": key(), ...(lastId ? { "Last-Event-ID": lastId } : {}) };
      const url = `/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(runId)}/stream` +
        "?stream_mode=custom&follow=true";
      const res = await fetch(url, { headers, signal });
      if (res.status >= 400 && res.status < 500) throw Object.assign(new Error(await res.text()), { fatal: true });
      if (!res.ok) throw new Error(`stream: ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        // Normalise CRLF, keeping a trailing CR until its LF arrives in the next chunk.
        const keepCR = buf.endsWith("\r");
        buf = (keepCR ? buf.slice(0, -1) : buf).replace(/\r\n?/g, "\n") + (keepCR ? "\r" : "");
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const frame = parseBlock(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
          if (frame.id) lastId = frame.id;
          attempt = 0;
          const data = frame.data ? JSON.parse(frame.data) : null;
          if (frame.event === "end") { onFrame("end", data); return; }
          onFrame(frame.event, data);
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err.fatal) { onFrame("error", { message: err.message }); return; }
    }
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));  // dropped: rejoin
  }
}

// ---- assistants, threads ------------------------------------------------------------------------
function skeleton(schema, defs) {
  if (!schema) return null;
  if (schema.$ref) return skeleton(defs[schema.$ref.split("/").pop()], defs);
  if (schema.anyOf) return skeleton(schema.anyOf.find((s) => s.type !== "null"), defs);
  if (schema.type === "object") {
    const out = {};
    for (const [k, v] of Object.entries(schema.properties || {})) out[k] = skeleton(v, defs);
    return out;
  }
  return { string: "", integer: 0, number: 0, boolean: false, array: [] }[schema.type] ?? null;
}

async function loadAssistants() {
  const list = await api("POST", "/assistants/search", { limit: 100 });
  const select = $("#assistant");
  select.replaceChildren(...list.map((a) => el("option", { value: a.assistant_id, text: a.name })));
  select.onchange = () => pickAssistant(list.find((a) => a.assistant_id === select.value));
  if (list.length) pickAssistant(list[0]);
}

async function pickAssistant(assistant) {
  state.assistant = assistant;
  $("#assistant-description").textContent = assistant.description || "";
  if (!state.schemas[assistant.assistant_id]) {
    state.schemas[assistant.assistant_id] = await api("GET", `/assistants/${assistant.assistant_id}/schemas`);
  }
  if (!$("#input").value.trim()) fillExample();
}

function fillExample() {
  const schema = state.schemas[state.assistant?.assistant_id]?.input_schema;
  $("#input").value = JSON.stringify(skeleton(schema, schema?.$defs || {}) ?? {}, null, 2);
}

async function loadThreads() {
  const threads = await api("POST", "/threads/search", { limit: 30 });
  $("#threads").replaceChildren(...threads.map((t) => {
    const li = el("li", { text: `${t.thread_id} `, title: t.status }, el("span", { class: `badge ${t.status}`, text: t.status }));
    if (t.thread_id === state.thread) li.classList.add("current");
    li.onclick = () => openThread(t.thread_id);
    return li;
  }));
}

function addMessage(role, who, text, extra = "") {
  const li = el("li", { class: `${role} ${extra}` }, el("span", { class: "who", text: who }), document.createTextNode(text));
  $("#messages").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

async function openThread(threadId) {
  state.thread = threadId;
  $("#thread-title").textContent = `Thread ${threadId}`;
  $("#messages").replaceChildren();
  const thread = await api("GET", `/threads/${encodeURIComponent(threadId)}`);
  for (const m of thread.values.messages || []) addMessage("assistant", m.by ? `${m.node} (${m.by})` : m.node || m.role, m.content);
  const runs = await api("GET", `/threads/${encodeURIComponent(threadId)}/runs?limit=1`);
  if (runs.length) watchRun(runs[0]); else clearRun();
  loadThreads();
}

// ---- a run: chat tokens and timeline ------------------------------------------------------------
function clearRun() {
  state.stream?.abort();
  state.run = null;
  state.actions = new Map();
  $("#run-actions").replaceChildren();
  $("#timeline").replaceChildren();
  $("#run-status").textContent = "";
  $("#run-links").replaceChildren();
}

function setStatus(status) {
  const badge = $("#run-status");
  badge.textContent = status;
  badge.className = `badge ${status}`;
}

const DESCRIBE = {
  run_started: (d) => ["", `run started by ${d.requester}`],
  node_started: (d) => ["", `→ ${d.node}${d.attempt > 1 ? ` (retry, attempt ${d.attempt})` : ""}`],
  node_finished: (d) => ["", `← ${d.node} wrote ${(d.update_keys || []).join(", ")}`],
  node_failed: (d) => ["fail", `✗ ${d.node} attempt ${d.attempt}: ${d.error}`],
  tool_call_proposed: (d) => ["tool", `proposes ${d.tool}(${JSON.stringify(d.args)})`],
  policy_decision: (d) => ["policy", `guard/policy: ${d.effect} by ${d.rule_id} (${d.reason})`],
  approval_requested: (d) => ["appr", `waits for ${d.required_role}: ${d.tool} (${d.approval_id})`],
  approval_escalated: (d) => ["appr", `escalated ${d.approval_id} to ${d.required_role}`],
  approval_decided: (d) => ["appr", `${d.approval_id}: ${d.status} by ${d.decided_by}${d.comment ? ` “${d.comment}”` : ""}`],
  tool_started: (d) => ["tool", `runs ${d.tool}${d.attempt > 1 ? ` (attempt ${d.attempt})` : ""}`],
  tool_finished: (d) => ["tool", `${d.tool} → ${JSON.stringify(d.result)} (${d.ms} ms)${deliveryNote(d.result?.action)}`],
  tool_failed: (d) => ["fail", `${d.tool} failed: ${d.error}`],
  run_finished: (d) => [d.status === "success" ? "" : "fail", `run ${d.status}: ${JSON.stringify(d.outcome ?? d.error)}`],
};

function watchRun(run) {
  clearRun();
  state.run = run;
  setStatus(run.status);
  const links = $("#run-links");
  links.append(el("span", { text: `${run.run_id} ` }));
  if (run.temporal_url) links.append(el("a", { href: run.temporal_url, target: "_blank", rel: "noopener", text: "Temporal UI" }));
  const controller = new AbortController();
  state.stream = controller;
  const bubbles = {};
  followRun(run.thread_id, run.run_id, (event, data) => {
    if (event === "error") { addMessage("assistant", "console", data.message, "error-text"); return; }
    if (event === "end") { setStatus(data.status === "cancelled" ? "interrupted" : data.status); loadThreads(); return; }
    if (event !== "custom") return;
    const d = data.data;
    if (data.type === "token") {
      bubbles[d.node] ??= addMessage("assistant", d.node, "", "streaming");
      bubbles[d.node].append(document.createTextNode(d.text));
      bubbles[d.node].scrollIntoView({ block: "end" });
      return;
    }
    if (data.type === "message") {  // written by rules or a template: whole, and labelled with its author
      addMessage("assistant", `${d.node} (${d.by})`, d.text, `authored by-${String(d.by).split(":")[0]}`);
      return;
    }
    if (data.type === "node_finished" && bubbles[d.node]) { bubbles[d.node].classList.remove("streaming"); delete bubbles[d.node]; }
    if (data.type === "run_started" || data.type === "node_started") setStatus("running");
    if (data.type === "approval_requested") { setStatus("interrupted"); refreshInbox(); loadThreads(); }
    if (data.type === "approval_decided") { setStatus("running"); refreshInbox(); loadThreads(); }
    if (data.type === "run_finished") setStatus(d.status === "cancelled" ? "interrupted" : d.status);
    if (data.type === "tool_finished" && d.result?.action) {
      state.actions.set(d.tool_call_id, { tool: d.tool, ...d.result.action });
      renderRunActions();
      if (d.result.action.adapter !== "simulated") refreshRunActions();
    }
    const [cls, text] = (DESCRIBE[data.type] || (() => ["", `${data.type} ${JSON.stringify(d)}`]))(d);
    $("#timeline").append(el("li", { class: cls }, el("span", { class: "seq", text: `#${data.seq}` }), document.createTextNode(text)));
  }, controller.signal);
}

// ---- actions: adapter and delivery, in the run view and in the outbox -------------------------------
function deliveryNote(action) {
  if (!action) return "";
  return action.adapter === "simulated" ? " [simulated]" : ` [${action.adapter}: ${action.delivery}]`;
}

function deliveryBadge(delivery) {
  return el("span", { class: `badge ${delivery}`, text: delivery });
}

function renderRunActions() {
  $("#run-actions").replaceChildren(...[...state.actions.values()].map((a) => {
    const li = el("li", {}, el("strong", { text: a.tool }), document.createTextNode(` · ${a.adapter} `),
      deliveryBadge(a.adapter === "simulated" ? "simulated" : a.delivery));
    if (a.adapter !== "simulated" && a.attempts) li.append(document.createTextNode(` · ${a.attempts} attempts`));
    if (a.last_error) li.append(el("span", { class: "error-text", text: ` · ${a.last_error}` }));
    return li;
  }));
}

// The run's webhook actions as the outbox sees them now (a queued action may be delivered after the run ended).
async function refreshRunActions() {
  const run = state.run;
  if (!run || ![...state.actions.values()].some((a) => a.adapter !== "simulated")) return;
  let rows;
  try { rows = await api("GET", `/outbox?run_id=${encodeURIComponent(run.run_id)}`); } catch { return; }
  if (state.run !== run) return;
  for (const r of rows) {
    const known = state.actions.get(r.tool_call_id) || {};
    state.actions.set(r.tool_call_id, { ...known, tool: r.tool, adapter: r.adapter, delivery: r.delivery,
      attempts: r.attempts, last_error: r.last_error });
  }
  renderRunActions();
}

async function refreshOutbox() {
  if (!key()) return;
  const delivery = $("#outbox-filter").value;
  let rows;
  try { rows = await api("GET", `/outbox?limit=200${delivery ? `&delivery=${delivery}` : ""}`); } catch { return; }
  $("#outbox-count").textContent = String(rows.length);
  const cell = (text) => el("td", { text: text ?? "-" });
  $("#outbox-rows").replaceChildren(...rows.map((r) => {
    const tr = el("tr", { "data-key": r.idempotency_key, title: `${r.target} · ${r.idempotency_key}` },
      cell(r.tool), cell(r.run_id), cell(r.adapter), el("td", {}, deliveryBadge(r.delivery)),
      cell(String(r.attempts)), cell(r.last_error), cell(r.next_attempt_at));
    return tr;
  }));
}

async function send(event) {
  event.preventDefault();
  const status = $("#send-status");
  status.textContent = "";
  status.className = "muted";
  let input;
  try { input = JSON.parse($("#input").value); } catch (err) {
    status.textContent = `input is not JSON: ${err.message}`; status.className = "error-text"; return;
  }
  try {
    if (!state.thread) state.thread = (await api("POST", "/threads", {})).thread_id;
    const run = await api("POST", `/threads/${encodeURIComponent(state.thread)}/runs`,
      { assistant_id: state.assistant.assistant_id, input, multitask_strategy: "enqueue" });
    $("#thread-title").textContent = `Thread ${state.thread}`;
    addMessage("user", "you", JSON.stringify(input));
    watchRun(run);
    loadThreads();
  } catch (err) { status.textContent = err.message; status.className = "error-text"; }
}

// ---- approvals inbox ----------------------------------------------------------------------------
async function refreshInbox() {
  if (!key()) return;
  let items;
  try { items = await api("GET", "/approvals?status=pending"); } catch { return; }
  $("#inbox-count").textContent = String(items.length);
  const box = $("#approvals");
  const shown = new Set([...box.children].map((c) => c.dataset.id));
  for (const card of [...box.children]) if (!items.some((a) => a.approval_id === card.dataset.id)) card.remove();
  for (const a of items) if (!shown.has(a.approval_id)) box.append(approvalCard(a));
}

function approvalCard(a) {
  const card = $("#approval-template").content.firstElementChild.cloneNode(true);
  card.dataset.id = a.approval_id;
  card.querySelector(".tool").textContent = a.tool;
  const risk = card.querySelector(".risk");
  risk.textContent = `${a.risk} risk`;
  risk.classList.add(a.risk);
  card.querySelector(".meta").textContent =
    `needs ${a.required_role} · asked by ${a.requester} · run ${a.run_id} · due ${a.deadline_at ?? "-"}`;
  card.querySelector(".reason").textContent = a.reason;
  card.querySelector(".args").value = JSON.stringify(a.args, null, 2);
  const roles = state.info?.principal.roles || [];
  const canDecide = roles.some((r) => ["approver", "senior_approver", "admin"].includes(r));
  for (const button of card.querySelectorAll("button[data-action]")) {
    button.onclick = () => decide(card, a, button.dataset.action);
    if (!canDecide) { button.disabled = true; button.title = `needs role ${a.required_role}`; }
  }
  return card;
}

async function decide(card, approval, action) {
  const result = card.querySelector(".result");
  const comment = card.querySelector(".comment").value.trim() || null;
  const body = { action, comment };
  try {
    if (action === "edit") body.args = JSON.parse(card.querySelector(".args").value);
    if (action === "respond") { body.response = comment; body.comment = null; }
    card.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    const out = await api("POST", `/approvals/${approval.approval_id}/decision`, body);
    result.textContent = `${out.status} by ${out.decided_by}`;
    result.className = "result muted";
    setTimeout(refreshInbox, 500);
  } catch (err) {
    result.textContent = err.message;
    result.className = "result error-text";
    card.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
}

// ---- start ---------------------------------------------------------------------------------------
async function start() {
  $("#key").value = key();
  if (!key()) { $("#whoami").textContent = "enter an API key (make run prints a local admin key)"; return; }
  try {
    state.info = await api("GET", "/info");
  } catch (err) {
    $("#whoami").textContent = err.message;
    $("#whoami").className = "error-text";
    return;
  }
  const p = state.info.principal;
  $("#whoami").textContent = `${p.id} @ ${p.tenant} (${p.roles.join(", ")})`;
  $("#whoami").className = "muted";
  await loadAssistants();
  await loadThreads();
  await refreshInbox();
  await refreshOutbox();
}

$("#key-form").onsubmit = (e) => { e.preventDefault(); localStorage.setItem(KEY, $("#key").value.trim()); start(); };
$("#send-form").onsubmit = send;
$("#example").onclick = fillExample;
$("#new-thread").onclick = async () => {
  try {
    const t = await api("POST", "/threads", {});
    await openThread(t.thread_id);
  } catch (err) { $("#send-status").textContent = err.message; }
};
$("#outbox-filter").onchange = refreshOutbox;
setInterval(refreshInbox, 3000);
setInterval(() => { refreshOutbox(); refreshRunActions(); }, 3000);
start();
