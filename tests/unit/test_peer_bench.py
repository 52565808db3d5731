"""The peer benchmark's pure parts: what it counts as Steward's memory, which ratios it may print, and that its
answer checks accept what the race graphs really return and refuse what they don't (no servers started)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from agents.project import load_project
from bench import peer_bench as pb

PY = "/work/.venv/bin/python3.11"
CHILD = [PY, "-c", "from runtime.cli import main; main()"]


def test_steward_processes_are_named_from_their_command_lines() -> None:
    assert pb.classify_steward_process([PY, "-c", "...", "up", "--config", "x"], is_root=True) == "supervisor"
    assert pb.classify_steward_process([*CHILD, "worker"], is_root=False) == "worker"
    assert pb.classify_steward_process([*CHILD, "server"], is_root=False) == "api"
    assert pb.classify_steward_process([*CHILD, "model-server"], is_root=False) == "model_server"
    temporal = ["/x/.venv/bin/temporal", "server", "start-dev", "--port", "7233"]
    assert pb.classify_steward_process(temporal, is_root=False) == "temporal"
    assert pb.classify_steward_process(["/usr/bin/something"], is_root=False) == "other"
    assert pb.classify_steward_process([], is_root=False) == "other"


def test_steward_rss_leaves_temporal_and_the_model_server_apart() -> None:
    assert "temporal" not in pb.STEWARD_SERVER_PARTS and "model_server" not in pb.STEWARD_SERVER_PARTS
    samples = [
        {"supervisor": 100.0, "api": 200.0, "worker": 50.0, "temporal": 900.0},
        {"supervisor": 100.0, "api": 150.0, "worker": 250.0, "temporal": 100.0, "model_server": 400.0},
    ]
    # Summed within a sample, then the peak: 500 (second), not max per part (100 + 200 + 250 = 550).
    assert pb.peak_rss_mb(samples, pb.STEWARD_SERVER_PARTS) == 500.0
    assert pb.peak_rss_mb(samples, ("temporal",)) == 900.0
    assert pb.peak_rss_mb([], ("temporal",)) == 0.0


def test_no_ratio_without_a_peer_half_from_the_same_run() -> None:
    steward_only = {"steward_p50_ms": 100.0, "steward_runs_per_s_8": 30.0}
    assert pb.ratios({**steward_only, "peer_skipped": "no venv"}) is None
    assert pb.ratios(steward_only) is None
    both = {**steward_only, "peer_p50_ms": 1000.0, "peer_runs_per_s_8": 60.0, "peer_skipped": None}
    assert pb.ratios(both) == {"p50": 0.1, "runs_per_s_8": 0.5}


def test_summary_is_nearest_rank() -> None:
    assert pb.summary_ms([float(v) for v in range(1, 101)]) == {"p50": 51.0, "p95": 95.0}


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> Any:
    # load_project puts the project's folder on sys.path; keep that to this test.
    monkeypatch.setattr(sys, "path", list(sys.path))
    return load_project(pb.PROJECT)


def test_race_project_loads_in_steward_unannotated(project: Any) -> None:
    assert sorted(project.assistants) == ["ask", "three"]
    assert project.section.assistants == {}  # the user's defaults: no Steward section at all
    source = (pb.PROJECT.parent / "graph.py").read_text()
    imports = [ln for ln in source.splitlines() if ln.startswith(("import ", "from "))]
    assert not [ln for ln in imports if any(m in ln for m in ("runtime", "agents", "tools", "guards", "steward"))]
    assert "metadata=" not in source and "execute_in" not in source


async def test_checks_accept_what_the_race_graphs_return(project: Any) -> None:
    three = project.assistants["three"].build_graph().compile()
    values = await three.ainvoke({"text": "hello"})
    pb.check_three(values)

    ask = project.assistants["ask"].build_graph().compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "t1"}}
    stopped = await ask.ainvoke({"text": "x"}, config)
    pb.check_interrupted({**stopped, "__interrupt__": [{"value": i.value} for i in stopped["__interrupt__"]]})
    done = await ask.ainvoke(Command(resume="yes-1"), config)
    pb.check_resumed(done, "yes-1")


@pytest.mark.parametrize(
    ("check", "values"),
    [
        (pb.check_three, {"trail": ["first", "second"]}),
        (pb.check_three, {"trail": ["first", "second", "third", "third"]}),
        (pb.check_three, None),
        (pb.check_interrupted, {"trail": ["prepare"]}),
        (pb.check_interrupted, {"__interrupt__": [{"value": {"other": 1}}]}),
        (lambda v: pb.check_resumed(v, "yes-1"), {"answer": "yes-2", "trail": pb.ASK_TRAIL}),
        (lambda v: pb.check_resumed(v, "yes-1"), {"answer": "yes-1", "trail": ["prepare", "finish"]}),
    ],
)
def test_checks_refuse_a_wrong_answer(check: Any, values: Any) -> None:
    with pytest.raises(AssertionError):
        check(values)


def test_peer_requirements_pin_every_package() -> None:
    lines = [ln for ln in Path(pb.PEER_REQUIREMENTS).read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines and all("==" in ln for ln in lines)
    names = {ln.split("==")[0].lower() for ln in lines}
    assert {"langgraph-cli", "langgraph-api", "langgraph-runtime-inmem", "langgraph"} <= names
