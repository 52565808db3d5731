"""Intake's reading of a plain-words request: what grounding keeps of the model's answer.

The model is a scripted fake whose answer has the two mistakes the real one made on the claims chat suite
(bench/results/chat.json): a piece of an identifier given as another field ("1008" out of "PH-1008"), and one
identifier given for two fields ("SS-600001" as the policy and as the carrier).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from agents._grounding import Field, ground
from agents.context import set_chat_model_factory
from agents.intake import input_fields, model_keys, read_message, worked_example

REQUEST = "Claim CL-5006 for claimant PH-1008, SwiftShip SS-600001, never arrived, claiming 780 EUR"


def test_a_piece_of_an_identifier_is_not_a_stated_value() -> None:
    f = Field(("claim", "shipment", "tracking_number"), "string", False, "tracking number")
    assert ground(f, "1008", REQUEST) is None
    assert ground(f, "PH-1008", REQUEST) == "PH-1008"
    assert ground(f, "SS-600001", REQUEST) == "SS-600001"
    assert ground(Field(("x", "purpose"), "string", True, "purpose"), "Kitchen", "12,000 for a kitchen") == "Kitchen"


@pytest.fixture
def claims_fields() -> Iterator[list[Field]]:
    from agents.registry import list_assistants

    model = next(a for a in list_assistants() if a.name == "claims").input_model
    assert model is not None
    yield input_fields(model.model_json_schema())
    set_chat_model_factory(None)


async def test_one_identifier_for_two_fields_is_asked_not_guessed(claims_fields: list[Field]) -> None:
    names = model_keys(claims_fields)
    answer = {
        names["claim.claim_id"]: "CL-5006",
        names["claim.claimant_id"]: "PH-1008",
        names["claim.policy_id"]: "SS-600001",  # the request names no policy
        names["claim.shipment.carrier"]: "SS-600001",
        names["claim.shipment.tracking_number"]: "1008",
        names["claim.amount_claimed"]: "780",
    }
    set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(answer))])))
    reading = await read_message(REQUEST, claims_fields, "Cargo claims")
    assert reading.values == {"claim.claim_id": "CL-5006", "claim.claimant_id": "PH-1008", "claim.amount_claimed": 780}
    assert {"claim.policy_id", "claim.shipment.carrier", "claim.shipment.tracking_number"} <= set(reading.dropped)


def test_the_worked_example_states_three_fields_with_values_not_in_the_request(claims_fields: list[Field]) -> None:
    text = "Claim QX-31 on policy CP-1"  # the first made-up id is in the request: the example must not use it
    example = worked_example(claims_fields, text)
    request, answer = example.split("\nJSON: ")
    shown = json.loads(answer)
    stated = {k: v for k, v in shown.items() if v}
    assert set(shown) == set(model_keys(claims_fields).values())
    assert len(stated) == 3 and len(set(stated.values())) == 3  # each field its own value
    enums = {model_keys(claims_fields)[f.key] for f in claims_fields if f.kind in ("enum", "boolean")}
    assert not enums & set(stated)  # an enumeration's example value is the easiest copy: none is stated
    for value in stated.values():
        assert value in request and value.casefold() not in text.casefold()


async def test_one_number_is_not_two_fields_unless_the_request_says_it_twice() -> None:
    from agents.registry import list_assistants

    model = next(a for a in list_assistants() if a.name == "loan_triage").input_model
    assert model is not None
    fields = input_fields(model.model_json_schema())
    names = model_keys(fields)
    answer = {
        names["application.application_id"]: "A-9",
        names["application.annual_income"]: "80k",
        names["application.monthly_income"]: "80k",  # the request gives no monthly income
        names["application.monthly_obligations"]: "80k",
        names["application.amount"]: "12,000",
    }
    set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(answer))])))
    try:
        reading = await read_message("Triage A-9: 12,000 for a kitchen, income 80k a year", fields, "Loans")
        # the clause "income 80k a year" names the annual income: the other two readings are dropped, and
        # the one mention is left to the field it names
        assert reading.values == {
            "application.application_id": "A-9",
            "application.amount": 12000,
            "application.annual_income": 80000,
        }
        twice = {names["application.amount"]: "5,000", names["application.monthly_obligations"]: "5,000"}
        set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(twice))])))
        reading = await read_message("A-1: borrow 5,000; obligations 5,000 a month", fields, "Loans")
        assert reading.values == {"application.amount": 5000, "application.monthly_obligations": 5000}
    finally:
        set_chat_model_factory(None)


def test_a_number_with_its_unit_grounds_only_a_field_of_that_unit() -> None:
    text = "A-1042: 25,000 EUR for a used car, credit score 712, 60 months, applicant 41 years old, rate 6.9%"
    income = Field(("application", "monthly_income"), "number", False, "monthly income")
    term = Field(("application", "term_months"), "integer", False, "term months")
    age = Field(("application", "age"), "integer", False, "age")
    amount = Field(("application", "amount"), "number", True, "amount")
    rate = Field(("application", "annual_rate"), "number", False, "annual rate")
    assert ground(income, "60", text) is None and ground(term, "60", text) == 60
    assert ground(amount, "41", text) is None and ground(age, "41", text) == 41
    assert ground(amount, "6.9", text) is None and ground(rate, "6.9", text) == 6.9


async def test_one_enum_word_is_not_the_value_of_several_fields(claims_fields: list[Field]) -> None:
    names = model_keys(claims_fields)
    answer = {
        names["claim.claim_id"]: "CL-5006",
        names["claim.claim_type"]: "loss",
        names["claim.prior_claims.0.claim_type"]: "loss",  # the request mentions no prior claim
    }
    set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(answer))])))
    reading = await read_message("Claim CL-5006: shipment lost in transit", claims_fields, "Cargo claims")
    # "lost" is written once and the claim's own type uses it: no prior-claim item is shown to the model, so
    # its "loss" there is not read, and the claim's type keeps the one mention
    assert reading.values == {"claim.claim_id": "CL-5006", "claim.claim_type": "loss"}
    # a prior claim needs its identity before its details are taken
    both = "Claim CL-5006: shipment lost in transit, an earlier claim was a loss too"
    set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(answer))])))
    reading = await read_message(both, claims_fields, "Cargo claims")
    assert reading.values == {"claim.claim_id": "CL-5006", "claim.claim_type": "loss"}
    named = {**answer, names["claim.prior_claims.0.claim_id"]: "CL-4100"}
    set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=json.dumps(named))])))
    reading = await read_message(both.replace("claim was", "claim CL-4100 was"), claims_fields, "Cargo claims")
    assert reading.values == {
        "claim.claim_id": "CL-5006",
        "claim.claim_type": "loss",
        "claim.prior_claims.0.claim_id": "CL-4100",
        "claim.prior_claims.0.claim_type": "loss",
    }


async def test_identifiers_numbers_and_neighbours_from_the_loan_chat_bench() -> None:
    """Invented values the real model produced on evals/suites/loan_triage_chat.jsonl (LC-026, LC-031,
    LC-034, LC-036, LC-046), each dropped now."""
    from agents.registry import list_assistants

    model = next(a for a in list_assistants() if a.name == "loan_triage").input_model
    assert model is not None
    fields = input_fields(model.model_json_schema())
    names = model_keys(fields)

    async def read(text: str, answer: dict[str, str]) -> dict[str, object]:
        body = json.dumps({names[k]: v for k, v in answer.items()})
        set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=body)])))
        return (await read_message(text, fields, "Loans")).values

    try:
        got = await read("Application A-1500; applicant P-1501; score 720", {"application.age": "1500"})
        assert got == {}
        got = await read("Applicant P-901 asks for 19,000", {"application.application_id": "P-901"})
        assert got == {}
        got = await read("Einkommen 3.100 im Monat", {"application.annual_income": "3.1"})
        assert got == {}
        got = await read(
            "27,000 for a car, 72 months", {"application.application_id": "27", "application.applicant_id": "72"}
        )
        assert got == {}
        got = await read("reddito 75.000 annuo, punteggio 705", {"application.annual_rate": "705"})
        assert got == {}
        got = await read(
            "application A-1042 for applicant P-5531",
            {"application.application_id": "A-1042", "application.applicant_id": "P-5531"},
        )
        assert got == {"application.application_id": "A-1042", "application.applicant_id": "P-5531"}
    finally:
        set_chat_model_factory(None)
