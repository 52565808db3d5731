"""Project files (``langgraph.json`` + Steward's section): what loads, and every broken entry refused with the
file, the key and why."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from agents.project import ProjectError, load_project
from agents.registry import DEFAULT_NODE_OPTIONS, check_graph, get_assistant, list_assistants, use_project

GRAPH = textwrap.dedent(
    """
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph


    class State(TypedDict, total=False):
        text: str
        steps: list[str]


    async def first(state: State) -> dict:
        return {"steps": ["first"]}


    async def second(state: State) -> dict:
        return {"steps": [*state.get("steps", []), "second"]}


    def build() -> StateGraph:
        g = StateGraph(State)
        g.add_node("first", first)
        g.add_node("second", second)
        g.add_edge(START, "first")
        g.add_edge("first", "second")
        g.add_edge("second", END)
        return g


    builder = build()
    graph = build().compile()
    not_a_graph = 42
    """
)


def _project(tmp_path: Path, doc: dict | str, graph: str = GRAPH, steward_yaml: str | None = None) -> Path:
    (tmp_path / "my_graph.py").write_text(graph)
    f = tmp_path / "langgraph.json"
    f.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    if steward_yaml is not None:
        (tmp_path / "steward.yaml").write_text(steward_yaml)
    return f


@pytest.mark.parametrize("attr", ["build", "builder", "graph"])
def test_every_graph_form_loads_and_gets_a_place_to_run(tmp_path: Path, attr: str) -> None:
    f = _project(tmp_path, {"graphs": {"plain": f"./my_graph.py:{attr}"}})
    project = load_project(f)
    a = project.assistants["plain"]
    g1, g2 = a.build_graph(), a.build_graph()
    assert g1 is not g2, "each consumer needs its own graph: the Temporal plugin mutates it"
    assert set(g1.nodes) == {"first", "second"}
    check_graph("plain", g1)
    for node in g1.nodes.values():
        assert node.metadata is not None and node.metadata["execute_in"] == DEFAULT_NODE_OPTIONS["execute_in"]
    assert a.input_schema.get("properties", {}).keys() >= {"text", "steps"}


def test_steward_section_declares_version_schema_and_subscriptions(tmp_path: Path) -> None:
    doc = {
        "graphs": {"plain": "./my_graph.py:build"},
        "env": {"MY_PROJECT_FLAG": "on"},
        "steward": {
            "assistants": {
                "plain": {
                    "version": "2.0.0",
                    "description": "two steps",
                    "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}},
                    "subscriptions": {"text.received": "text"},
                }
            }
        },
    }
    import os

    project = load_project(_project(tmp_path, doc))
    a = project.assistants["plain"]
    assert (a.declaration.version, a.declaration.description) == ("2.0.0", "two steps")
    assert a.input_schema["properties"] == {"text": {"type": "string"}}
    assert a.declaration.subscriptions == {"text.received": "text"}
    assert os.environ["MY_PROJECT_FLAG"] == "on"


def test_steward_yaml_beside_the_project_file_is_read(tmp_path: Path) -> None:
    f = _project(
        tmp_path,
        {"graphs": {"plain": "./my_graph.py:build"}},
        steward_yaml="assistants:\n  plain:\n    version: '3.1'\n",
    )
    assert load_project(f).assistants["plain"].declaration.version == "3.1"


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    f = _project(tmp_path, '{\n  "graphs": {"plain": "./my_graph.py:build",}\n}')
    with pytest.raises(ProjectError) as info:
        load_project(f)
    assert str(f) in str(info.value) and "line 2" in str(info.value) and "JSON syntax error" in str(info.value)


def test_graph_path_that_does_not_import_is_refused(tmp_path: Path) -> None:
    f = _project(tmp_path, {"graphs": {"plain": "./my_graph.py:build"}}, graph="import no_such_module_xyz\n")
    with pytest.raises(ProjectError) as info:
        load_project(f)
    msg = str(info.value)
    assert str(f) in msg and "graphs.plain" in msg and "no_such_module_xyz" in msg


def test_missing_graph_file_is_refused(tmp_path: Path) -> None:
    f = _project(tmp_path, {"graphs": {"plain": "./nowhere.py:build"}})
    with pytest.raises(ProjectError, match=r"graphs\.plain: file './nowhere.py' does not exist"):
        load_project(f)


def test_attribute_that_is_not_a_graph_is_refused(tmp_path: Path) -> None:
    f = _project(tmp_path, {"graphs": {"plain": "./my_graph.py:not_a_graph"}})
    with pytest.raises(ProjectError) as info:
        load_project(f)
    msg = str(info.value)
    assert str(f) in msg and "graphs.plain" in msg and "is a int, not a graph" in msg


def test_missing_attribute_names_what_the_module_defines(tmp_path: Path) -> None:
    f = _project(tmp_path, {"graphs": {"plain": "./my_graph.py:grpah"}})
    with pytest.raises(ProjectError, match=r"graphs\.plain: .*has no attribute 'grpah'.*'graph'"):
        load_project(f)


def test_duplicate_assistant_name_is_refused(tmp_path: Path) -> None:
    raw = '{"graphs": {"plain": "./my_graph.py:build", "plain": "./my_graph.py:graph"}}'
    f = _project(tmp_path, raw)
    with pytest.raises(ProjectError) as info:
        load_project(f)
    msg = str(info.value)
    assert str(f) in msg and "graphs.plain" in msg and "duplicate assistant name" in msg


def test_declaration_without_a_graph_and_unknown_keys_are_refused(tmp_path: Path) -> None:
    f = _project(tmp_path, {"graphs": {"plain": "./my_graph.py:build"}, "steward": {"assistants": {"other": {}}}})
    with pytest.raises(ProjectError, match=r"steward\.assistants\.other: no graph named 'other'"):
        load_project(f)
    f = _project(tmp_path, {"graphs": {"plain": "./my_graph.py:build"}, "steward": {"polcy": "x.yaml"}})
    with pytest.raises(ProjectError, match=r"steward\.polcy: Extra inputs are not permitted"):
        load_project(f)


def test_unknown_tool_and_missing_policy_are_refused(tmp_path: Path) -> None:
    f = _project(
        tmp_path, {"graphs": {"plain": "./my_graph.py:build"}, "steward": {"tools": {"nope": {"risk": "low"}}}}
    )
    with pytest.raises(ProjectError, match=r"steward\.tools\.nope: unknown tool"):
        load_project(f)
    f = _project(tmp_path, {"graphs": {"plain": "./my_graph.py:build"}, "steward": {"policy": "./missing.yaml"}})
    with pytest.raises(ProjectError, match=r"steward\.policy: file './missing.yaml' does not exist"):
        load_project(f)


def test_node_with_an_unknown_place_to_run_is_refused(tmp_path: Path) -> None:
    graph = GRAPH.replace('g.add_node("first", first)', 'g.add_node("first", first, metadata={"execute_in": "gpu"})')
    f = _project(tmp_path, {"graphs": {"plain": "./my_graph.py:build"}}, graph=graph)
    with pytest.raises(ProjectError, match=r"graphs\.plain: .*node 'first' has execute_in='gpu'"):
        use_project(f)


def test_failed_reload_keeps_the_last_good_configuration(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    try:
        use_project(_project(good, {"graphs": {"plain": "./my_graph.py:build"}}))
        assert [a.name for a in list_assistants()] == ["plain"]
        with pytest.raises(ProjectError):
            use_project(_project(bad, {"graphs": {"plain": "./my_graph.py:not_a_graph"}}))
        assert get_assistant("plain").build_graph().nodes.keys() == {"first", "second"}
    finally:
        use_project()


def test_repo_project_declares_the_reference_agents() -> None:
    """Declared, not found by reflection: input models, prompt modules and cards come from langgraph.json."""
    use_project()
    names = {a.name for a in list_assistants()}
    assert {"loan_triage", "kyc_review", "claims"} <= names
    loan = get_assistant("loan_triage")
    assert loan.input_model is not None and loan.input_model.__name__ == "LoanTriageInput"
    assert loan.prompts_module == "agents.loan_triage.prompts"
    assert loan.subscriptions == {"loan.application.received": "application"}
    assert "application" in loan.input_schema["properties"]


def test_cli_serves_steward_config_and_refuses_a_broken_project_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runtime.cli import main

    good = _project(tmp_path, {"graphs": {"plain": "./my_graph.py:build"}})
    bad = tmp_path / "bad"
    bad.mkdir()
    broken = _project(bad, {"graphs": {"plain": "./my_graph.py:not_a_graph"}})
    monkeypatch.setenv("STEWARD_CONFIG", str(good))
    try:
        with pytest.raises(SystemExit) as done:
            main(["assistants"])
        assert done.value.code == 0
        assert "plain" in capsys.readouterr().out
        with pytest.raises(SystemExit) as done:
            main(["up", "--config", str(broken)])
        assert done.value.code == 2
        err = capsys.readouterr().err
        assert str(broken) in err and "graphs.plain" in err and "not a graph" in err
    finally:
        use_project()
