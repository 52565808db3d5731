"""Local LLM serving (DESIGN.md section 4): backends, catalog, OpenAI-compatible model server, the agents'
chat model and its circuit breaker.

Exports resolve lazily, so ``import runtime.llm`` loads neither llama.cpp, torch, transformers nor
langchain; the model server imports a backend only when it loads a model of that kind.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AgentModel",
    "ModelReply",
    "CircuitBreaker",
    "ModelSpec",
    "StewardChatModel",
    "astream_message",
    "build_catalog",
    "call_or_fallback",
    "create_app",
    "model_status",
    "resolve_weights",
]

_HOME = {
    "AgentModel": "runtime.llm.agent_model",
    "ModelReply": "runtime.llm.agent_model",
    "CircuitBreaker": "runtime.llm.breaker",
    "ModelSpec": "runtime.llm.catalog",
    "build_catalog": "runtime.llm.catalog",
    "model_status": "runtime.llm.catalog",
    "resolve_weights": "runtime.llm.catalog",
    "StewardChatModel": "runtime.llm.chat_model",
    "astream_message": "runtime.llm.chat_model",
    "call_or_fallback": "runtime.llm.chat_model",
    "create_app": "runtime.llm.server",
}


def __getattr__(name: str) -> Any:
    try:
        module = _HOME[name]
    except KeyError:
        raise AttributeError(f"module 'runtime.llm' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), name)
