"""Chat templates render as a fresh Jinja compile would, and each template is compiled once, not per request."""

from __future__ import annotations

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runtime.llm import prompting

CHATML_WITH_DEFAULT_SYSTEM = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ bos_token + '<|im_start|>assistant\n' }}{% endif %}"
)
FAILING = "{{ raise_exception('only user and assistant roles') }}"


def _fresh(template: str, messages: list[dict[str, str]]) -> str:
    env = ImmutableSandboxedEnvironment(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(
        messages=messages, bos_token="<s>", eos_token="</s>", add_generation_prompt=True
    )


def test_cached_template_renders_each_conversation_like_a_fresh_compile() -> None:
    prompting._compiled.cache_clear()
    for messages in (
        [{"role": "user", "content": "hello"}],
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "and now?"}],
    ):
        got = prompting.render_template(CHATML_WITH_DEFAULT_SYSTEM, messages, "<s>", "</s>")
        assert got == _fresh(CHATML_WITH_DEFAULT_SYSTEM, messages)
    assert "be brief" in got and "helpful assistant" not in got
    info = prompting._compiled.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_template_raise_exception_still_raises_value_error() -> None:
    try:
        prompting.render_template(FAILING, [{"role": "user", "content": "x"}], "", "")
    except ValueError as exc:
        assert "only user and assistant roles" in str(exc)
    else:
        raise AssertionError("the template's raise_exception did not raise")
