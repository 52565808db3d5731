"""Assistants: the project file's agents, in the Agent Server's shape (search, count, get, schemas, graph,
subgraphs, versions). They are declared, not created: create/update answer with the declared assistant
when nothing new is asked and refuse new configuration by field name; delete is refused with 409."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fastapi import APIRouter

from agents.registry import AssistantSpec, get_assistant, list_assistants
from runtime.errors import Conflict, NotFound, UserError
from server.deps import OperatorDep, PrincipalDep
from server.schemas import (
    AssistantCount,
    AssistantCreate,
    AssistantLatest,
    AssistantPublic,
    AssistantSearch,
    AssistantUpdate,
    AssistantVersionPublic,
    AssistantVersionsSearch,
    GraphPublic,
    GraphSchemaPublic,
)

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
    """LangGraph's drawing of the compiled graph (``get_graph().to_json()``: nodes with ``id``/``type``/``data``,
    edges with ``conditional``), each node also saying where Steward runs it (activity or workflow)."""
    graph = _spec(assistant_id).build_graph()
    places = {name: (node.metadata or {}).get("execute_in") for name, node in graph.nodes.items()}
    drawn = graph.compile().get_graph().to_json()
    nodes = [{**n, "execute_in": places.get(n["id"])} for n in drawn["nodes"]]
    edges = [{**e, "conditional": bool(e.get("conditional"))} for e in drawn["edges"]]
    return {"nodes": nodes, "edges": edges}


@lru_cache(maxsize=32)
def _json_schemas(assistant_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(output, state) JSON schemas from the compiled graph, or None where LangGraph cannot derive one."""
    compiled = _spec(assistant_id).build_graph().compile()
    found: list[dict[str, Any] | None] = []
    for derive in (compiled.get_output_jsonschema, lambda: compiled.get_input_jsonschema()):
        try:
            found.append(derive())
        except Exception:  # noqa: BLE001 - a state type pydantic cannot describe has no schema, not an error
            found.append(None)
    return found[0], found[1]


def _refuse_changes(fields: dict[str, Any], what: str) -> None:
    given = sorted(k for k, v in fields.items() if v not in (None, {}, ""))
    if given:
        raise UserError(
            f"{given[0]}: assistants are declared in the project file (langgraph.json and its steward section); "
            f"{what} there and reload, not through the API"
        )


def _matching(graph_id: str | None, name: str | None, metadata: dict[str, Any] | None) -> list[AssistantSpec]:
    return [
        a
        for a in list_assistants()
        if (graph_id is None or a.name == graph_id)
        and (name is None or name.lower() in a.name.lower())
        and all(_public(a).metadata.get(k) == v for k, v in (metadata or {}).items())
    ]


@router.post("/search", response_model=list[AssistantPublic])
async def search_assistants(body: AssistantSearch, principal: PrincipalDep) -> list[AssistantPublic]:
    found = _matching(body.graph_id, body.name, body.metadata)
    if body.sort_order == "desc":
        found.reverse()
    return [_public(a) for a in found[body.offset : body.offset + body.limit]]


@router.post("", response_model=AssistantPublic)
async def create_assistant(body: AssistantCreate, principal: OperatorDep) -> AssistantPublic:
    """``assistants.create``: the graph's declared assistant, when that is all that is asked for.

    Each graph of the project file is one assistant (id = graph id). Creating one that names only the graph
    (and, optionally, its own id, name or description unchanged) returns it, as the Agent Server returns the
    existing assistant for ``if_exists='do_nothing'``; new configuration is refused by field name, because an
    assistant's behaviour is part of the reviewed project file."""
    graph_id = body.graph_id or body.assistant_id
    if graph_id is None:
        raise UserError("graph_id: required; known: " + str(sorted(a.name for a in list_assistants())))
    spec = _spec(graph_id)
    if body.assistant_id not in (None, spec.name):
        raise UserError(
            f"assistant_id: {body.assistant_id!r} is not declared; graph {spec.name!r} is assistant {spec.name!r}"
        )
    if body.if_exists == "raise":
        raise Conflict(f"assistant {spec.name!r} already exists (declared in the project file)")
    _refuse_changes({"config": body.config, "context": body.context, "metadata": body.metadata}, "declare it")
    for field, value, declared in (("name", body.name, spec.name), ("description", body.description, spec.description)):
        if value not in (None, declared):
            raise UserError(f"{field}: {value!r} differs from the declared {declared!r}; change it in the project file")
    return _public(spec)


@router.post("/count", response_model=int)
async def count_assistants(body: AssistantCount, principal: PrincipalDep) -> int:
    return len(_matching(body.graph_id, body.name, body.metadata))


@router.patch("/{assistant_id}", response_model=AssistantPublic)
async def update_assistant(assistant_id: str, body: AssistantUpdate, principal: OperatorDep) -> AssistantPublic:
    """An empty update returns the assistant; any change is refused by field name (see ``create``)."""
    spec = _spec(assistant_id)
    _refuse_changes(body.model_dump(), "change it")
    return _public(spec)


@router.delete("/{assistant_id}", status_code=204)
async def delete_assistant(assistant_id: str, principal: OperatorDep, delete_threads: bool = False) -> None:
    """Refused with 409: an assistant is removed from the project file, not through the API."""
    spec = _spec(assistant_id)
    raise Conflict(f"assistant {spec.name!r} is declared in the project file; remove it there and reload")


@router.post("/{assistant_id}/versions", response_model=list[AssistantVersionPublic])
async def get_assistant_versions(
    assistant_id: str, body: AssistantVersionsSearch, principal: PrincipalDep
) -> list[AssistantVersionPublic]:
    """One version: the declared one (its Steward version string is in ``metadata.steward_version``)."""
    a = _public(_spec(assistant_id))
    if any(a.metadata.get(k) != v for k, v in (body.metadata or {}).items()) or body.offset > 0:
        return []
    return [AssistantVersionPublic(**a.model_dump(exclude={"updated_at"}))]


@router.post("/{assistant_id}/latest", response_model=AssistantPublic)
async def set_latest_assistant_version(
    assistant_id: str, body: AssistantLatest, principal: OperatorDep
) -> AssistantPublic:
    spec = _spec(assistant_id)
    if body.version != 1:
        raise NotFound(f"version {body.version} of assistant {spec.name!r} not found; it has version 1")
    return _public(spec)


@router.get("/{assistant_id}/subgraphs", response_model=dict[str, GraphSchemaPublic])
async def get_assistant_subgraphs(assistant_id: str, principal: PrincipalDep, recurse: bool = False) -> dict[str, Any]:
    return _subgraphs(assistant_id, None, recurse)


@router.get("/{assistant_id}/subgraphs/{namespace}", response_model=dict[str, GraphSchemaPublic])
async def get_assistant_subgraphs_in(
    assistant_id: str, namespace: str, principal: PrincipalDep, recurse: bool = False
) -> dict[str, Any]:
    return _subgraphs(assistant_id, namespace, recurse)


def _subgraphs(assistant_id: str, namespace: str | None, recurse: bool) -> dict[str, Any]:
    """The compiled graph's subgraphs (``CompiledStateGraph.get_subgraphs``) with their schemas, by namespace."""
    compiled = _spec(assistant_id).build_graph().compile()
    out: dict[str, Any] = {}
    for ns, sub in compiled.get_subgraphs(namespace=namespace, recurse=recurse):
        schemas: list[dict[str, Any] | None] = []
        for derive in (sub.get_input_jsonschema, sub.get_output_jsonschema):
            try:
                schemas.append(derive())
            except Exception:  # noqa: BLE001 - no describable schema
                schemas.append(None)
        out[ns] = GraphSchemaPublic(
            graph_id=ns,
            input_schema=schemas[0],
            output_schema=schemas[1],
            state_schema=None,
            config_schema=None,
            context_schema=None,
        ).model_dump()
    return out


@router.get("/{assistant_id}", response_model=AssistantPublic)
async def get_assistant_route(assistant_id: str, principal: PrincipalDep) -> AssistantPublic:
    return _public(_spec(assistant_id))


@router.get("/{assistant_id}/schemas", response_model=GraphSchemaPublic)
async def get_schemas(assistant_id: str, principal: PrincipalDep) -> GraphSchemaPublic:
    """Input schema from the assistant's declared input model; output and state schemas as LangGraph derives
    them from the compiled graph (null where its state types have no JSON schema)."""
    spec = _spec(assistant_id)
    output_schema, state_schema = _json_schemas(assistant_id)
    context = {"type": "object", "properties": {k: {"type": "string"} for k in ("run_id", "thread_id", "tenant")}}
    return GraphSchemaPublic(
        graph_id=spec.name,
        input_schema=spec.input_schema,
        output_schema=output_schema,
        state_schema=state_schema,
        config_schema=None,
        context_schema=context,
    )


@router.get("/{assistant_id}/graph", response_model=GraphPublic)
async def get_graph(assistant_id: str, principal: PrincipalDep) -> GraphPublic:
    """Nodes (with where each runs: activity or workflow) and edges, for drawing the topology."""
    return GraphPublic(**_graph(assistant_id))
