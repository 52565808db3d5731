"""A project's ``guard_profile`` is applied to its runs: the project-level profile to every assistant, an
assistant's own declaration first; the API's intake and the worker's guard points read the same choice
(``guards.points.use_profiles``, set by ``agents.registry.use_project``). Real uvicorn on loopback."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agents.project import ProjectError

pytestmark = pytest.mark.timeout(120)

GRAPH = textwrap.dedent(
    """
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph


    class Note(TypedDict, total=False):
        note: str


    async def keep(state: Note) -> dict:
        return {}


    def build():
        g = StateGraph(Note)
        g.add_node("keep", keep)
        g.add_edge(START, "keep")
        g.add_edge("keep", END)
        return g
    """
)
STRICT = textwrap.dedent(
    """
    # Stricter than the default: an e-mail address in any input field refuses the run (default: masked).
    name: strict
    input:
      - {validator: pii, on_fail: exception, params: {kinds: [email]}}
    tool_args:
      - {validator: pii, on_fail: exception, params: {kinds: [email, iban]}}
    """
)
NOTE = {"note": "write to jane.doe@example.com about it"}


def write(folder: Path, steward: dict[str, object]) -> Path:
    (folder / "notes.py").write_text(GRAPH)
    (folder / "strict.yaml").write_text(STRICT)
    doc = {"graphs": {"strict_notes": "./notes.py:build", "plain_notes": "./notes.py:build"}, "steward": steward}
    (folder / "langgraph.json").write_text(json.dumps(doc))
    return folder / "langgraph.json"


@pytest.fixture
def strict_project(tmp_path: Path) -> Iterator[Path]:
    from agents.registry import use_project

    path = write(
        tmp_path,
        {"guard_profile": "strict.yaml", "assistants": {"plain_notes": {"guard_profile": "default"}}},
    )
    use_project(path)
    try:
        yield path
    finally:
        use_project()


async def test_a_project_declaring_a_stricter_profile_gets_it_at_intake(
    strict_project: Path, client, store, task_queue, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from runtime.settings import Settings
    from server.app import create_app
    from server.testing import serve_app

    app = create_app(Settings(home=tmp_path, task_queue=task_queue), store=store, client=client)
    key = store.create_api_key("olivia", "acme", ["operator"])[1]
    async with serve_app(app) as running, httpx.AsyncClient(base_url=running.base_url) as http:
        refused = await http.post(
            "/runs", json={"assistant_id": "strict_notes", "input": NOTE}, headers={"X-Api-Key": key}
        )
    assert refused.status_code == 422, refused.text
    assert "input.note" in refused.json()["detail"] and "pii" in refused.json()["detail"]


def test_an_assistants_own_profile_comes_before_the_projects_and_the_tool_point_uses_it(
    strict_project: Path,
) -> None:
    from guards.points import load_profile, run_point
    from runtime.runs import validate_input

    assert load_profile("strict_notes").name == "strict"
    assert load_profile("plain_notes").name == "default"
    masked = validate_input("plain_notes", NOTE)  # the default profile masks e-mail in free text
    assert "jane.doe@example.com" not in masked["note"]
    blocked = run_point("tool_args", {"to": "jane.doe@example.com"}, "strict_notes", tool="send")
    assert blocked.blocked is not None and blocked.blocked.validator == "pii"


def test_serving_another_project_drops_the_profiles_of_the_last(strict_project: Path) -> None:
    from agents.registry import use_project
    from guards.points import load_profile

    assert load_profile("strict_notes").name == "strict"
    use_project()  # the repo's project: no strict_notes, no declared profile
    assert load_profile("strict_notes").name == "default"


@pytest.mark.parametrize(
    ("steward", "key", "why"),
    [
        ({"guard_profile": "nope.yaml"}, "steward.guard_profile", "no profile file 'nope.yaml'"),
        (
            {"assistants": {"plain_notes": {"guard_profile": "missing"}}},
            "steward.assistants.plain_notes.guard_profile",
            "no built-in profile",
        ),
    ],
)
def test_an_unknown_profile_is_refused_at_load_naming_the_key(
    tmp_path: Path, steward: dict[str, object], key: str, why: str
) -> None:
    from agents.project import load_project

    with pytest.raises(ProjectError) as exc:
        load_project(write(tmp_path, steward))
    assert key in str(exc.value) and why in str(exc.value)


def test_a_profile_with_an_unknown_action_is_refused_at_load(tmp_path: Path) -> None:
    from agents.project import load_project

    path = write(tmp_path, {"guard_profile": "strict.yaml"})
    (tmp_path / "strict.yaml").write_text("input:\n  - {validator: pii, on_fail: shout}\n")
    with pytest.raises(ProjectError, match=r"steward.guard_profile: strict.yaml: input.pii: on_fail 'shout'"):
        load_project(path)
