"""Decision proofs: the API signs who decided what; the workflow's ``decide`` validator verifies it.

A decision reaches a run only as the payload of the ``decide`` Update, and anyone who can reach Temporal can
send one with any name and role in it. So the API, after authenticating an API key, signs the decision's
content (approval id, action, principal with tenant and roles, a hash of the edited arguments and of the
comment / response, issued-at, expiry) with an Ed25519 key, and the workflow accepts only decisions whose
proof verifies under a public key the *worker* was configured with and matches what the decision says.
Ed25519 rather than HMAC: the worker needs only the public key, so a compromised worker cannot mint.

The token is ``base64url(claims JSON) "." base64url(signature)``; ``kid`` (a hash of the public key) lets
workers accept several keys during a rotation. Verification is pure computation over the Update's payload and
``workflow.now()``: deterministic, and done in the Update validator, which is not re-run on replay.

Keys: ``STEWARD_DECISION_KEY`` (PEM or base64 of the 32-byte Ed25519 seed) or ``STEWARD_DECISION_KEY_FILE``;
the embedded default generates ``<home>/decision_ed25519.pem`` (0600, outside the database) on first use.
Workers that must not hold the private key set ``STEWARD_DECISION_PUBLIC_KEYS`` (base64 raw public keys,
comma-separated).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from guards.types import ApprovalDecision, Principal

if TYPE_CHECKING:
    from runtime.settings import Settings

PROOF_VERSION = 1
CLOCK_SKEW_S = 60.0
"""How far in the future an issued-at may lie (API and worker clocks differ a little)."""


class ProofInvalid(Exception):  # noqa: N818 - reads as a verdict: "proof invalid: <why>"
    """A decision's proof is missing, forged, expired or does not match the decision it travels with."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def content_hash(value: Any) -> str | None:
    """sha256 of canonical JSON (sorted keys, no spaces); ``None`` stays ``None`` so "no args" is signed too."""
    if value is None:
        return None
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _claims_for(decision: ApprovalDecision) -> dict[str, Any]:
    """What a proof binds, taken from the decision itself (the same function on both sides)."""
    p = decision.principal
    return {
        "aid": decision.approval_id,
        "act": decision.action,
        "sub": p.id,
        "ten": p.tenant,
        "roles": sorted(set(p.roles)),
        "args": content_hash(decision.args),
        "text": content_hash({"comment": decision.comment, "response": decision.response}),
    }


@dataclass(frozen=True)
class DecisionSigner:
    """Mints proofs. Only the API (and code paths that authenticated an API key) holds one."""

    private_key: Ed25519PrivateKey
    ttl_s: float = 300.0
    """A proof is sent right after it is minted; a short life limits what a leaked Update payload is worth."""

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def mint(self, decision: ApprovalDecision, now: float | None = None) -> str:
        issued = time.time() if now is None else now
        claims = {
            "v": PROOF_VERSION,
            "kid": key_id(self.public_key),
            **_claims_for(decision),
            "iat": round(issued, 3),
            "exp": round(issued + self.ttl_s, 3),
        }
        body = _b64(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode())
        return f"{body}.{_b64(self.private_key.sign(body.encode()))}"

    def sign(self, decision: ApprovalDecision, now: float | None = None) -> ApprovalDecision:
        """The decision with its proof attached (what goes to the workflow)."""
        return decision.model_copy(update={"proof": self.mint(decision, now)})

    @classmethod
    def from_settings(cls, settings: Settings) -> DecisionSigner:
        return cls(_private_key(settings), ttl_s=settings.decision_proof_ttl_s)


@dataclass(frozen=True)
class DecisionVerifier:
    """Verifies proofs against the public keys a worker trusts; pure, so it may run in workflow code."""

    public_keys: dict[str, Ed25519PublicKey]

    @classmethod
    def of(cls, *keys: Ed25519PublicKey) -> DecisionVerifier:
        return cls({key_id(k): k for k in keys})

    @classmethod
    def from_settings(cls, settings: Settings) -> DecisionVerifier:
        if settings.decision_public_keys:
            return cls.of(*(_public_key(text) for text in settings.decision_public_keys.split(",") if text.strip()))
        return cls.of(_private_key(settings).public_key())

    def verify(self, decision: ApprovalDecision, now: float) -> Principal:
        """Check the proof and that it matches the decision; returns the principal it vouches for."""
        token = decision.proof
        if not token:
            raise ProofInvalid("no proof: decisions are accepted only through the API with an API key")
        try:
            body, signature = token.split(".")
            claims = json.loads(_unb64(body))
            sig = _unb64(signature)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ProofInvalid("malformed proof") from None
        if not isinstance(claims, dict) or claims.get("v") != PROOF_VERSION:
            raise ProofInvalid("unsupported proof version")
        key = self.public_keys.get(str(claims.get("kid")))
        if key is None:
            raise ProofInvalid("proof signed with a key this worker does not trust")
        try:
            key.verify(sig, body.encode())
        except InvalidSignature:
            raise ProofInvalid("proof signature does not verify") from None
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise ProofInvalid("proof lacks issued-at / expiry")
        if now >= exp:
            raise ProofInvalid(f"proof expired {now - exp:.0f}s ago")
        if iat > now + CLOCK_SKEW_S:
            raise ProofInvalid("proof issued in the future")
        expected = _claims_for(decision)
        for name, value in expected.items():
            if claims.get(name) != value:
                raise ProofInvalid(f"proof does not match the decision ({_FIELD_NAMES[name]} differs)")
        return Principal(id=claims["sub"], tenant=claims["ten"], roles=list(claims["roles"]))


_FIELD_NAMES = {
    "aid": "approval id",
    "act": "action",
    "sub": "principal",
    "ten": "tenant",
    "roles": "roles",
    "args": "edited arguments",
    "text": "comment or response",
}

_VERIFIER: list[DecisionVerifier] = []


def _warm_invalid_signature() -> None:
    """Make cryptography's Rust core resolve ``InvalidSignature`` once, here, outside any workflow.

    It imports the exception type lazily the first time it raises one; inside Temporal's workflow sandbox
    that import fails and pyo3 aborts the whole process (measured: a forged proof killed the worker). After
    this, a bad signature raises from the cached type and the validator refuses it like any other proof.
    """
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    try:
        key.public_key().verify(bytes(64), b"warm-up")
    except InvalidSignature:
        pass


_warm_invalid_signature()


def install_verifier(verifier: DecisionVerifier) -> None:
    """Set this process's verifier (the worker does, at start). Workflow code imports this module passed
    through the sandbox, so it sees the same object."""
    _VERIFIER[:] = [verifier]


def verify_decision(decision: ApprovalDecision, now: float) -> Principal:
    """Verify with the installed verifier; a worker without one accepts nothing (no exceptions)."""
    if not _VERIFIER:
        raise ProofInvalid("this worker has no decision verification key; it accepts no decisions")
    return _VERIFIER[0].verify(decision, now)


# -- keys ---------------------------------------------------------------------------------------------------
def _public_key(text: str) -> Ed25519PublicKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("STEWARD_DECISION_PUBLIC_KEYS: not an Ed25519 public key")
        return key
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError("STEWARD_DECISION_PUBLIC_KEYS: expected base64 of a 32-byte Ed25519 public key") from None


def _parse_private(text: str, source: str) -> Ed25519PrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{source}: not an Ed25519 private key")
        return key
    try:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError(f"{source}: expected PEM or base64 of a 32-byte Ed25519 seed") from None


def _private_key(settings: Settings) -> Ed25519PrivateKey:
    if settings.decision_key is not None:
        return _parse_private(settings.decision_key.get_secret_value(), "STEWARD_DECISION_KEY")
    path = settings.decision_key_file or settings.home / "decision_ed25519.pem"
    if not path.exists():
        _create_key_file(path)
    return _parse_private(path.read_text(), str(path))


def _create_key_file(path: Path) -> None:
    """Generate a key once, atomically: the API and a worker starting together must end up with one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".decision-key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process won the race: then its key is the key
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


def public_key_text(public: Ed25519PublicKey) -> str:
    """The form ``STEWARD_DECISION_PUBLIC_KEYS`` takes."""
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
