"""Steward runs *your* LangGraph project: a ``langgraph.json`` in a folder outside the repo, graph files with no
Steward import, served durably through the HTTP API and the official SDK, surviving kill -9 of the worker, with
the graph's own ``interrupt()`` answered by ``Command(resume=...)``; and ``steward new`` scaffolds one that runs.
Real Temporal dev server, real uvicorn on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from guards.types import Principal
from runtime import runs
from tests.conftest import free_port, wait_for

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).parents[2]
STEWARD = [sys.executable, "-c", "from runtime.cli import main; main()"]
REQUESTER = Principal(id="olivia", roles=["operator"], tenant="acme")

GRAPHS = textwrap.dedent(
    '''
    """A user's graphs: plain LangGraph, no Steward import. Every node appends its name to the ledger file
    given in the input, so a test can count executions."""

    import asyncio
    from pathlib import Path
    from typing import Any, TypedDict

    from langchain_core.messages import AIMessage
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.types import interrupt


    class State(TypedDict, total=False):
        ledger: str
        sleep_s: float
        steps: list[str]
        answer: Any


    def _log(state: State, entry: str) -> list[str]:
        with open(state["ledger"], "a") as f:
            f.write(entry + "\\n")
        return Path(state["ledger"]).read_text().split()


    async def first(state: State) -> dict:
        _log(state, "first")
        return {"steps": ["first"]}


    async def second(state: State) -> dict:
        seen = _log(state, "second:start")
        if seen.count("second:start") == 1:
            await asyncio.sleep(state.get("sleep_s", 0))  # only the first attempt is slow
        _log(state, "second:end")
        return {"steps": [*state.get("steps", []), "second"]}


    async def third(state: State) -> dict:
        _log(state, "third")
        return {"steps": [*state.get("steps", []), "third"]}


    def build_plain() -> StateGraph:
        g = StateGraph(State)
        g.add_node("first", first)
        g.add_node("second", second)
        g.add_node("third", third)
        g.add_edge(START, "first")
        g.add_edge("first", "second")
        g.add_edge("second", "third")
        g.add_edge("third", END)
        return g


    async def ask(state: State) -> dict:
        _log(state, "ask")
        answer = interrupt({"question": "What should I use?", "choices": ["a", "b"]})
        _log(state, "asked")
        return {"answer": answer}


    asker = StateGraph(State)
    asker.add_node("first", first)
    asker.add_node("ask", ask)
    asker.add_edge(START, "first")
    asker.add_edge("first", "ask")
    asker.add_edge("ask", END)
    asker = asker.compile()


    async def reply(state: MessagesState) -> dict:
        last = state["messages"][-1]
        return {"messages": [AIMessage(content=f"echo: {last.content} ({len(state['messages'])} so far)")]}


    def build_chat():
        g = StateGraph(MessagesState)
        g.add_node("reply", reply)
        g.add_edge(START, "reply")
        g.add_edge("reply", END)
        return g.compile()
    '''
)


def write_project(folder: Path, node_timeout_s: float = 60.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "user_graphs.py").write_text(GRAPHS)
    doc = {
        "dependencies": ["."],
        "graphs": {
            "plain": "./user_graphs.py:build_plain",
            "asker": "./user_graphs.py:asker",
            "chat": "./user_graphs.py:build_chat",
        },
        "steward": {
            "assistants": {"plain": {"version": "1.2.3", "description": "three plain nodes"}},
            "node_timeout_s": node_timeout_s,
        },
    }
    (folder / "langgraph.json").write_text(json.dumps(doc))
    return folder / "langgraph.json"


def ledger(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A user project outside the repo, served in this process; the repo's project is restored after."""
    from agents.registry import use_project

    folder = tmp_path_factory.mktemp("user-project")
    assert not folder.resolve().is_relative_to(REPO)
    path = write_project(folder)
    assert not imported_packages(folder / "user_graphs.py") & STEWARD_PACKAGES
    use_project(path)
    yield path
    use_project()


@dataclass
class Served:
    url: str
    key: str
    store: Any


@pytest.fixture
async def served(project: Path, client, store, task_queue, tmp_path: Path) -> AsyncIterator[Served]:  # type: ignore[no-untyped-def]
    from agents.registry import list_assistants
    from guards.policy import load_policy_engine
    from runtime.settings import Settings
    from runtime.worker import build_worker
    from server.app import create_app
    from server.testing import serve_app

    async with build_worker(client, task_queue, store, load_policy_engine(), assistants=list_assistants()):
        app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
        async with serve_app(app) as running:
            yield Served(running.base_url, store.create_api_key("olivia", "acme", ["operator"])[1], store)


async def test_plain_graph_runs_durably_through_http_and_sdk(served: Served, tmp_path: Path) -> None:
    book = tmp_path / "http.ledger"
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Bearer {served.key}"}) as http:
        assistant = (await http.get("/assistants/plain")).json()
        assert assistant["graph_id"] == "plain"
        thread = (await http.post("/threads", json={})).json()
        r = await http.post(
            f"/threads/{thread['thread_id']}/runs/wait",
            json={"assistant_id": "plain", "input": {"ledger": str(book)}},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        assert r.json()["steps"] == ["first", "second", "third"]
        state = (await http.get(f"/threads/{thread['thread_id']}/state")).json()
        assert state["values"]["steps"] == ["first", "second", "third"]
        # Not a graph of ours: a 4xx naming the assistant, never a 500.
        r = await http.post("/runs/wait", json={"assistant_id": "nope", "input": {}})
        assert r.status_code == 404 and "nope" in r.json()["detail"]
    assert ledger(book) == ["first", "second:start", "second:end", "third"]
    run_id = served.store.list_runs(thread["thread_id"])[0]["run_id"]
    finished = [e["data"]["node"] for e in served.store.events_after(run_id) if e["type"] == "node_finished"]
    assert finished == ["first", "second", "third"], "plain nodes land in the event log like ours"

    sdk_book = tmp_path / "sdk.ledger"
    sdk = get_client(url=served.url, api_key=served.key)
    found = await sdk.assistants.search(graph_id="plain")
    assert [a["assistant_id"] for a in found] == ["plain"]
    sdk_thread = await sdk.threads.create()
    values = await sdk.runs.wait(sdk_thread["thread_id"], "plain", input={"ledger": str(sdk_book)})
    assert isinstance(values, dict) and values["steps"] == ["first", "second", "third"]
    assert ledger(sdk_book) == ["first", "second:start", "second:end", "third"]


async def test_user_interrupt_is_a_durable_question_answered_verbatim_through_the_sdk(
    served: Served, tmp_path: Path
) -> None:
    book = tmp_path / "ask.ledger"
    sdk = get_client(url=served.url, api_key=served.key)
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    run = await sdk.runs.create(tid, "asker", input={"ledger": str(book)})

    async def asking() -> Any:
        t = await sdk.threads.get(tid)
        return t if t["status"] == "interrupted" else None

    for _ in range(600):
        if await asking():
            break
        import asyncio

        await asyncio.sleep(0.05)
    state = await sdk.threads.get_state(tid)
    question = {"question": "What should I use?", "choices": ["a", "b"]}
    assert [i["value"] for i in state["interrupts"]] == [question]
    assert [i["value"] for t in state["tasks"] for i in t["interrupts"]] == [question]
    assert (await sdk.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    events = served.store.events_of_types(run["run_id"], ("interrupt",))
    assert [e["data"]["value"] for e in events] == [question]

    answer = {"pick": "b", "why": ["cheaper", 2], "note": None}
    values = await sdk.runs.wait(tid, "asker", command={"resume": answer})
    assert isinstance(values, dict) and values["answer"] == answer, values
    assert ledger(book) == ["first", "ask", "ask", "asked"], "the node re-runs to receive the value; first does not"
    assert (await sdk.threads.get(tid))["status"] == "idle"

    # Streamed, the run stops at its question as under LangGraph (values carry __interrupt__, the stream ends);
    # a map keyed by interrupt id delivers that entry to the node.
    book2 = tmp_path / "ask2.ledger"
    parts = [
        p async for p in sdk.runs.stream(tid, "asker", input={"ledger": str(book2)}, stream_mode=["values", "updates"])
    ]
    assert parts[-1].event == "end"
    last_values = [p.data for p in parts if p.event == "values"][-1]
    assert [i["value"] for i in last_values["__interrupt__"]] == [question]
    assert "first" in {k for p in parts if p.event == "updates" for k in p.data}
    iid = (await sdk.threads.get_state(tid))["interrupts"][0]["id"]
    assert iid == last_values["__interrupt__"][0]["id"]
    values = await sdk.runs.wait(tid, "asker", command={"resume": {iid: "just this"}})
    assert isinstance(values, dict) and values["answer"] == "just this"


async def test_messages_input_from_the_api(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Bearer {served.key}"}) as http:
        thread = (await http.post("/threads", json={})).json()
        url = f"/threads/{thread['thread_id']}/runs/wait"
        r = await http.post(
            url, json={"assistant_id": "chat", "input": {"messages": [{"role": "user", "content": "hi"}]}}, timeout=60
        )
        assert r.status_code == 200, r.text
        msgs = r.json()["messages"]
        assert [(m["type"], m["content"]) for m in msgs] == [("human", "hi"), ("ai", "echo: hi (1 so far)")]
        # LangChain message dicts too; the thread's messages carry over to the next run.
        r = await http.post(
            url,
            json={"assistant_id": "chat", "input": {"messages": [{"type": "human", "content": "again"}]}},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        assert [m["content"] for m in r.json()["messages"]][-2:] == ["again", "echo: again (3 so far)"]


def _spawn_worker(home: Path, address: str, task_queue: str, config: Path) -> subprocess.Popen[bytes]:
    log = open(home / f"worker-{uuid.uuid4().hex[:6]}.log", "wb")  # noqa: SIM115
    env = {
        **os.environ,
        "STEWARD_LLM_EMBEDDED_SERVER": "false",
        "STEWARD_SCORING_BOOTSTRAP": "false",
        "STEWARD_HOME": str(home),
        "STEWARD_TEMPORAL_ADDRESS": address,
        "STEWARD_TASK_QUEUE": task_queue,
        "STEWARD_CONFIG": str(config),
        "PYTHONPATH": str(REPO),
    }
    return subprocess.Popen(
        [*STEWARD, "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=home,
    )


async def test_worker_killed_mid_run_never_reruns_a_finished_node(client, temporal_server, tmp_path: Path) -> None:
    from agents.registry import use_project
    from runtime.store import Store

    config = write_project(tmp_path_factory_dir(tmp_path), node_timeout_s=4)
    use_project(config)
    store = Store(tmp_path / "steward.db")
    book = tmp_path / "crash.ledger"
    task_queue = f"crash-{uuid.uuid4()}"
    worker = _spawn_worker(tmp_path, temporal_server, task_queue, config)
    try:
        handle = await runs.start_run(
            client, store, task_queue, "plain", {"ledger": str(book), "sleep_s": 60}, REQUESTER
        )
        await wait_for(lambda: "second:start" in ledger(book), timeout=60)
        worker.kill()  # kill -9 while `second` runs; `first` has finished
        worker.wait()
        worker = _spawn_worker(tmp_path, temporal_server, task_queue, config)
        result = await handle.result()
    finally:
        worker.kill()
        worker.wait()
        use_project()
    assert result.status == "success" and result.state["steps"] == ["first", "second", "third"]
    assert ledger(book) == ["first", "second:start", "second:start", "second:end", "third"]
    # Steward's own node ledger says the same: the killed attempt started and never completed.
    rows = store.node_executions(handle.id)
    done = sorted(r["node"] for r in rows if r["status"] == "completed")
    assert done == ["first", "second", "third"], rows
    second = [(r["attempt"], r["status"]) for r in rows if r["node"] == "second"]
    assert second == [(1, "started"), (2, "started"), (2, "completed")], second


STEWARD_PACKAGES = {"agents", "runtime", "guards", "tools", "server", "evals", "steward"}


def imported_packages(file: Path) -> set[str]:
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def tmp_path_factory_dir(tmp_path: Path) -> Path:
    return tmp_path / "project"


async def test_steward_new_scaffolds_a_project_that_loads_runs_and_tests(
    client, store, task_queue, tmp_path: Path
) -> None:
    from agents.registry import get_assistant, list_assistants, use_project
    from guards.policy import load_policy_engine
    from runtime.cli import main
    from runtime.worker import build_worker

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(SystemExit) as done:
            main(["new", "demo"])
        assert done.value.code == 0
    finally:
        os.chdir(cwd)
    root = tmp_path / "demo"
    assert not imported_packages(root / "graph.py") & STEWARD_PACKAGES, "the scaffold's graph imports no Steward code"
    try:
        project = use_project(root / "langgraph.json")
        assert project.policy == (root / "policy.yaml").resolve()
        assert get_assistant("demo").version == "0.1.0"
        async with build_worker(
            client, task_queue, store, load_policy_engine(project.policy), assistants=list_assistants()
        ):
            handle = await runs.start_run(
                client, store, task_queue, "demo", {"request": "I want a refund for my invoice"}, REQUESTER
            )
            result = await handle.result()
        assert result.status == "success" and result.outcome == {"category": "billing", "reply": "Routed to billing."}
    finally:
        use_project()
    test = subprocess.run(  # noqa: ASYNC221 - the scaffold's own pytest, once, at the end of the test
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert "3 passed" in test.stdout
    # `steward eval run` with STEWARD_CONFIG evaluates the scaffold through the real runtime (its own dev server
    # and worker; the scaffold's graph needs no model).
    env = {
        **os.environ,
        "STEWARD_CONFIG": str(root / "langgraph.json"),
        "STEWARD_HOME": str(tmp_path / "eval-home"),
        "STEWARD_LLM_EMBEDDED_SERVER": "false",
        "STEWARD_SCORING_BOOTSTRAP": "false",
        "STEWARD_TEMPORAL_DEV_PORT": str(free_port()),
        "STEWARD_TEMPORAL_UI_PORT": str(free_port()),
        "PYTHONPATH": str(REPO),
    }
    suite = root / "evals" / "demo.jsonl"
    evaluated = subprocess.run(  # noqa: ASYNC221 - the CLI as a user runs it, once
        [*STEWARD, "eval", "run", str(suite), "--assistant", "demo", "--no-mlflow", "--no-model"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    assert "pass_rate              1.0000" in evaluated.stdout, evaluated.stdout
