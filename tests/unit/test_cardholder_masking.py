"""Cardholder data (PCI DSS 3.3/3.4) and personal data in free text, masked at intake by the detectors.

A PAN is found in every separator variant and truncated to first6/last4; a security code is removed when it is
labelled or follows a PAN or an expiry date; look-alikes (UUIDs, digests, timestamps, order numbers that fail
Luhn) stay as they are. Intake (``runtime.runs.validate_input``) masks cards in every field and other personal
data only in free-text fields; the store masks cards again on every JSON write.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guards.detectors import find_cardholder, mask_cardholder, mask_cardholder_value, mask_pan
from guards.points import free_text_paths

PAN = "4111111111111111"
AMEX = "378282246310005"
VARIANTS = [
    "4111111111111111",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "4111.1111.1111.1111",
    "3782 822463 10005",
    "3782-822463-10005",
    "378282246310005",
    "5555555555554444",
    "6011 1111 1111 1117",
]


@pytest.mark.parametrize("pan", VARIANTS)
def test_every_separator_variant_is_truncated_to_first6_last4(pan: str) -> None:
    digits = pan.replace(" ", "").replace("-", "").replace(".", "")
    masked = mask_cardholder(f"pay with {pan} please")
    assert digits not in masked.replace(" ", "").replace("-", "").replace(".", "")
    assert pan not in masked
    assert f"{digits[:6]}{'*' * (len(digits) - 10)}{digits[-4:]}" in masked


def test_pan_glued_to_letters_is_still_found() -> None:
    assert PAN not in mask_cardholder(f"PAN{PAN}x")


@pytest.mark.parametrize(
    "text",
    [
        "cvv 737",
        "CVV2: 737",
        "cvc=737",
        "security code is 737",
        "CID 7370",
        f"{PAN} 737",
        f"{PAN}, 12/28, 737",
        f"{PAN} exp 12/28 737",
        "card expires 09/27 737",
    ],
)
def test_security_codes_labelled_or_next_to_a_pan_or_expiry_are_removed(text: str) -> None:
    masked = mask_cardholder(text)
    assert "737" not in masked.replace(mask_pan(PAN), "")
    assert "***" in masked


@pytest.mark.parametrize(
    "text",
    [
        "run-12345678-1234-5678-1234-123456789012",  # UUID: separators not consistent with a card's groups
        "4111111111111112",  # fails Luhn
        "1764530000123",  # a millisecond timestamp: no card starts with 1
        "a3f4111111111111111e0c2b9d8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9",  # inside a digest
        "ratio 0.4111111111111111",  # decimal fraction
        "we have 737 branches",  # a number with no label and no card beside it
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert mask_cardholder(text) == text


def test_codes_and_pans_are_reported_by_kind() -> None:
    kinds = [f.kind for f in find_cardholder(f"card {PAN} cvv 123")]
    assert kinds == ["card", "card_security_code"]


def test_values_are_masked_leaf_by_leaf_and_keys_too() -> None:
    value = {"a": [f"x {PAN}", {"b": "cvv 123"}], PAN: 1, "n": 4111111111111111}
    out = mask_cardholder_value(value)
    text = json.dumps(out)
    assert PAN not in text.replace("4111111111111111}", "")  # the number field is an amount, kept
    assert out["n"] == 4111111111111111
    assert "cvv ***" in text


def test_free_text_paths_skip_enum_format_and_pattern_fields() -> None:
    schema = {
        "$defs": {
            "App": {
                "type": "object",
                "properties": {
                    "purpose": {"type": "string"},
                    "kind": {"type": "string", "enum": ["a", "b"]},
                    "email": {"type": "string", "format": "email"},
                    "iban": {"type": "string", "pattern": "^[A-Z]{2}"},
                    "notes": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                    "parties": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                    },
                },
            }
        },
        "type": "object",
        "properties": {"application": {"$ref": "#/$defs/App"}},
    }
    assert free_text_paths(schema) == {"application.purpose", "application.notes", "application.parties[].name"}


PLANT = f"card {PAN} cvv 737, IBAN GB82 WEST 1234 5698 7654 32, SSN 078-05-1120, call +44 20 7946 0958, a@b.example"


def test_intake_masks_cards_everywhere_and_personal_data_in_free_text() -> None:
    from runtime.runs import validate_input
    from tests.conftest import GOOD_APPLICATION

    app = {**GOOD_APPLICATION["application"], "purpose": PLANT}
    data = validate_input("loan_triage", {"application": app})
    purpose = data["application"]["purpose"]
    for secret in (PAN, "737", "GB82 WEST", "078-05-1120", "7946 0958", "a@b.example"):
        assert secret not in purpose, purpose
    assert "411111******1111" in purpose
    assert data["application"]["applicant_id"] == app["applicant_id"]  # structured identifiers stay


def test_store_never_writes_an_unmasked_pan(tmp_path: Path) -> None:
    from runtime.store import Store

    store = Store(tmp_path / "s.db")
    store.create_run("r1", "t1", "loan_triage", "default", "alice", {"application": {"purpose": f"{PAN} cvv 737"}})
    store.append_events("r1", [("k", "note", {"text": "card 4111 1111 1111 1111"})])
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*") if p.is_file())
    assert PAN.encode() not in raw
    assert b"4111 1111 1111 1111" not in raw
    assert b"cvv 737" not in raw


def test_a_truncated_pan_still_counts_as_card_data_for_outbound_redaction() -> None:
    from guards.detectors import find_pii, redact

    text = mask_cardholder(f"Your card {PAN} is on file.")
    assert redact(text, find_pii(text, ("card",))) == "Your card <CARD> is on file."
    assert mask_cardholder(text) == text  # masking is idempotent: the truncated form is not masked again
