"""Assistants: the registry's agents, in the Agent Server's shape (search, get, schemas, graph)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fastapi import APIRouter

from agents.registry import AssistantSpec, get_assistant, list_assistants
from runtime.errors import NotFound
from server.deps import PrincipalDep
from server.schemas import AssistantPublic, AssistantSearch, GraphPublic, GraphSchemaPublic

router = APIRouter(prefix="/assistants", tags=["assistants"])
_LOADED_AT = datetime.now(UTC)


def _spec(assistant_id: str) -> AssistantSpec:
    try:
        return get_assistant(assistant_id)
    except KeyError as exc:
        raise NotFound(str(exc).strip("'\"")) from None


def _public(spec: AssistantSpec) -> AssistantPublic:
    # The registry is code, so an assistant's "created" time is when this process loaded it.
    return AssistantPublic(
        assistant_id=spec.name,
        graph_id=spec.name,
        name=spec.name,
        description=spec.description,
        version=1,
        metadata={"steward_version": spec.version},
        created_at=_LOADED_AT,
        updated_at=_LOADED_AT,
    )


@lru_cache(maxsize=32)
def _graph(assistant_id: str) -> dict[str, Any]:
    graph = _spec(assistant_id).build_graph()
    nodes = [{"id": name, "execute_in": (node.metadata or {}).get("execute_in")} for name, node in graph.nodes.items()]
    drawn = graph.compile().get_graph().to_json()
    edges = [
        {"source": e["source"], "target": e["target"], "conditional": bool(e.get("conditional"))}
        for e in drawn["edges"]
    ]
    return {"nodes": nodes, "edges": edges}


@router.post("/search", response_model=list[AssistantPublic])
async def search_assistants(body: AssistantSearch, principal: PrincipalDep) -> list[AssistantPublic]:
    found = [
        a
        for a in list_assistants()
        if (body.graph_id is None or a.name == body.graph_id)
        and (body.name is None or body.name.lower() in a.name.lower())
        and all(_public(a).metadata.get(k) == v for k, v in (body.metadata or {}).items())
    ]
    if body.sort_order == "desc":
        found.reverse()
    return [_public(a) for a in found[body.offset : body.offset + body.limit]]


@router.get("/{assistant_id}", response_model=AssistantPublic)
async def get_assistant_route(assistant_id: str, principal: PrincipalDep) -> AssistantPublic:
    return _public(_spec(assistant_id))


@router.get("/{assistant_id}/schemas", response_model=GraphSchemaPublic)
async def get_schemas(assistant_id: str, principal: PrincipalDep) -> GraphSchemaPublic:
    """Input schema from the assistant's pydantic input model; the state is a TypedDict with reducers, which
    has no faithful JSON schema on Python 3.11, so ``state_schema`` is null."""
    spec = _spec(assistant_id)
    context = {"type": "object", "properties": {k: {"type": "string"} for k in ("run_id", "thread_id", "tenant")}}
    return GraphSchemaPublic(
        graph_id=spec.name,
        input_schema=spec.input_schema,
        output_schema=None,
        state_schema=None,
        config_schema=None,
        context_schema=context,
    )


@router.get("/{assistant_id}/graph", response_model=GraphPublic)
async def get_graph(assistant_id: str, principal: PrincipalDep) -> GraphPublic:
    """Nodes (with where each runs: activity or workflow) and edges, for drawing the topology."""
    return GraphPublic(**_graph(assistant_id))
