// Steward operator console: a chat over the runtime, plain ES modules, no build step.
//
// HTTP and streams live in net.js, Markdown in markdown.js.
//
// SAFETY: the DOM is built only with createElement / createTextNode / textContent (via el() and
// markdown.js). No innerHTML, outerHTML, insertAdjacentHTML or document.write anywhere in the console:
// operator messages, model output, approval comments and tool arguments are untrusted text.

import { renderMarkdown } from "./markdown.js";
import { api, el, enc, followRun, key, readFrames, saveKey } from "./net.js";

const $ = (sel) => document.querySelector(sel);
const TERMINAL = new Set(["success", "error", "cancelled", "timeout"]);
const QUESTION = /\?\s*$|^\s*(why|which|who|what|when|how|did|is|was)\b/i;
const EXAMPLES = [
  [/loan/, ["Triage A-9: 12,000 for a kitchen, income 80k a year, score 700"]],
  [/kyc/, ["Check Meridian Freight BV, director Tomás Ruiz born 21 July 1976"]],
  [/claim/, ["Claim on shipment ZX-0042, arrived damaged, goods worth 900"]],
];
const QUIET_TOKENS = new Set(["chat_intake"]);
const state = {
  assistants: [], assistant: null, thread: null, run: null, stream: null, info: null, schemas: {},
  actions: new Map(), events: new Map(), threads: [], history: [], historyFrom: 0, approvalCards: new Map(),
};

// ---- the conversation ---------------------------------------------------------------------------
function authorLabel(by, model) {
  if (!by) return "";
  if (by === "model") return model ? `model: ${model}` : "model";
  if (by.startsWith("template:")) return `template: ${by.slice("template:".length)}`;
  return by;
}

function byClass(by) {
  const kind = String(by || "").split(":")[0];
  return ["rules", "template", "model"].includes(kind) ? `by-${kind}` : "by-other";
}

function scrollDown(node) { node.scrollIntoView({ block: "end" }); }

/** A chat bubble: its author on top (node and authorship), then the text rendered by markdown.js. */
function bubble(role, { who = "", by = null, model = null, text = "", cls = "" } = {}) {
  const head = el("div", { class: "who" }, el("span", { class: "node", text: who }));
  const label = authorLabel(by, model);
  if (label) head.append(el("span", { class: "author", text: label }));
  const body = el("div", { class: "body" });
  body.append(renderMarkdown(text));
  const li = el("li", { class: `msg ${role} ${role === "user" ? "" : byClass(by)} ${cls}`.trim() }, head, body);
  li.dataset.text = text;
  $("#messages").append(li);
  scrollDown(li);
  return li;
}

function setBody(li, text, opts) {
  li.dataset.text = text;
  li.querySelector(".body").replaceChildren(renderMarkdown(text, opts));
}

function userBubble(text) { return bubble("user", { who: "you", text }); }

function consoleBubble(text) { return bubble("assistant", { who: "console", text, cls: "console error-text" }); }

/** The card of fields intake understood: label -> value, each value as text. */
function understoodCard(card) {
  const rows = card.map((f) => el("tr", { "data-field": f.field },
    el("th", { text: f.label || f.field }), el("td", { text: typeof f.value === "string" ? f.value : JSON.stringify(f.value) })));
  return el("table", { class: "understood" }, el("caption", { text: "What I understood" }), el("tbody", {}, ...rows));
}

function addConfirmButtons(li) {
  if (li.querySelector(".confirm")) return;
  const yes = el("button", { type: "button", class: "confirm-yes", text: "Yes, start" });
  const change = el("button", { type: "button", class: "confirm-change ghost", text: "Change…" });
  yes.onclick = async () => {  // always an answer to this card, never a new request "yes"
    yes.disabled = true;
    try { await resume("yes"); } catch (err) { yes.disabled = false; consoleBubble(`That was not sent: ${err.message}`); }
  };
  change.onclick = () => { showTab("chat"); $("#prompt").focus(); };
  li.append(el("div", { class: "row confirm" }, yes, change));
}

/** Once intake moved on, an earlier confirmation card's buttons no longer apply. */
function closeConfirmButtons() {
  for (const b of document.querySelectorAll("#messages .confirm button")) { b.disabled = true; b.title = "answered"; }
}

function decorateIntake(li, d) {
  if (d.card?.length && !li.querySelector("table.understood")) li.append(understoodCard(d.card));
  closeConfirmButtons();
  const status = d.intake?.status;
  li.dataset.intake = status || "";
  if (status === "confirming") addConfirmButtons(li);
  if (status === "asking") li.classList.add("asking");
}

// History (the thread's values.messages) is drawn when a thread opens; the latest run's stream then replays
// from its start for the timeline. A replayed message that is already drawn is matched, not drawn twice.
function rememberHistory(li) { state.history.push({ li, text: li.dataset.text, used: false }); }

function matchHistory(text) {
  for (let i = state.historyFrom; i < state.history.length; i++) {
    const h = state.history[i];
    if (!h.used && h.text === text) { h.used = true; state.historyFrom = i + 1; return h.li; }
  }
  return null;
}

function messageText(m) {
  const c = m.content;
  if (Array.isArray(c)) return c.map((b) => (typeof b === "string" ? b : b?.text || "")).join("");
  return typeof c === "string" ? c : JSON.stringify(c ?? "");
}

function isUserMessage(m) { return m.role === "user" || m.role === "human" || m.type === "human"; }

function drawHistoryMessage(m) {
  const text = messageText(m);
  let li;
  if (isUserMessage(m)) li = userBubble(text);
  else {
    if (!text) return;  // a model turn that only proposed tool calls: the timeline and approvals show them
    if (m.type === "tool" || m.role === "tool") {
      li = bubble("assistant", { who: `tool ${m.name || ""} (${m.status || "result"})`, text, cls: "tool-result" });
      rememberHistory(li);
      return;
    }
    li = bubble("assistant", { who: m.node || m.name || "assistant", by: m.by || (m.type === "ai" ? "model" : null), text });
    if (m.card?.length) li.append(understoodCard(m.card));
  }
  rememberHistory(li);
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
  state.assistants = list;
  const select = $("#assistant");
  select.replaceChildren(...list.map((a) => el("option", { value: a.assistant_id, text: a.name })));
  select.onchange = () => pickAssistant(list.find((a) => a.assistant_id === select.value));
  if (list.length) await pickAssistant(list[0]);
}

async function pickAssistant(assistant) {
  if (!assistant) return;
  state.assistant = assistant;
  $("#assistant").value = assistant.assistant_id;
  $("#assistant-description").textContent = assistant.description || "";
  renderExamples();
  if (!state.schemas[assistant.assistant_id]) {
    try {
      state.schemas[assistant.assistant_id] = await api("GET", `/assistants/${enc(assistant.assistant_id)}/schemas`);
    } catch { state.schemas[assistant.assistant_id] = {}; }
  }
  fillExample();
}

function examplesFor(assistant) {
  const id = `${assistant.assistant_id} ${assistant.graph_id || ""} ${assistant.name || ""}`.toLowerCase();
  for (const [pattern, texts] of EXAMPLES) if (pattern.test(id)) return texts;
  return [];
}

function renderExamples() {
  const box = $("#examples");
  const texts = state.assistant ? examplesFor(state.assistant) : [];
  const buttons = texts.map((t) => {
    const b = el("button", { type: "button", class: "example-request ghost", text: t });
    b.onclick = () => { showTab("chat"); $("#prompt").value = t; $("#prompt").focus(); };
    return b;
  });
  if (!buttons.length) {
    buttons.push(el("p", { class: "muted", text: "Describe the request in your own words; the agent asks for what it needs." }));
  }
  box.replaceChildren(...buttons);
}

function fillExample() {
  const schema = state.schemas[state.assistant?.assistant_id]?.input_schema;
  $("#input").value = JSON.stringify(skeleton(schema, schema?.$defs || {}) ?? {}, null, 2);
}

function threadTitle(t) { return t.metadata?.title || t.thread_id; }

async function loadThreads() {
  try { state.threads = await api("POST", "/threads/search", { limit: 100 }); } catch { return; }
  renderThreads();
}

function renderThreads() {
  const q = $("#thread-search").value.trim().toLowerCase();
  const shown = state.threads.filter((t) => !q || [t.metadata?.title, t.thread_id, t.status]
    .some((v) => String(v ?? "").toLowerCase().includes(q)));
  $("#threads").replaceChildren(...shown.map((t) => {
    const open = el("button", { type: "button", class: "thread-link", title: t.thread_id },
      el("span", { class: "title", text: threadTitle(t) }),
      el("span", { class: "tid", text: t.thread_id }),
      el("span", { class: `badge ${t.status}`, text: t.status }));
    open.onclick = () => openThread(t.thread_id);
    const li = el("li", {}, open);
    if (t.thread_id === state.thread) li.classList.add("current");
    return li;
  }));
}

function resetConversation() {
  $("#messages").replaceChildren();
  state.history = [];
  state.historyFrom = 0;
  state.approvalCards = new Map();
  closeRecord();
}

async function openThread(threadId) {
  clearRun();
  state.thread = threadId;
  resetConversation();
  let thread;
  try { thread = await api("GET", `/threads/${enc(threadId)}`); } catch (err) { consoleBubble(err.message); return; }
  $("#thread-title").textContent = threadTitle(thread);
  $("#thread-title").title = threadId;
  for (const m of thread.values?.messages || []) drawHistoryMessage(m);
  const runs = await api("GET", `/threads/${enc(threadId)}/runs?limit=1`);
  const wanted = thread.metadata?.assistant_id || runs[0]?.assistant_id;
  const assistant = state.assistants.find((a) => a.assistant_id === wanted);
  if (assistant && assistant !== state.assistant) pickAssistant(assistant);
  if (runs.length) {
    // Replayed messages of the latest run match history only from its first user message on.
    const first = runs[0].kwargs?.input?.messages?.[0];
    if (first) {
      const text = messageText(first);
      for (let i = state.history.length - 1; i >= 0; i--) {
        if (state.history[i].li.classList.contains("user") && state.history[i].text === text) { state.historyFrom = i; break; }
      }
    }
    watchRun(runs[0]);
  }
  await loadAnswers(threadId);
  renderThreads();
}

// ---- a run: timeline, and what it says in the conversation ----------------------------------------
function clearRun() {
  state.stream?.abort();
  state.stream = null;
  state.run = null;
  state.actions = new Map();
  state.events = new Map();
  $("#run-actions").replaceChildren();
  $("#timeline").replaceChildren();
  $("#run-status").textContent = "";
  $("#run-links").replaceChildren();
  updateRunButtons();
}

function setStatus(status) {
  // A finished run stays finished: a reply read before the workflow stopped (the cancel's, say) can arrive after
  // the stream's end event and must not turn "cancelled" back into "interrupted".
  if (state.run && TERMINAL.has(state.run.status) && !TERMINAL.has(status)) return;
  const badge = $("#run-status");
  badge.textContent = status;
  badge.className = `badge ${status}`;
  if (state.run) state.run.status = status;
  updateRunButtons();
}

function updateRunButtons() {
  const status = state.run?.status;
  $("#cancel-run").hidden = !state.run || !["pending", "running", "interrupted"].includes(status);
  $("#retry-run").hidden = !state.run || !["error", "timeout"].includes(status);
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
  interrupt: (d) => ["appr", `asks the operator: ${d.value?.question ?? JSON.stringify(d.value)}`],
  interrupt_answered: (d) => ["appr", `answered by ${d.answered_by}`],
  message: (d) => ["msg", `${d.node} says (${d.by}): ${d.text}`],
  token: (d) => ["tok", `${d.node} token: ${JSON.stringify(d.text)}`],
  run_finished: (d) => [d.status === "success" ? "" : "fail", `run ${d.status}: ${JSON.stringify(d.outcome ?? d.error)}`],
};

/** Follow a run: the timeline always; the conversation unless timelineOnly (a run opened for a citation). */
function watchRun(run, { timelineOnly = false } = {}) {
  clearRun();
  state.run = { ...run };
  setStatus(run.status);
  const links = $("#run-links");
  links.append(el("span", { class: "run-id", text: `${run.run_id} ` }));
  if (run.temporal_url) links.append(el("a", { href: run.temporal_url, target: "_blank", rel: "noopener noreferrer", text: "Temporal UI" }));
  const controller = new AbortController();
  state.stream = controller;
  const tokens = {};  // node -> {li, text}
  let said = 0;
  const talk = !timelineOnly;
  followRun(run.thread_id, run.run_id, (event, data) => {
    if (state.stream !== controller) return;
    if (event === "error") { if (talk) consoleBubble(data.message); return; }
    if (event === "end") {
      setStatus(data.status === "cancelled" ? "cancelled" : data.status);
      if (talk && data.status === "success" && !said) showFinalMessages(run);
      loadThreads();
      return;
    }
    if (event !== "custom") return;
    const d = data.data || {};
    state.events.set(data.seq, data);
    if (data.type !== "token") {
      const [cls, text] = (DESCRIBE[data.type] || (() => ["", `${data.type} ${JSON.stringify(d)}`]))(d);
      $("#timeline").append(el("li", { class: cls, "data-seq": String(data.seq) },
        el("span", { class: "seq", text: `#${data.seq}` }), document.createTextNode(text)));
    }
    // Intake's model call streams its raw extraction (values not yet grounded, maybe invented): intake shows
    // only what the rules kept, so those tokens stay out of the conversation.
    if (data.type === "token" && talk && !QUIET_TOKENS.has(d.node)) {
      const t = (tokens[d.node] ??= { li: bubble("assistant", { who: d.node, by: "model", model: d.model, cls: "streaming" }), text: "" });
      t.text += d.text ?? "";
      setBody(t.li, t.text);
      scrollDown(t.li);
      said++;
      return;
    }
    if (data.type === "message" && talk) {
      said++;
      const li = matchHistory(d.text) ?? bubble("assistant", { who: d.node, by: d.by, model: d.model, text: d.text });
      if (d.intake || d.card) decorateIntake(li, d);
      return;
    }
    if (data.type === "node_finished" && tokens[d.node]) {
      const t = tokens[d.node];
      t.li.classList.remove("streaming");
      if (matchHistory(t.text)) t.li.remove();  // a replay of a text the history already shows
      delete tokens[d.node];
    }
    if (data.type === "run_started" || data.type === "node_started") setStatus("running");
    if (data.type === "approval_requested") {
      setStatus("interrupted");
      if (talk) showInlineApprovals(run.run_id);
      refreshInbox();
      loadThreads();
    }
    if (data.type === "approval_decided") {
      setStatus("running");
      markDecided(d);
      refreshInbox();
      loadThreads();
    }
    if (data.type === "run_finished") setStatus(d.status);
    if (data.type === "tool_finished" && d.result?.action) {
      state.actions.set(d.tool_call_id, { tool: d.tool, ...d.result.action });
      renderRunActions();
      if (d.result.action.adapter !== "simulated") refreshRunActions();
    }
  }, controller.signal);
}

/** An assistant that writes no message events (a user-defined messages agent): show its final reply. */
async function showFinalMessages(run) {
  let thread;
  try { thread = await api("GET", `/threads/${enc(run.thread_id)}`); } catch { return; }
  if (state.thread !== run.thread_id) return;
  const messages = thread.values?.messages || [];
  const lastUser = messages.map(isUserMessage).lastIndexOf(true);
  for (const m of messages.slice(lastUser + 1)) if (!matchHistory(messageText(m))) drawHistoryMessage(m);
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
  try { rows = await api("GET", `/outbox?run_id=${enc(run.run_id)}`); } catch { return; }
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
  $("#outbox-rows").replaceChildren(...rows.map((r) => el("tr", { "data-key": r.idempotency_key, title: `${r.target} · ${r.idempotency_key}` },
    cell(r.tool), cell(r.run_id), cell(r.adapter), el("td", {}, deliveryBadge(r.delivery)),
    cell(String(r.attempts)), cell(r.last_error), cell(r.next_attempt_at))));
}

// ---- sending: a new request, an answer to intake's question, or a follow-up question -------------
function setSendStatus(text, error = false) {
  const status = $("#send-status");
  status.textContent = text;
  status.className = error ? "error-text" : "muted";
}

async function ensureThread(title) {
  if (state.thread) return state.thread;
  const thread = await api("POST", "/threads", {
    metadata: { title: title.slice(0, 80), assistant_id: state.assistant.assistant_id },
  });
  state.thread = thread.thread_id;
  $("#thread-title").textContent = threadTitle(thread);
  $("#thread-title").title = thread.thread_id;
  return state.thread;
}

/** The intake question the thread's run waits on, if any (read from the thread's state, not guessed). */
async function openIntake(threadId) {
  if (!state.run || TERMINAL.has(state.run.status)) return null;
  let threadState;
  try { threadState = await api("GET", `/threads/${enc(threadId)}/state`); } catch { return null; }
  return (threadState.interrupts || []).find((i) => String(i.value?.kind || "").startsWith("intake_")) || null;
}

/** Answer the question the thread's run waits on: the same run continues (its stream is still followed). */
async function resume(text) {
  userBubble(text);
  closeConfirmButtons();
  const run = await api("POST", `/threads/${enc(state.thread)}/runs`,
    { assistant_id: state.run?.assistant_id || state.assistant.assistant_id, command: { resume: text } });
  if (run.run_id !== state.run?.run_id || !state.stream) watchRun(run);
}

async function say(text) {
  if (!state.assistant) { setSendStatus("sign in first", true); return; }
  setSendStatus("");
  try {
    if (state.thread && state.run) {
      const open = await openIntake(state.thread);
      if (open) { await resume(text); return; }
      if (QUESTION.test(text)) { await ask(text); return; }
    }
    await ensureThread(text);
    userBubble(text);
    const run = await api("POST", `/threads/${enc(state.thread)}/runs`, {
      assistant_id: state.assistant.assistant_id,
      input: { messages: [{ role: "user", content: text }] },
      multitask_strategy: "enqueue",
    });
    watchRun(run);
    loadThreads();
  } catch (err) {
    if (err.status === 422 || err.status === 413) { refusedBubble(err); return; }
    consoleBubble(`That was not sent: ${err.message}`);
  }
}

/** A message the API refused before any run (an input guard, the size limit): a polite reply saying why
 * and what this assistant does, never a raw error; nothing was started. */
function refusedBubble(err) {
  const detail = Array.isArray(err.detail) ? err.detail.map((d) => d.msg || JSON.stringify(d)).join("; ")
    : typeof err.detail === "string" ? err.detail : err.message;
  const what = state.assistant?.description ? ` I can help with this: ${state.assistant.description}` : "";
  const example = state.assistant ? examplesFor(state.assistant)[0] : null;
  const text = `I can't take that message, so nothing was started (${detail}).${what}` +
    (example ? ` For example: "${example}"` : "");
  return bubble("assistant", { who: "console", text, cls: "console refused" });
}

async function sendComposer(event) {
  event?.preventDefault();
  const text = $("#prompt").value.trim();
  if (!text) { setSendStatus("Write a request or a question first."); return; }
  $("#prompt").value = "";
  await say(text);
}

async function sendJson(event) {
  event.preventDefault();
  setSendStatus("");
  let input;
  try { input = JSON.parse($("#input").value); } catch (err) {
    setSendStatus(`input is not JSON: ${err.message}`, true); return;
  }
  try {
    await ensureThread(`JSON: ${JSON.stringify(input)}`);
    const run = await api("POST", `/threads/${enc(state.thread)}/runs`,
      { assistant_id: state.assistant.assistant_id, input, multitask_strategy: "enqueue" });
    const li = el("li", { class: "msg user json" }, el("div", { class: "who" }, el("span", { class: "node", text: "you (JSON)" })),
      el("pre", { class: "body", text: JSON.stringify(input, null, 2) }));
    $("#messages").append(li);
    watchRun(run);
    loadThreads();
  } catch (err) { setSendStatus(err.message, true); }
}

async function retryRun() {
  const run = state.run;
  if (!run) return;
  try {
    const full = await api("GET", `/threads/${enc(run.thread_id)}/runs/${enc(run.run_id)}`);
    let input = full.kwargs?.input;
    if (!input) {
      const users = [...document.querySelectorAll("#messages li.msg.user")];
      const text = users.length ? users[users.length - 1].dataset.text : "";
      input = { messages: [{ role: "user", content: text }] };
    }
    const again = await api("POST", `/threads/${enc(run.thread_id)}/runs`,
      { assistant_id: full.assistant_id, input, multitask_strategy: "enqueue" });
    bubble("assistant", { who: "console", text: `Retrying: run ${again.run_id} on the same input.`, cls: "console" });
    watchRun(again);
  } catch (err) { consoleBubble(`Retry failed: ${err.message}`); }
}

async function cancelRun() {
  const run = state.run;
  if (!run) return;
  try {
    const out = await api("POST", `/threads/${enc(run.thread_id)}/runs/${enc(run.run_id)}/cancel`);
    setStatus(out.status);
    bubble("assistant", { who: "console", text: `Run ${run.run_id} cancelled.`, cls: "console" });
    loadThreads();
  } catch (err) { consoleBubble(`Cancel failed: ${err.message}`); }
}

// ---- follow-up questions, answered from the run's record ------------------------------------------
async function ask(question) {
  userBubble(question);
  const li = bubble("assistant", { who: "answer", by: "model", cls: "answer streaming" });
  let text = "";
  let res;
  try {
    res = await fetch(`/threads/${enc(state.thread)}/ask/stream`, {
      method: "POST",
      headers: { "X-Api-Key": key(), "Content-Type": "application/json" },
      body: JSON.stringify({ question: question.slice(0, 1000), run_id: null }),
    });
  } catch (err) { li.remove(); consoleBubble(`The question was not sent: ${err.message}`); return; }
  if (!res.ok) {
    li.remove();
    let detail = "";
    try { detail = (await res.json()).detail; } catch { /* not JSON */ }
    if (res.status === 404 && (!detail || detail === "Not Found")) {
      consoleBubble("Sorry: follow-up questions about a run are not available on this server yet.");
    } else {
      consoleBubble(`Sorry, I could not answer that (${res.status}): ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    }
    return;
  }
  let answered = false;
  await readFrames(res, (frame) => {
    const data = frame.data ? JSON.parse(frame.data) : {};
    if (frame.event === "token") { text += data.text ?? ""; setBody(li, text); scrollDown(li); }
    if (frame.event === "answer") { renderAnswer(li, data); answered = true; }
    if (frame.event === "error") consoleBubble(`The answer failed: ${data.message || data.error || ""}`);
    return frame.event === "end" ? "end" : null;
  }).catch((err) => consoleBubble(`The answer stream broke: ${err.message}`));
  li.classList.remove("streaming");
  if (!answered && !text) li.remove();
}

function renderAnswer(li, a) {
  li.classList.remove("streaming", "by-model", "by-rules", "by-other");
  li.classList.add(byClass(a.by));
  li.dataset.answer = a.answer_id;
  li.dataset.found = String(a.found);
  li.querySelector(".who").replaceChildren(el("span", { class: "node", text: "answer" }),
    el("span", { class: "author", text: authorLabel(a.by, a.model) }));
  const cites = a.citations || [];
  setBody(li, a.text, {
    citation: (n) => {
      const c = cites.find((x) => x.n === n) ?? cites[n - 1];
      if (!c) return null;
      const link = el("a", { href: `#cite-${a.answer_id}-${n}`, class: "cite", title: c.label, text: `[${n}]` });
      link.onclick = (e) => { e.preventDefault(); openRecord(a, c); };
      return link;
    },
  });
  for (const old of li.querySelectorAll(".withdrawn, .citations")) old.remove();
  if (a.withdrawn) {
    li.append(el("p", { class: "withdrawn", text: `The model's answer was withdrawn: ${a.withdrawn}; this answer is from the record.` }));
  }
  if (cites.length) {
    li.append(el("ol", { class: "citations" }, ...cites.map((c) => {
      const link = el("a", { href: `#cite-${a.answer_id}-${c.n}`, class: "cite", id: `cite-${a.answer_id}-${c.n}`, text: c.label || c.ref });
      link.onclick = (e) => { e.preventDefault(); openRecord(a, c); };
      return el("li", { "data-kind": c.kind, "data-ref": c.ref }, el("span", { class: "n", text: `[${c.n}] ` }), link,
        el("span", { class: "muted", text: ` · ${c.kind}` }));
    })));
  }
  scrollDown(li);
}

async function loadAnswers(threadId) {
  let answers;
  try { answers = await api("GET", `/threads/${enc(threadId)}/answers`); } catch { return; }  // not built: none
  if (state.thread !== threadId || !Array.isArray(answers)) return;
  for (const a of answers) {
    userBubble(a.question);
    renderAnswer(bubble("assistant", { who: "answer", by: a.by, cls: "answer" }), a);
  }
}

function closeRecord() {
  $("#record").hidden = true;
  for (const li of document.querySelectorAll("#timeline li.highlight")) li.classList.remove("highlight");
}

/** Show a cited record: an event is found in the timeline (its run loaded if needed) and highlighted. */
async function openRecord(answer, c) {
  showRight(true);
  const box = $("#record");
  box.hidden = false;
  box.dataset.kind = c.kind;
  box.dataset.ref = c.ref;
  $("#record-title").textContent = `[${c.n}] ${c.label || c.ref} (${c.kind})`;
  $("#record-excerpt").textContent = c.kind === "policy" ? (c.excerpt || "") : "";
  $("#record-body").textContent = JSON.stringify(c.value ?? null, null, 2);
  for (const li of document.querySelectorAll("#timeline li.highlight")) li.classList.remove("highlight");
  if (c.kind !== "event" || c.seq === null || c.seq === undefined) return;
  if (state.run?.run_id !== answer.run_id) {
    try {
      watchRun(await api("GET", `/threads/${enc(answer.thread_id)}/runs/${enc(answer.run_id)}`), { timelineOnly: true });
    } catch (err) { $("#record-excerpt").textContent = err.message; return; }
  }
  for (let i = 0; i < 100; i++) {
    const entry = document.querySelector(`#timeline li[data-seq="${Number(c.seq)}"]`);
    if (entry) {
      entry.classList.add("highlight");
      entry.scrollIntoView({ block: "center" });
      const event = state.events.get(Number(c.seq));
      if (event) $("#record-body").textContent = JSON.stringify({ seq: event.seq, type: event.type, ts: event.ts, data: event.data }, null, 2);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- approvals: inline in the conversation, and the inbox ----------------------------------------
async function showInlineApprovals(runId) {
  let items;
  try { items = await api("GET", `/approvals?status=pending&run_id=${enc(runId)}`); } catch { return; }
  if (state.run?.run_id !== runId) return;
  for (const a of items) {
    if (state.approvalCards.has(a.approval_id)) continue;
    const card = approvalCard(a);
    const li = el("li", { class: "msg approval-item by-rules" },
      el("div", { class: "who" }, el("span", { class: "node", text: "approval needed" }), el("span", { class: "author", text: "policy" })), card);
    state.approvalCards.set(a.approval_id, card);
    $("#messages").append(li);
    scrollDown(li);
  }
}

function markDecided(d) {
  const card = state.approvalCards.get(d.approval_id);
  if (!card) return;
  card.querySelectorAll("button").forEach((b) => { b.disabled = true; b.title = "decided"; });
  const result = card.querySelector(".result");
  if (!result.textContent) result.textContent = `${d.status} by ${d.decided_by}`;
  card.classList.add("decided");
}

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

function canDecide() {
  const roles = state.info?.principal.roles || [];
  return roles.some((r) => ["approver", "senior_approver", "admin"].includes(r));
}

function approvalCard(a) {
  const card = $("#approval-template").content.firstElementChild.cloneNode(true);
  card.dataset.id = a.approval_id;
  card.querySelector(".tool").textContent = a.tool;
  const risk = card.querySelector(".risk");
  risk.textContent = `${a.risk} risk`;
  risk.classList.add(a.risk);
  card.querySelector(".meta").textContent = `asked by ${a.requester} · run ${a.run_id}`;
  card.querySelector(".reason").textContent = a.reason;
  card.querySelector(".role").textContent = a.required_role;
  card.querySelector(".deadline").textContent = a.deadline_at ? new Date(a.deadline_at).toLocaleString() : "none";
  card.querySelector(".rule").textContent = a.rule_id ? `${a.rule_id}@${a.policy_version ?? "?"}` : "-";
  card.querySelector(".args").value = JSON.stringify(a.args, null, 2);
  const allowed = canDecide();
  for (const button of card.querySelectorAll("button[data-action]")) {
    button.onclick = () => decide(card, a, button.dataset.action);
    if (!allowed) { button.disabled = true; button.title = `needs role ${a.required_role}; you are ${(state.info?.principal.roles || []).join(", ")}`; }
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
    const out = await api("POST", `/approvals/${enc(approval.approval_id)}/decision`, body);
    result.textContent = `${out.status} by ${out.decided_by}`;
    result.className = "result muted";
    setTimeout(refreshInbox, 500);
  } catch (err) {
    result.textContent = err.message;
    result.className = "result error-text";
    card.querySelectorAll("button").forEach((b) => { b.disabled = false; });
  }
}

// ---- layout ---------------------------------------------------------------------------------------
function showTab(which) {
  const json = which === "json";
  $("#composer").hidden = json;
  $("#send-form").hidden = !json;
  $("#tab-chat").setAttribute("aria-selected", String(!json));
  $("#tab-json").setAttribute("aria-selected", String(json));
}

function showRight(show) {
  document.body.classList.toggle("right-collapsed", !show);
  $("#toggle-right").setAttribute("aria-expanded", String(show));
  $("#toggle-right").textContent = show ? "Hide run panel" : "Show run panel";
}

function updateEmpty() { $("#empty").hidden = $("#messages").children.length > 0; }

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

$("#key-form").onsubmit = (e) => { e.preventDefault(); saveKey($("#key").value.trim()); start(); };
$("#composer").onsubmit = sendComposer;
$("#prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendComposer(); }
});
$("#send-form").onsubmit = sendJson;
$("#example").onclick = fillExample;
$("#tab-chat").onclick = () => showTab("chat");
$("#tab-json").onclick = () => showTab("json");
$("#toggle-right").onclick = () => showRight(document.body.classList.contains("right-collapsed"));
$("#record-close").onclick = closeRecord;
$("#cancel-run").onclick = cancelRun;
$("#retry-run").onclick = retryRun;
$("#thread-search").oninput = renderThreads;
$("#new-thread").onclick = () => {
  clearRun();
  state.thread = null;
  resetConversation();
  $("#thread-title").textContent = "New conversation";
  renderThreads();
  $("#prompt").focus();
};
$("#outbox-filter").onchange = refreshOutbox;
new MutationObserver(updateEmpty).observe($("#messages"), { childList: true });
updateEmpty();
setInterval(refreshInbox, 3000);
setInterval(() => { refreshOutbox(); refreshRunActions(); }, 3000);
start();
