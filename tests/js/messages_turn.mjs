// Two chat turns with messages input against a graph with MessagesState, as a chat front end sends them.
// Usage: node messages_turn.mjs URL KEY ASSISTANT_ID. Prints one JSON object; test_js_sdk.py checks it.
import { Client } from "@langchain/langgraph-sdk";

const [url, key, assistantId] = process.argv.slice(2);
const client = new Client({ apiUrl: url, apiKey: key });
const thread = await client.threads.create();
const turns = [];
for (const text of ["hi", "again"]) {
  const parts = [];
  for await (const part of client.runs.stream(thread.thread_id, assistantId, {
    input: { messages: [{ type: "human", content: text }] },
    streamMode: ["values", "messages-tuple"],
  })) {
    parts.push(part);
  }
  turns.push({
    events: parts.map((p) => p.event),
    last_values: parts.filter((p) => p.event === "values").at(-1)?.data ?? null,
  });
}
const state = await client.threads.getState(thread.thread_id);
const history = await client.threads.getHistory(thread.thread_id);
const runs = await client.runs.list(thread.thread_id);
process.stdout.write(JSON.stringify({ thread_id: thread.thread_id, turns, state, history, runs }));
