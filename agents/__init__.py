"""Business agents (one folder each) and the assistant registry."""

from agents.context import (
    RunContext,
    activity_node,
    current_emitter,
    get_chat_model,
    set_chat_model_factory,
    set_event_sink,
)
from agents.guarded import GUARDED_NODE, GUARDED_NODE_METADATA, guarded_tool_node, tool_router
from agents.registry import AssistantSpec, get_assistant, list_assistants, register_assistant

__all__ = [
    "GUARDED_NODE",
    "GUARDED_NODE_METADATA",
    "AssistantSpec",
    "RunContext",
    "activity_node",
    "current_emitter",
    "get_assistant",
    "get_chat_model",
    "guarded_tool_node",
    "list_assistants",
    "register_assistant",
    "set_chat_model_factory",
    "set_event_sink",
    "tool_router",
]
