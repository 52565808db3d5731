"""Assistant versions for evals: ``NAME``, ``NAME@VERSION`` or ``NAME@ALIAS`` -> the graph a worker serves.

The assistant registry (``agents.registry``) holds one version per name: the one that ships. Evals need more:
the candidate beside the shipped one, or an older release to compare with. A *variant* is another version of
a registered assistant, served by eval workers under its own graph key ``NAME@VERSION`` (the Temporal
LangGraph plugin keys graphs and their activities by that name). Its input schema is the base assistant's.

An alias (``loan_triage@champion``) is looked up in the model registry (``evals.tracking``), which maps it to
an assistant version; that is how an agent "uses" a promoted version.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph import StateGraph

from agents.registry import AssistantSpec, check_graph, get_assistant, list_assistants
from runtime.errors import NotFound, UserError


@dataclass(frozen=True)
class AssistantVersion:
    """One servable version of an assistant, with what evals log about it."""

    name: str
    """The registered (base) assistant: its input schema, and the registry model ``steward.<name>``."""
    version: str
    assistant_id: str
    """The graph key workers serve it under: ``name`` for the shipped version, ``name@version`` for a variant."""
    spec: AssistantSpec
    prompt_version: str | None = None
    prompts: dict[str, str] = field(default_factory=dict)
    """Prompt name -> template text, so promotion can register exactly the prompts that were evaluated."""

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def is_variant(self) -> bool:
        return self.assistant_id != self.name


_VARIANTS: dict[tuple[str, str], AssistantVersion] = {}


def _packaged_version(prompts: dict[str, str]) -> str | None:
    """The packaged prompts' refs (``name@packaged-<hash>``), joined: what a run sends when no registry
    version is promoted (a run records the exact versions it sent in its outcome's ``prompt_versions``)."""
    from agents._llm import prompt_ref

    return ",".join(prompt_ref(n, t) for n, t in sorted(prompts.items())) or None


def _prompts_of(spec: AssistantSpec) -> tuple[str | None, dict[str, str]]:
    """The shipped prompts: the ``PROMPTS`` (registry name -> text) of the assistant's declared ``prompts``
    module, which lists only texts a node sends to a model."""
    if spec.prompts_module is None:
        return None, {}
    prompts = dict(getattr(importlib.import_module(spec.prompts_module), "PROMPTS", {}))
    return _packaged_version(prompts), prompts


def register_variant(
    name: str,
    version: str,
    build_graph: Callable[[], StateGraph[Any, Any, Any, Any]],
    description: str,
    prompt_version: str | None = None,
    prompts: dict[str, str] | None = None,
) -> AssistantVersion:
    """Make ``name@version`` servable by eval workers. The graph is checked like any assistant's."""
    base = get_assistant(name)
    if version == base.version:
        raise ValueError(f"{name}@{version} is the registered version; a variant needs its own version")
    assistant_id = f"{name}@{version}"
    check_graph(assistant_id, build_graph())
    spec = AssistantSpec(
        assistant_id, version, description, build_graph, base.input_schema, input_model=base.input_model
    )
    texts = dict(prompts or {})
    variant = AssistantVersion(name, version, assistant_id, spec, prompt_version or _packaged_version(texts), texts)
    _VARIANTS[(name, version)] = variant
    return variant


def _load_builtin_variants() -> None:
    """The stand-in variants of loan_triage, when the served project has loan_triage (a user's may not)."""
    served = {a.name for a in list_assistants()}
    if "loan_triage" in served and not any(k[0] == "loan_triage" for k in _VARIANTS):
        importlib.import_module("evals.standins").register()


def shipped(name: str) -> AssistantVersion:
    try:
        spec = get_assistant(name)
    except KeyError as exc:
        raise NotFound(str(exc).strip("'\"")) from None
    prompt_version, prompts = _prompts_of(spec)
    return AssistantVersion(name, spec.version, name, spec, prompt_version, prompts)


def known_versions(name: str) -> list[str]:
    _load_builtin_variants()
    return sorted({shipped(name).version, *(v for (n, v) in _VARIANTS if n == name)})


def resolve_assistant(ref: str, alias_resolver: Callable[[str, str], str | None] | None = None) -> AssistantVersion:
    """``NAME`` (the shipped version), ``NAME@VERSION``, or ``NAME@ALIAS`` via ``alias_resolver(name, alias)``.

    Raises NotFound naming the known assistants or versions, before anything runs.
    """
    name, _, version = ref.partition("@")
    if not name:
        raise UserError(f"--assistant {ref!r}: expected NAME or NAME@VERSION")
    base = shipped(name)
    if not version or version == base.version:
        return base
    _load_builtin_variants()
    if (name, version) in _VARIANTS:
        return _VARIANTS[(name, version)]
    if alias_resolver is not None:
        resolved = alias_resolver(name, version)
        if resolved is not None:
            return resolve_assistant(f"{name}@{resolved}")
    raise NotFound(
        f"assistant {name!r} has no version or alias {version!r}; known versions: {known_versions(name)}"
        + ("" if alias_resolver else " (aliases such as 'champion' need the model registry)")
    )


def worker_assistants() -> list[AssistantSpec]:
    """Everything an eval worker serves: the registered assistants and every variant."""
    _load_builtin_variants()
    return [*list_assistants(), *(v.spec for v in _VARIANTS.values())]
