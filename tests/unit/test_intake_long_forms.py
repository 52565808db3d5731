"""Intake on long forms and on the values the real model put in the wrong place.

Each request is from the chat suites (evals/suites/*_chat.jsonl, written from the handbooks), and each model
answer is what gemma3-270m wrote for it in the chat bench (bench/results/chat.json, the logs it names): the
rules here are what keeps those answers from reaching a confirmed input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from agents._grounding import Field, ground
from agents.context import set_chat_model_factory
from agents.intake import input_fields, model_keys, read_message, relevant_fields, settle


def _fields(agent: str) -> list[Field]:
    from agents.registry import list_assistants

    model = next(a for a in list_assistants() if a.name == agent).input_model
    assert model is not None
    return input_fields(model.model_json_schema())


@pytest.fixture(autouse=True)
def _no_model() -> Iterator[None]:
    yield
    set_chat_model_factory(None)


def test_the_model_is_shown_only_the_fields_a_request_can_state() -> None:
    """KC-001: a company and one director, no documents, no country, no PEP: the form's 29 fields become the
    ones this request can fill (the model ran out of tokens on all 29, and copied one name into every one)."""
    fields = _fields("kyc_review")
    shown = {f.key for f in relevant_fields(fields, "Check Meridian Freight BV, director Tomás Ruiz born 21 July 1976")}
    assert "case.related_parties.0.name" in shown and "case.related_parties.0.dob" in shown
    assert not any(k.startswith(("case.related_parties.1.", "case.documents.")) for k in shown)
    assert not any(k.endswith((".country", ".pep", "trading_name")) for k in shown)
    assert len(shown) < len(fields) / 2
    # two roles written: two parties; "PEP" and a country written: their fields
    two = "K-1044: Kappa Media GmbH (Germany). Signatory Felix Wagner; beneficial owner Nina Wagner, a PEP"
    shown = {f.key for f in relevant_fields(fields, two)}
    assert {"case.related_parties.1.name", "case.customer.country", "case.customer.pep"} <= shown
    # a prior claim only when the request speaks of one (the claims input's own x-intake-when words)
    claims = _fields("claims")
    assert not any("prior_claims" in f.key for f in relevant_fields(claims, "Claim CL-1, parcel lost, lost 2 May 2026"))
    earlier = "Claim CL-1, damage; an earlier claim CL-4200 was a loss"
    assert any("prior_claims.0" in f.key for f in relevant_fields(claims, earlier))


async def test_an_answer_cut_off_keeps_its_finished_fields() -> None:
    fields = _fields("loan_triage")
    names = model_keys(fields)
    pairs = [(names["application.application_id"], "A-9"), (names["application.applicant_id"], "P-1")]
    cut = json.dumps(dict(pairs))[:-1] + f', "{names["application.amount"]}": "12,0'
    set_chat_model_factory(lambda: GenericFakeChatModel(messages=iter([AIMessage(content=cut)])))
    reading = await read_message("Triage A-9 for applicant P-1: 12,000 for a kitchen", fields, "Loans")
    # the amount was being written when the answer stopped: it is asked for, never taken half-written
    assert reading.values == {"application.application_id": "A-9", "application.applicant_id": "P-1"}
    assert reading.model is not None and "cut off" in str(reading.model["reason"])


def test_money_percent_dates_countries_and_currencies_as_people_write_them() -> None:
    term = Field(("a", "term_months"), "integer", False, "term months", schema={"minimum": 6, "maximum": 120})
    amount = Field(("a", "amount"), "number", True, "amount", schema={})
    rate = Field(("a", "annual_rate"), "number", False, "annual rate", schema={"minimum": 0, "maximum": 0.5})
    text = "A-5: 20.000 EUR over 3 years at 7.9%"
    assert ground(term, "20", text) is None  # LC bench: "20.000 EUR" read as a 20-month term
    assert ground(amount, "20.000", text) == 20000
    assert ground(rate, "7.9%", text) == pytest.approx(0.079)  # the rate field holds a fraction (LP-3.6)
    assert ground(amount, "1.250", "Schaden 1.250 €") == 1250  # money is not written to three decimals
    dob = Field(("c", "dob"), "date", False, "date of birth")
    assert ground(dob, "21 July 1976", "director Tomás Ruiz born 21 July 1976") == "1976-07-21"
    assert ground(dob, "4 mars 1968", "gérant Jean-Luc Dubois né le 4 mars 1968") == "1968-03-04"
    country = Field(("c", "country"), "country", False, "country")
    assert ground(country, "Spain", "K-1005: Ana García, Spain") == "ES"
    assert ground(country, "Norway", "K-1005: Ana García, Spain") is None  # the worked example's country
    currency = Field(("c", "currency"), "currency", False, "currency")
    assert ground(currency, "NL-445566", "Northline NL-445566, loss") is None
    assert ground(currency, "EURO", "claiming 900 euro") == "EUR"


def test_names_free_text_and_identifiers_that_follow_their_word() -> None:
    fields = {f.key: f for f in _fields("claims")}
    carrier, description = fields["claim.shipment.carrier"], fields["claim.description"]
    policy = fields["claim.policy_id"]
    assert ground(carrier, "NL-60606", "Northline NL-60606, lost") is None  # an id is no carrier name
    assert ground(carrier, "Northline", "Northline NL-60606, lost") == "Northline"
    assert ground(description, "6,200 EUR", "loss, 6,200 EUR claimed") is None
    assert ground(description, "SwiftShip", "envío SwiftShip SS-313131 dañado") is None
    # CC-007: the tracking number is no policy id; "under CP-1035" is one
    assert ground(policy, "SS-600001", "Claim CL-5006, SwiftShip SS-600001, never arrived") is None
    assert ground(policy, "CP-1035", "Claim CL-5035 under CP-1035 for claimant PH-1035") == "CP-1035"
    kyc = {f.key: f for f in _fields("kyc_review")}
    assert ground(kyc["case.related_parties.0.name"], "individual", "Robert Brown, individual, Canada") is None
    # LC-055: gibberish has no identifiers in it, so nothing is read and the request is refused politely
    loan = {f.key: f for f in _fields("loan_triage")}
    assert ground(loan["application.application_id"], "asdf", "asdf qwerty zxcv lorem ipsum") is None
    assert ground(loan["application.application_id"], "A-9", "Triage A-9") == "A-9"


def test_a_value_goes_to_the_field_its_clause_names() -> None:
    loan = _fields("loan_triage")
    text = "Application A-31 for P-32: 9,000 for a car, income 3,100 a month, pays 420 a month on a mortgage"
    got = settle({"application.monthly_income": "420", "application.amount": "9,000"}, loan, text).values
    assert got == {"application.amount": 9000}  # LC bench: the mortgage payment as the income
    got = settle({"application.monthly_obligations": "420"}, loan, text).values
    assert got == {"application.monthly_obligations": 420}
    # LC-023: "par an" says the income is yearly
    text = "Dossier A-8008, client P-8009 : 22 000 € pour rénovation énergétique, revenus 47 000 € par an"
    assert settle({"application.monthly_income": "47 000"}, loan, text).values == {}
    assert settle({"application.annual_income": "47 000"}, loan, text).values == {"application.annual_income": 47000}
    kyc = _fields("kyc_review")
    text = "Case K-1037 customer C-2037 Kenji Tanaka person Japan, review date 1 December 2026"
    assert settle({"case.customer.dob": "1 December 2026"}, kyc, text).values == {}
    assert settle({"case.review_date": "1 December 2026"}, kyc, text).values == {"case.review_date": "2026-12-01"}


def test_what_follows_a_list_item_is_the_items() -> None:
    kyc = _fields("kyc_review")
    # KC-011: the beneficial owner's date of birth is not the company's
    text = (
        "KYC für Fall K-1010, Kunde C-2010: Müller Logistik GmbH, Deutschland, wirtschaftlich Berechtigter "
        "Jürgen Müller (RP-21), geboren 2. Juni 1958"
    )
    got = settle({"case.customer.dob": "2. Juni 1958", "case.customer.country": "DE"}, kyc, text).values
    assert got == {"case.customer.country": "DE"}
    # KC-013: a party without a name or id keeps nothing (the customer is the individual)
    text = "Please open KYC case K-1012 for Zhang Wei, individual, born 5 November 1988, China"
    raw = {"case.related_parties.0.type": "person", "case.related_parties.0.dob": "5 November 1988"}
    assert settle(raw, kyc, text).values == {}
    # KC-006: "she is a PEP" flags one field, not the customer and a party
    text = "K-1005 / C-2005: individual customer Ana María García López, Spain, she is a PEP"
    raw = {"case.customer.pep": "yes", "case.related_parties.0.pep": "yes", "case.customer.country": "Spain"}
    assert settle(raw, kyc, text).values == {"case.customer.country": "ES"}


def test_the_worked_example_values_never_reach_the_input() -> None:
    """Whatever the model copies from the worked example is dropped: its values are not in the request."""
    from agents.intake import worked_example

    claims = _fields("claims")
    text = "Claim CL-5012, policy CP-1013, claimant PH-1013, carrier Northline, tracking NL-55555, damage"
    shown = relevant_fields(claims, text)
    example = json.loads(worked_example(shown, text).split("\nJSON: ")[1])
    names = {v: k for k, v in model_keys(shown).items()}
    copied = {names[k]: v for k, v in example.items() if v}
    assert copied and settle(copied, claims, text).values == {}


def test_values_the_final_bench_run_still_put_in_the_wrong_place() -> None:
    """From the gemma3-270m and smollm2-135m chat bench logs of this intake (each request from the suites)."""
    claims = _fields("claims")
    # CC-001: the shipment's number is no claim id ("on shipment ZX-0042" names the shipment)
    text = "Claim on shipment ZX-0042, arrived damaged, goods worth 900"
    got = settle({"claim.claim_id": "ZX-0042", "claim.shipment.tracking_number": "ZX-0042"}, claims, text).values
    assert "claim.claim_id" not in got
    assert settle({"claim.shipment.tracking_number": "ZX-0042"}, claims, text).values == {
        "claim.shipment.tracking_number": "ZX-0042"
    }
    # CC-008: "Damage claim" repeats the claim type: it describes nothing
    text = "Damage claim CL-5007 under policy CP-1009, 1,120 claimed"
    assert settle({"claim.description": "Damage claim"}, claims, text).values == {}
    kyc = _fields("kyc_review")
    # KC-002: "1" of "born 1 January 1960" is no party id, and a party without an id or name keeps nothing
    text = "KYC case K-1001 for customer C-2001: Anna Keller, a private individual, born 1 January 1960"
    raw = {"case.related_parties.0.party_id": "1", "case.related_parties.0.dob": "1 January 1960"}
    assert settle(raw, kyc, text).values == {}
    loan = _fields("loan_triage")
    # LC-013 / LC-011 / LC-018: an income or an obligation is taken only where the request names it
    text = "Application A-2020, applicant P-2021: 4,000 for a laptop and furniture, earns 2,300 a month, score 655"
    assert settle({"application.annual_income": "4,000"}, loan, text).values == {}
    assert settle({"application.monthly_income": "2,300"}, loan, text).values == {"application.monthly_income": 2300}
    text = "Triage application A-6600 for applicant P-6601: £12,500 for a car, salary £48,000 per annum, score 705"
    assert settle({"application.monthly_obligations": "12,500"}, loan, text).values == {}
    assert settle({"application.annual_income": "48,000"}, loan, text).values == {"application.annual_income": 48000}


def test_a_day_is_no_amount_and_one_id_for_three_fields_is_none_of_them() -> None:
    claims = _fields("claims")
    # CC-046: the "3" of "3 Nov 2026" (and the example's "3 May 1980") is no declared value
    text = "Claim CL-5043 on policy CP-1043, claimant PH-1043, tracking SS-303404, delay, reported 3 Nov 2026"
    assert settle({"claim.declared_value": "3 May 1980"}, claims, text).values == {}
    assert settle({"claim.declared_value": "3"}, claims, text).values == {}
    # CC-047: one id written once, given as the claim, the policy and the claimant: asked for, never picked
    text = "claim for NL-505606, loss"
    raw = {"claim.claim_id": "NL-505606", "claim.policy_id": "NL-505606", "claim.claimant_id": "NL-505606"}
    assert settle(raw, claims, text).values == {}
    # CC-037: a number nobody calls a declared value is not one
    assert settle({"claim.declared_value": "300"}, claims, "Customer wants 300 for a late delivery").values == {}
    assert settle({"claim.declared_value": "900"}, claims, "goods worth 900").values == {"claim.declared_value": 900}
