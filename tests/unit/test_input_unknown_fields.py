"""An input field an assistant does not know is refused with the field named, never silently dropped.

Dropping it was a safety defect: a related party sent with ``pep: true`` reached the KYC agent without the
flag and was cleared. The structured inputs of the reference agents forbid unknown keys at every level.
"""

from __future__ import annotations

import pytest

from runtime.errors import UserError
from runtime.runs import validate_input
from tests.conftest import GOOD_APPLICATION

KYC_CASE = {
    "case": {
        "case_id": "K-1",
        "customer": {"customer_id": "C-1", "name": "Meridian Freight BV", "type": "organisation", "country": "NL"},
        "related_parties": [{"party_id": "P-1", "name": "Tomas Ruiz", "role": "director", "dob": "1976-07-21"}],
    }
}
CLAIM = {
    "claim": {
        "claim_id": "CL-1",
        "policy_id": "CP-1001",
        "claimant_id": "C-9",
        "shipment": {"carrier": "democarrier", "tracking_number": "ZX-0042"},
        "claim_type": "damage",
    }
}


@pytest.mark.parametrize(
    ("assistant", "payload", "path", "field"),
    [
        ("loan_triage", GOOD_APPLICATION, ("application",), "employer"),
        ("loan_triage", GOOD_APPLICATION, (), "applicant"),
        ("kyc_review", KYC_CASE, ("case", "related_parties", 0), "pep_status"),  # pep is a known field (issue 16)
        ("kyc_review", KYC_CASE, ("case", "customer"), "sole_proprietor"),
        ("claims", CLAIM, ("claim", "shipment"), "status"),
    ],
)
def test_an_unknown_input_field_is_refused_naming_it(assistant: str, payload: dict, path: tuple, field: str) -> None:
    import copy

    data = copy.deepcopy(payload)
    validate_input(assistant, data)  # the known fields alone are valid
    target = data
    for step in path:
        target = target[step]
    target[field] = True
    with pytest.raises(UserError) as err:
        validate_input(assistant, data)
    named = ".".join(str(p) for p in ("input", *path, field))
    assert named in str(err.value) and "Extra inputs are not permitted" in str(err.value)
