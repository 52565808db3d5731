"""A project file: which graphs Steward serves, declared the way ``langgraph dev`` reads them, plus Steward's section.

Format (``langgraph.json``; the Steward section may instead live in ``steward.yaml`` beside it)::

    {
      "dependencies": ["."],                      # local paths put on sys.path (installed packages: just import)
      "graphs": {"triage": "./src/graph.py:graph", "other": "my_pkg.graphs:build"},
      "env": {"KEY": "value"} | "./.env",         # applied to os.environ at load
      "steward": {
        "assistants": {"triage": {"version": "1.0.0", "description": "...", "input_schema": {...} | "mod:Model",
                                  "card": "cards/triage.yaml", "prompts": "my_pkg.prompts",
                                  "subscriptions": {"order.created": "order"}}},
        "tools": {"lookup": {"risk": "low", "side_effect": false, "owner": "team", "version": "1"}},
        "policy": "./policy.yaml",
        "guard_profile": "default"
      }
    }

A graph entry is ``PATH.py:ATTR`` or ``dotted.module:ATTR``; ATTR is a compiled graph, a ``StateGraph``, or a
function (no arguments) returning either. Everything is checked when the file loads, so a broken entry stops
Steward at start (or leaves a running one on its last good configuration) instead of failing a run later: every
problem is one ``ProjectError`` naming the file, the key and why.

Why a graph is rebuilt per consumer: the Temporal plugin mutates the nodes of the graph it is given, so each
worker, replayer and check gets its own ``StateGraph`` (a fresh call of the user's function, or a deep copy of a
module-level graph).
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROJECT_FILE = "langgraph.json"
STEWARD_FILE = "steward.yaml"
REPO_PROJECT = Path(__file__).resolve().parent.parent / PROJECT_FILE
"""The repo's own project file: it declares the reference agents exactly as a user declares theirs."""


class ProjectError(ValueError):
    """A project file Steward cannot serve. The message names the file, the key and why."""

    def __init__(self, file: Path | str, key: str, why: str) -> None:
        self.file, self.key, self.why = str(file), key, why
        super().__init__(f"{file}: {key}: {why}")


# -- the Steward section -----------------------------------------------------------------------------------
class ToolDeclaration(BaseModel):
    """Risk and ownership of a tool, for tools whose own metadata doesn't say (langchain ``@tool``s)."""

    model_config = ConfigDict(extra="forbid")
    risk: Literal["low", "medium", "high"]
    side_effect: bool = False
    owner: str = "unknown"
    version: str = "0"
    timeout_s: float | None = None
    """Start-to-close timeout of the tool's activity (unset: the tool's own or 30 s)."""
    depends_on: list[str] | None = None
    """The decision tools this action presupposes (a customer notice after the refund): it runs only after that
    decision executed as proposed, and is dropped when it was rejected or edited (issue 16 item 1)."""


class AssistantDeclaration(BaseModel):
    """What Steward needs about an assistant beyond its graph. Nothing here is found by reflection."""

    model_config = ConfigDict(extra="forbid")
    version: str = "0"
    description: str = ""
    input_schema: dict[str, Any] | str | None = None
    """A JSON schema, or ``module:Model`` naming a pydantic model (then inputs are validated with it); unset:
    derived from the graph's input schema (shown to clients, not enforced)."""
    card: str | None = None
    """Model card file (relative to the project file)."""
    guard_profile: str | None = None
    """This assistant's guard profile (a YAML file relative to the project file, or a built-in name in
    ``guards/profiles/``); unset: the project's ``guard_profile``, else the built-in choice."""
    prompts: str | None = None
    """Module holding the assistant's prompts (upper-case string constants; ``*_VERSION`` is their version)."""
    subscriptions: dict[str, str] = Field(default_factory=dict)
    """Domain event type -> the input field the event's data goes into (``POST /events``)."""


class StewardSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assistants: dict[str, AssistantDeclaration] = Field(default_factory=dict)
    tools: dict[str, ToolDeclaration] = Field(default_factory=dict)
    policy: str | None = None
    guard_profile: str | None = None
    node_timeout_s: float = Field(default=60.0, gt=0, le=86_400)
    """Start-to-close timeout of a node that sets none. Nodes don't heartbeat, so this is also how long a node
    whose worker died waits before it is retried elsewhere: short for quick nodes, long for slow ones."""
    inline_pure_nodes: bool = True
    """Run a node without ``execute_in`` in the workflow when its code provably reads only its state
    (``agents.placement``); false keeps every such node an activity."""


class ProjectFile(BaseModel):
    """The ``langgraph.json`` keys Steward reads; other keys ``langgraph dev`` knows are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    graphs: dict[str, str]
    dependencies: list[str] = Field(default_factory=list)
    env: dict[str, str] | str | None = None
    steward: StewardSection | None = None


# -- the loaded project ----------------------------------------------------------------------------------------
GraphBuilder = Callable[[], Any]


@dataclass(frozen=True)
class LoadedAssistant:
    """One graph of the project with its declaration, checked."""

    name: str
    graph_ref: str
    build_graph: GraphBuilder
    """Returns a fresh ``StateGraph`` on every call."""
    declaration: AssistantDeclaration
    input_schema: dict[str, Any]
    input_model: type[BaseModel] | None
    prompts_module: str | None
    card: Path | None
    module: str = ""
    """The module the graph entry names."""
    modules: tuple[str, ...] = ()
    """Top-level modules the graph's code lives in (the worker passes them through its sandbox)."""


@dataclass(frozen=True)
class Project:
    path: Path
    assistants: dict[str, LoadedAssistant]
    tools: dict[str, ToolDeclaration] = field(default_factory=dict)
    policy: Path | None = None
    guard_profile: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    dependencies: tuple[Path, ...] = ()
    section: StewardSection = field(default_factory=lambda: StewardSection())
    """Steward's section as declared (what the runtime applies to every graph)."""


def load_project(path: Path | str, check: Callable[[str, Any, StewardSection], None] | None = None) -> Project:
    """Read, import and check a project file; raises ``ProjectError`` on the first broken entry.

    Args:
        path: the ``langgraph.json`` (or a folder holding one).
        check: called with (assistant name, fresh StateGraph, Steward section) for each graph; the registry
            passes its preparation (ToolNode guarding, node placement) so a graph the runtime would refuse is
            refused here, at load.
    """
    file = Path(path).expanduser().resolve()
    if file.is_dir():
        file = file / PROJECT_FILE
    if not file.is_file():
        raise ProjectError(file, "<file>", "no such file")
    root = file.parent
    doc = _read_json(file)
    raw_steward = doc.get("steward")
    beside = root / STEWARD_FILE
    if beside.is_file():
        if raw_steward is not None:
            raise ProjectError(beside, "<file>", f"Steward's section is also under 'steward' in {file.name}; keep one")
        raw_steward = _read_yaml(beside)
        doc = {**doc, "steward": raw_steward}
    steward_file = beside if beside.is_file() else file
    try:
        pf = ProjectFile.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        where = steward_file if key.startswith("steward") and beside.is_file() else file
        raise ProjectError(where, key, err["msg"]) from None
    section = pf.steward or StewardSection()
    for name in section.assistants:
        if name not in pf.graphs:
            raise ProjectError(
                steward_file, f"steward.assistants.{name}", f"no graph named {name!r}; graphs: {sorted(pf.graphs)}"
            )

    deps = tuple(_dependency(file, i, d) for i, d in enumerate(pf.dependencies))
    for d in (root, *deps):
        if str(d) not in sys.path:
            sys.path.insert(0, str(d))
    env = _env(file, pf.env)
    os.environ.update(env)

    assistants: dict[str, LoadedAssistant] = {}
    for name, ref in pf.graphs.items():
        decl = section.assistants.get(name, AssistantDeclaration())
        assistants[name] = _load_assistant(file, steward_file, root, name, ref, decl, check, section)
    _check_tools(steward_file, section.tools, assistants)
    policy = _relative_file(steward_file, root, "steward.policy", section.policy) if section.policy else None
    if section.guard_profile is not None:
        _check_guard_profile(steward_file, root, section.guard_profile, "steward.guard_profile")
    for name, decl in section.assistants.items():
        if decl.guard_profile is not None:
            _check_guard_profile(steward_file, root, decl.guard_profile, f"steward.assistants.{name}.guard_profile")
    return Project(file, assistants, dict(section.tools), policy, section.guard_profile, env, deps, section)


def _read_json(file: Path) -> dict[str, Any]:
    """Parse, refusing duplicate keys: JSON parsers keep the last silently, and two graphs under one name
    would quietly serve only one of them."""
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                duplicates.append(k)
            out[k] = v
        return out

    try:
        doc = json.loads(file.read_text(), object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise ProjectError(file, f"line {exc.lineno} column {exc.colno}", f"JSON syntax error: {exc.msg}") from None
    if not isinstance(doc, dict):
        raise ProjectError(file, "<root>", f"expected an object, got {type(doc).__name__}")
    for k in duplicates:
        graphs = doc.get("graphs")
        if isinstance(graphs, dict) and k in graphs:
            raise ProjectError(file, f"graphs.{k}", f"duplicate assistant name {k!r}: each graph needs its own name")
        raise ProjectError(file, k, f"duplicate key {k!r}")
    return doc


def _read_yaml(file: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<file>"
        raise ProjectError(file, where, f"YAML syntax error: {getattr(exc, 'problem', exc)}") from None


def _dependency(file: Path, i: int, dep: str) -> Path:
    """A local path goes on sys.path. A package name must already be installed: Steward installs nothing."""
    if dep.startswith((".", "/", "~")):
        p = (file.parent / dep).expanduser().resolve()
        if not p.exists():
            raise ProjectError(file, f"dependencies[{i}]", f"path {dep!r} does not exist")
        return p
    if importlib.util.find_spec(dep.split("[")[0].replace("-", "_")) is None:
        raise ProjectError(file, f"dependencies[{i}]", f"package {dep!r} is not installed (Steward installs nothing)")
    return file.parent


def _env(file: Path, env: dict[str, str] | str | None) -> dict[str, str]:
    if env is None:
        return {}
    if isinstance(env, dict):
        return dict(env)
    p = (file.parent / env).resolve()
    if not p.is_file():
        raise ProjectError(file, "env", f"env file {env!r} does not exist")
    out: dict[str, str] = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip():
            raise ProjectError(p, f"line {n}", "expected KEY=VALUE")
        out[key.strip()] = value.strip().strip("'\"")
    return out


def _relative_file(file: Path, root: Path, key: str, value: str) -> Path:
    p = (root / value).expanduser().resolve()
    if not p.is_file():
        raise ProjectError(file, key, f"file {value!r} does not exist (relative to {root})")
    return p


def _check_guard_profile(file: Path, root: Path, value: str, key: str) -> None:
    from guards.points import ACTIONS, POINTS, PROFILES_DIR, GuardProfile, profile_file

    path = profile_file(value, root)
    if path is None:
        known = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ProjectError(file, key, f"no profile file {value!r} and no built-in profile; known: {known}")
    try:
        profile = GuardProfile.model_validate(_read_yaml(path) or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ProjectError(file, key, f"{path.name}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    for point in POINTS:
        for cfg in getattr(profile, point):
            if cfg.on_fail not in ACTIONS:
                why = f"{path.name}: {point}.{cfg.validator}: on_fail {cfg.on_fail!r}; known: {list(ACTIONS)}"
                raise ProjectError(file, key, why)


def guard_profiles(project: Project) -> dict[str, Path]:
    """Assistant -> the profile file it runs with, for those whose project declares one (its own first)."""
    from guards.points import profile_file

    root = project.path.parent
    out: dict[str, Path] = {}
    for name in project.assistants:
        declared = project.assistants[name].declaration.guard_profile or project.guard_profile
        path = profile_file(declared, root) if declared else None
        if path is not None:
            out[name] = path
    return out


# -- graphs ------------------------------------------------------------------------------------------------
def _import(file: Path, key: str, target: str) -> tuple[Any, str]:
    """Import ``./path.py`` or ``dotted.module``; returns (module, its name)."""
    if target.endswith(".py") or target.startswith((".", "/")):
        path = (file.parent / target).resolve()
        if not path.is_file():
            raise ProjectError(file, key, f"file {target!r} does not exist (relative to {file.parent})")
        name = _module_name_for(path)
        if name is None:
            # Not under any sys.path entry: a private module name, unique per file.
            name = f"steward_project_{abs(hash(str(path))):x}.{path.stem}"
            if name not in sys.modules:
                spec = importlib.util.spec_from_file_location(name, path)
                assert spec is not None and spec.loader is not None
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException as exc:  # noqa: BLE001 - any failure of user code is a bad entry
                    sys.modules.pop(name, None)
                    raise ProjectError(file, key, f"importing {target!r} failed: {type(exc).__name__}: {exc}") from None
            return sys.modules[name], name
    else:
        name = target
    try:
        return importlib.import_module(name), name
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is a bad entry
        raise ProjectError(file, key, f"importing {target!r} failed: {type(exc).__name__}: {exc}") from None


def _module_name_for(path: Path) -> str | None:
    """The dotted name ``path`` imports as from a sys.path entry through real packages, so a file is never
    loaded twice under two names (the reference agents are both ``./agents/x/graph.py`` and
    ``agents.x.graph``). A loose file (no package around it) gets None: a bare name like ``graph`` would
    collide between two projects in one process."""
    for entry in sys.path:
        try:
            base = Path(entry or ".").resolve()
            rel = path.relative_to(base)
        except (ValueError, OSError):
            continue
        parts = [*rel.parts[:-1], path.stem]
        dirs = [base.joinpath(*rel.parts[: i + 1]) for i in range(len(rel.parts) - 1)]
        if (
            len(parts) >= 2
            and all(p.isidentifier() for p in parts)
            and all((d / "__init__.py").is_file() for d in dirs)
        ):
            return ".".join(parts)
    return None


def _as_builder(obj: Any) -> Any | None:
    """A ``StateGraph`` for a compiled graph or a builder; None for anything else."""
    from langgraph.graph import StateGraph
    from langgraph.graph.state import CompiledStateGraph

    if isinstance(obj, StateGraph):
        return obj
    if isinstance(obj, CompiledStateGraph):
        return obj.builder
    return None


def graph_builder(file: Path, key: str, ref: str) -> tuple[GraphBuilder, str]:
    """Resolve ``target:attr`` to a function returning a fresh ``StateGraph``; the module name comes with it."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise ProjectError(file, key, f"expected './path.py:attr' or 'module:attr', got {ref!r}")
    module, mod_name = _import(file, key, target)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = sorted(n for n in vars(module) if not n.startswith("_"))
            raise ProjectError(file, key, f"{target!r} has no attribute {attr!r}; it defines {names}")
        obj = getattr(obj, part)
    fixed = _as_builder(obj)
    if fixed is not None:
        # A module-level graph: copy it per consumer (the plugin mutates what it is given).
        return (lambda: copy.deepcopy(fixed)), mod_name
    if not callable(obj) or isinstance(obj, type):
        raise ProjectError(
            file,
            key,
            f"{ref!r} is a {type(obj).__name__}, not a graph: expected a compiled graph, a StateGraph, "
            "or a function returning one",
        )
    fn: Callable[[], Any] = obj

    def build() -> Any:
        made = fn()
        builder = _as_builder(made)
        if builder is None:
            raise ProjectError(
                file, key, f"{ref!r} returned a {type(made).__name__}, not a graph (a compiled graph or a StateGraph)"
            )
        return builder

    return build, mod_name


def _resolve_model(file: Path, key: str, ref: str) -> type[BaseModel]:
    target, sep, attr = ref.rpartition(":")
    if not sep:
        raise ProjectError(file, key, f"expected 'module:Model' or a JSON schema object, got {ref!r}")
    module, _ = _import(file, key, target)
    model = getattr(module, attr, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ProjectError(file, key, f"{ref!r} is not a pydantic model")
    return model


def _derived_schema(builder: Any) -> dict[str, Any]:
    """The graph's own input schema, as ``langgraph dev`` shows it (best effort: some state types have none)."""
    try:
        schema: dict[str, Any] = builder.compile().get_input_jsonschema()
        return schema
    except Exception:  # noqa: BLE001 - e.g. typing.TypedDict on 3.11, which pydantic refuses: per field below
        pass
    import typing

    from pydantic import TypeAdapter

    try:
        hints = typing.get_type_hints(builder.input_schema)
    except Exception:  # noqa: BLE001 - a state type without hints still runs; it just shows no fields
        return {"type": "object"}
    props: dict[str, Any] = {}
    for key, hint in hints.items():
        try:
            props[key] = TypeAdapter(hint).json_schema()
        except Exception:  # noqa: BLE001 - a field type without a JSON schema is shown as "anything"
            props[key] = {}
    return {"type": "object", "title": getattr(builder.input_schema, "__name__", "Input"), "properties": props}


def _load_assistant(
    file: Path,
    steward_file: Path,
    root: Path,
    name: str,
    ref: str,
    decl: AssistantDeclaration,
    check: Callable[[str, Any, StewardSection], None] | None,
    section: StewardSection,
) -> LoadedAssistant:
    key = f"graphs.{name}"
    build, mod_name = graph_builder(file, key, ref)
    try:
        builder = build()
    except ProjectError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's builder failing is a bad entry
        raise ProjectError(file, key, f"building the graph failed: {type(exc).__name__}: {exc}") from None
    if check is not None:
        try:
            check(name, builder, section)
        except ProjectError:
            raise
        except ValueError as exc:
            raise ProjectError(file, key, str(exc)) from None
    dkey = f"steward.assistants.{name}"
    model: type[BaseModel] | None = None
    if isinstance(decl.input_schema, str):
        model = _resolve_model(steward_file, f"{dkey}.input_schema", decl.input_schema)
        schema = model.model_json_schema()
    elif isinstance(decl.input_schema, dict):
        schema = decl.input_schema
    else:
        schema = _derived_schema(builder)
    if decl.prompts is not None:
        _import(steward_file, f"{dkey}.prompts", decl.prompts)
    card = _relative_file(steward_file, root, f"{dkey}.card", decl.card) if decl.card else None
    return LoadedAssistant(
        name=name,
        graph_ref=ref,
        build_graph=build,
        declaration=decl,
        input_schema=schema,
        input_model=model,
        prompts_module=decl.prompts,
        card=card,
        module=mod_name,
        modules=(mod_name.split(".")[0],),
    )


def tools_in_module(module_name: str) -> dict[str, Any]:
    """langchain tools defined at the top level of a graph's module, by name."""
    from langchain_core.tools import BaseTool

    module = sys.modules.get(module_name)
    return {t.name: t for t in vars(module).values() if isinstance(t, BaseTool)} if module else {}


def tools_in_graph(builder: Any) -> dict[str, Any]:
    """langchain tools held by ``ToolNode``s of a graph, by name."""
    found: dict[str, Any] = {}
    for node in builder.nodes.values():
        by_name = getattr(node.runnable, "tools_by_name", None)
        if isinstance(by_name, dict):
            found.update(by_name)
    return found


def _check_tools(file: Path, tools: dict[str, ToolDeclaration], assistants: dict[str, LoadedAssistant]) -> None:
    """A declared tool must exist: a registered Steward tool, a tool of some graph's ``ToolNode``, or a
    langchain tool defined in a graph's module."""
    if not tools:
        return
    from tools.registry import list_tools

    known = {t.name for t in list_tools()}
    for a in assistants.values():
        known |= set(tools_in_graph(a.build_graph())) | set(tools_in_module(a.module))
    for name in tools:
        if name not in known:
            raise ProjectError(file, f"steward.tools.{name}", f"unknown tool; known tools: {sorted(known)}")
