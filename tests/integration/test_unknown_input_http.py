"""Over real HTTP (uvicorn on loopback, the real runtime behind it): an input field the assistant does not know
is a 422 whose body names it, at any depth of the structured input; no run starts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import GOOD_APPLICATION
from tests.integration.test_api import Api, api  # noqa: F401 - the served app fixture

pytestmark = pytest.mark.timeout(120)

KYC_CASE = {
    "case": {
        "case_id": "K-1",
        "customer": {"customer_id": "C-1", "name": "Meridian Freight BV", "type": "organisation", "country": "NL"},
        "related_parties": [{"party_id": "P-1", "name": "Tomas Ruiz", "role": "director", "dob": "1976-07-21"}],
    }
}


def _with(payload: dict[str, Any], path: tuple[Any, ...], field: str) -> dict[str, Any]:
    data = copy.deepcopy(payload)
    target = data
    for step in path:
        target = target[step]
    target[field] = True
    return data


@pytest.mark.parametrize(
    ("assistant", "payload", "path", "field"),
    [
        ("loan_triage", GOOD_APPLICATION, ("application",), "employer_verified"),
        ("kyc_review", KYC_CASE, ("case", "related_parties", 0), "sanctions_cleared"),
        ("kyc_review", KYC_CASE, ("case", "customer"), "vip"),
    ],
)
async def test_an_unknown_input_field_is_a_422_naming_it(
    api: Api,  # noqa: F811
    assistant: str,
    payload: dict[str, Any],
    path: tuple[Any, ...],
    field: str,
) -> None:
    async with api.http("alice") as http:
        thread = (await http.post("/threads", json={})).json()
        runs_before = (await http.get(f"/threads/{thread['thread_id']}/runs")).json()
        r = await http.post(
            f"/threads/{thread['thread_id']}/runs",
            json={"assistant_id": assistant, "input": _with(payload, path, field)},
        )
        assert r.status_code == 422, r.text
        named = ".".join(str(p) for p in ("input", *path, field))
        assert named in str(r.json()["detail"]) and "Extra inputs are not permitted" in str(r.json()["detail"])
        assert (await http.get(f"/threads/{thread['thread_id']}/runs")).json() == runs_before, "no run started"
