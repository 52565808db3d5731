// The calls a chat front end (Agent Chat UI, useStream) makes with @langchain/langgraph-sdk, against a live
// Steward API. Usage: node chat_frontend.mjs URL OPERATOR_KEY APPROVER_KEY INPUT_JSON
// Prints one JSON object with what each call returned; tests/integration/test_js_sdk.py checks it.
import { Client } from "@langchain/langgraph-sdk";

const [url, operatorKey, approverKey, inputJson] = process.argv.slice(2);
const input = JSON.parse(inputJson);
const operator = new Client({ apiUrl: url, apiKey: operatorKey });
const approver = new Client({ apiUrl: url, apiKey: approverKey });
const report = {};

const thread = await operator.threads.create();
report.thread = thread;

// First turn: values + message tokens, as a chat UI streams them (defaults otherwise).
const first = [];
for await (const part of operator.runs.stream(thread.thread_id, "loan_triage", {
  input,
  streamMode: ["values", "messages-tuple"],
})) {
  first.push(part);
}
report.first_events = first.map((p) => p.event);
report.run_id = first.find((p) => p.event === "metadata")?.data?.run_id;
report.tokens = first
  .filter((p) => p.event === "messages")
  .map((p) => p.data[0].content)
  .join("");
const lastValues = first.filter((p) => p.event === "values").at(-1)?.data ?? {};
report.streamed_interrupts = lastValues.__interrupt__ ?? [];

report.state = await operator.threads.getState(thread.thread_id);
report.history = await operator.threads.getHistory(thread.thread_id);
report.runs = await operator.runs.list(thread.thread_id);

// Rejoin the run's stream with no options (what a reloaded page does).
const rejoined = [];
for await (const part of operator.runs.joinStream(thread.thread_id, report.run_id)) {
  rejoined.push(part.event);
}
report.rejoined_events = rejoined;

// The same run joined by its id alone (GET /runs/{run_id}/stream), as a page that kept only the run id does.
const byRunId = [];
for await (const part of operator.runs.joinStream(null, report.run_id)) {
  byRunId.push(part.event);
}
report.rejoined_by_run_id_events = byRunId;

// Resume every interrupt with Agent Inbox's HumanResponse, keyed by interrupt id.
const resume = Object.fromEntries(report.state.interrupts.map((i) => [i.id, { type: "accept", args: null }]));
const resumed = [];
for await (const part of approver.runs.stream(thread.thread_id, "loan_triage", { command: { resume } })) {
  resumed.push(part);
}
report.resumed_events = resumed.map((p) => p.event);
report.final_values = resumed.filter((p) => p.event === "values").at(-1)?.data ?? null;
report.final_state = await operator.threads.getState(thread.thread_id);
report.final_history = await operator.threads.getHistory(thread.thread_id);

// Patch the latest checkpoint's metadata (PATCH /threads/{id}/state): Steward's one checkpoint is the thread's.
report.patched = (await operator.threads.patchState(thread.thread_id, { reviewed: "yes" })) ?? null;
report.patched_thread = await operator.threads.get(thread.thread_id);

process.stdout.write(JSON.stringify(report));
