"""The skipped payload passes (runtime.payload_visits): skipped only when they could change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import ClassVar

import temporalio.bridge.worker as bridge
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import DataConverter, PayloadCodec

from runtime import payload_visits
from runtime.client import data_converter


class Marking(PayloadCodec):
    """Tags every payload it encodes and untags on decode, so a pass that ran is visible."""

    def __init__(self) -> None:
        self.calls = 0

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.calls += 1
        return [Payload(metadata={**p.metadata, "marked": b"1"}, data=p.data) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.calls += 1
        return [Payload(metadata={k: v for k, v in p.metadata.items() if k != "marked"}, data=p.data) for p in payloads]


def _activation(marked: bool) -> WorkflowActivation:
    act = WorkflowActivation(run_id="r")
    job = act.jobs.add()
    meta = {"encoding": b"json/plain", **({"marked": b"1"} if marked else {})}
    job.initialize_workflow.arguments.add(metadata=meta, data=b'"x"')
    return act


def _completion() -> WorkflowActivationCompletion:
    done = WorkflowActivationCompletion(run_id="r")
    cmd = done.successful.commands.add()
    cmd.complete_workflow_execution.result.CopyFrom(Payload(metadata={"encoding": b"json/plain"}, data=b'"y"'))
    return done


def test_installs_on_the_pinned_temporalio_once() -> None:
    assert payload_visits.install()
    first = bridge.decode_activation
    assert payload_visits.install()
    assert bridge.decode_activation is first, "installing twice must not wrap twice"
    assert getattr(bridge.encode_completion, "__wrapped__", None) is not None


def test_steward_converter_has_nothing_to_visit_for() -> None:
    assert payload_visits.visits_change_nothing(data_converter)


def test_a_codec_still_sees_every_activation_and_completion() -> None:
    payload_visits.install()
    codec = Marking()
    dc = DataConverter(payload_codec=codec)
    assert not payload_visits.visits_change_nothing(dc)
    act = _activation(marked=True)
    asyncio.run(bridge.decode_activation(act, dc, decode_headers=True, storage_concurrency_limit=1))
    assert "marked" not in act.jobs[0].initialize_workflow.arguments[0].metadata
    done = _completion()
    asyncio.run(bridge.encode_completion(done, dc, encode_headers=True, storage_concurrency_limit=1))
    assert done.successful.commands[0].complete_workflow_execution.result.metadata["marked"] == b"1"
    assert codec.calls >= 2


class Counting(DataConverter):
    """No codec and no external storage, but counts the codec pass the visitor would make."""

    seen: ClassVar[list[int]] = []

    async def _decode_payload_sequence(self, payloads: Sequence[Payload]) -> list[Payload]:
        self.seen.append(len(payloads))
        return list(payloads)


def test_without_a_codec_no_pass_runs() -> None:
    payload_visits.install()
    unwrapped = bridge.decode_activation.__wrapped__  # type: ignore[attr-defined]
    act = _activation(marked=False)
    asyncio.run(unwrapped(act, Counting(), decode_headers=True, storage_concurrency_limit=1))
    assert Counting.seen, "the unwrapped SDK visits each payload (this is what the shortcut saves)"
    Counting.seen.clear()
    asyncio.run(bridge.decode_activation(act, Counting(), decode_headers=True, storage_concurrency_limit=1))
    assert Counting.seen == []
    assert act.jobs[0].initialize_workflow.arguments[0].data == b'"x"'
