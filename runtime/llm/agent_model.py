"""The model as agents see it: a reply or a reason to take the rule-based path, never an exception.

Agents cannot import the runtime (imports point runtime -> agents), so they cannot catch
``runtime.errors.ModelUnavailable`` by type. The runtime hands them an ``AgentModel`` (as it hands them the
event sink) whose ``respond`` returns ``ModelReply(message=None, fallback_reason=...)`` when the model is
down or its circuit is open; the agent then decides by its rules and says so. Tokens stream to ``on_token``
and the fallback is reported to ``on_event`` (the run's event log) and to ``steward_llm_fallbacks_total``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from runtime.errors import ModelUnavailable
from runtime.llm.chat_model import StewardChatModel, astream_message
from runtime.llm.metrics import REGISTRY

EventFn = Callable[[str, dict[str, Any]], None]


@dataclass
class ModelReply:
    message: AIMessage | None
    """The model's reply (text and/or tool calls); None when the agent must fall back to its rules."""
    model: str
    fallback_reason: str | None = None

    @property
    def used_fallback(self) -> bool:
        return self.message is None


class AgentModel:
    """A chat model wrapped for agent nodes: streaming into the event log, fallback instead of raising."""

    def __init__(self, chat_model: StewardChatModel) -> None:
        self.chat_model = chat_model

    async def respond(
        self,
        messages: Sequence[BaseMessage | dict[str, Any]],
        *,
        tools: Sequence[Any] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
        on_token: Callable[[str], None] | None = None,
        on_event: EventFn | None = None,
    ) -> ModelReply:
        """Ask the model; on ``ModelUnavailable`` return a reply without a message and record why."""
        runnable: Any = self.chat_model
        if tools:
            runnable = self.chat_model.bind_tools(list(tools), tool_choice=tool_choice)
        name = self.chat_model.model
        try:
            message = await astream_message(runnable, list(messages), on_token=on_token)
        except ModelUnavailable as exc:
            REGISTRY.inc("steward_llm_fallbacks_total", model=name)
            if on_event is not None:
                on_event(
                    "model_fallback",
                    {"model": name, "reason": str(exc), "breaker": self.chat_model.breaker.state},
                )
            return ModelReply(message=None, model=name, fallback_reason=str(exc))
        return ModelReply(message=message, model=name)
