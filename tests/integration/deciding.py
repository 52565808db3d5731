"""Deciding in tests as everyone decides: with an API key from the store, signed like the API signs.

``decide(client, store, ApprovalDecision(..., principal=P))`` issues ``P`` an API key in ``store`` once and
decides with it through ``runtime.runs.KeyedApprovers`` (the key is authenticated, the proof minted, the
workflow verifies it). There is no helper that decides without a proof.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client

from guards.types import ApprovalDecision
from runtime.runs import KeyedApprovers
from runtime.store import Store

_APPROVERS: dict[tuple[int, str], KeyedApprovers] = {}


async def decide(client: Client, store: Store, decision: ApprovalDecision) -> dict[str, Any]:
    approvers = _APPROVERS.get((id(store), str(store.path)))
    if approvers is None or approvers.store is not store or approvers.client is not client:
        approvers = _APPROVERS[(id(store), str(store.path))] = KeyedApprovers(client, store)
    return await approvers.decide(decision)
