"""Decision-proof keys and tokens without services: where the embedded key comes from, what a worker that
holds only public keys accepts, and that a token is bound to what it signs."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from guards.types import ApprovalDecision, Principal
from runtime.proofs import DecisionSigner, DecisionVerifier, ProofInvalid, public_key_text
from runtime.settings import Settings

BOB = Principal(id="bob", roles=["approver"])


def decision(**fields: object) -> ApprovalDecision:
    return ApprovalDecision.model_validate({"approval_id": "apr_1", "action": "approve", "principal": BOB, **fields})


def test_embedded_key_is_generated_once_outside_the_database_with_mode_0600(tmp_path: Path) -> None:
    s = Settings(home=tmp_path, decision_key=None)
    first = DecisionSigner.from_settings(s)
    path = tmp_path / "decision_ed25519.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = DecisionSigner.from_settings(s)
    assert public_key_text(first.public_key) == public_key_text(again.public_key)
    # The API (signer) and a worker (verifier) started from the same settings agree.
    assert DecisionVerifier.from_settings(s).verify(first.sign(decision()), time.time()) == BOB


def test_a_worker_with_only_public_keys_verifies_and_cannot_be_fooled(tmp_path: Path) -> None:
    api = DecisionSigner(Ed25519PrivateKey.generate())
    old = DecisionSigner(Ed25519PrivateKey.generate())
    worker = Settings(
        home=tmp_path,
        decision_key=None,
        decision_public_keys=f"{public_key_text(api.public_key)}, {public_key_text(old.public_key)}",
    )
    verifier = DecisionVerifier.from_settings(worker)
    assert not (tmp_path / "decision_ed25519.pem").exists(), "a public-key-only worker must not make a key"
    now = time.time()
    assert verifier.verify(api.sign(decision()), now) == BOB
    assert verifier.verify(old.sign(decision()), now) == BOB  # rotation: both keys accepted
    stranger = DecisionSigner(Ed25519PrivateKey.generate())
    with pytest.raises(ProofInvalid, match="does not trust"):
        verifier.verify(stranger.sign(decision()), now)


@pytest.mark.parametrize(
    ("proof", "why"),
    [(None, "no proof"), ("", "no proof"), ("abc", "malformed"), ("a.b.c", "malformed"), ("!!.??", "malformed")],
)
def test_missing_or_malformed_proofs_are_refused(proof: str | None, why: str) -> None:
    verifier = DecisionVerifier.of(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ProofInvalid, match=why):
        verifier.verify(decision(proof=proof), time.time())


def test_a_proof_from_the_future_is_refused_and_args_order_does_not_matter() -> None:
    signer = DecisionSigner(Ed25519PrivateKey.generate())
    verifier = DecisionVerifier.of(signer.public_key)
    with pytest.raises(ProofInvalid, match="future"):
        verifier.verify(signer.sign(decision(), now=time.time() + 3600), time.time())
    signed = signer.sign(decision(action="edit", args={"a": 1, "b": [1, 2]}))
    reordered = signed.model_copy(update={"args": {"b": [1, 2], "a": 1}})
    assert verifier.verify(reordered, time.time()) == BOB
