"""Writes the KYC eval suites ``evals/suites/kyc_handbook.jsonl`` and ``kyc_traffic.jsonl`` from the KYC procedure.

Independence from the code under test: this module imports neither the rules engine, nor the rulesets, nor
``tools.kyc``. Each case is written from a section of ``tools/data/corpus/kyc_procedure.md`` (cited in its
``cites``): the thresholds below are the procedure's numbers as a reviewer reads them (92 days for a proof of
address, an identity document valid on its expiry day, two differing digits to contradict a date of birth,
the high-risk list of KYC-4.1), and the names are chosen as what the procedure says about them (the listed
name in another script, reordered, with particles, a listed alias; or an ordinary name that is not listed).
The expected decision and who must approve follow from the procedure's outcomes (KYC-5, KYC-7):

- a field a rule needs is missing -> ``incomplete`` (KYC-2.4), nothing proposed;
- a confirmed match (strong name, a listed date of birth day for day, or a matching country where no date can
  be compared) -> ``escalated``, the escalation approved by an analyst (KYC-3.3, KYC-5.3);
- a possible match, a PEP, a high-risk jurisdiction or an untransliterable name, for any party -> ``review``,
  escalated to an analyst (KYC-3.4 to 3.7, KYC-4);
- otherwise missing, stale or expired documents -> ``documents_requested`` (KYC-2.3, KYC-2.5);
- otherwise ``cleared``: straight through for a natural person with no candidate and fresh, dated documents
  (KYC-7.1), else approved by an analyst (KYC-7.2).

``python -m agents.kyc_review.suites`` rewrites both files; a unit test checks the files are its output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SUITES = Path(__file__).parents[2] / "evals" / "suites"
REVIEW_DATE = "2026-11-30"
FRESH_ADDRESS = "2026-10-15"  # 46 days before the review date (KYC-2.5: at most 92)
ID_EXPIRY = "2031-05-31"
FRESH_REGISTRY = "2026-10-20"
HIGH_RISK = ["IR", "KP", "MM", "SY", "YE", "AF"]  # KYC-4.1, procedure version 2026.12
P = "kyc-procedure#"


def _person_docs(address: str = FRESH_ADDRESS, expiry: str = ID_EXPIRY) -> list[dict[str, Any]]:
    return [{"type": "photo_id", "expires_on": expiry}, {"type": "proof_of_address", "issued_on": address}]


def _org_docs(registry: str = FRESH_REGISTRY) -> list[dict[str, Any]]:
    return [
        {"type": "registry_extract", "issued_on": registry},
        {"type": "ubo_declaration"},
        {"type": "director_ids"},
    ]


def _sole_docs(registry: str = FRESH_REGISTRY) -> list[dict[str, Any]]:
    return [*_person_docs(), {"type": "registry_extract", "issued_on": registry}]


def _person(n: str, name: str, dob: str | None = "1985-04-12", country: str | None = "DE", **kw: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"customer_id": f"C-{n}", "name": name, "type": "person"}
    if dob:
        c["dob"] = dob
    if country:
        c["country"] = country
    return {**c, **kw}


def _org(n: str, name: str, country: str = "NL") -> dict[str, Any]:
    return {"customer_id": f"C-{n}", "name": name, "type": "organisation", "country": country}


def _controllers(
    n: str, director: str = "Sofie Jansen", owner: str = "Pieter de Wit", **extra: Any
) -> list[dict[str, Any]]:
    return [
        {"party_id": f"D-{n}", "name": director, "role": "director", "dob": "1971-02-03", "country": "NL"},
        {"party_id": f"U-{n}", "name": owner, "role": "beneficial_owner", "dob": "1966-09-17", "country": "NL"},
    ]


class _Writer:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.cases: list[dict[str, Any]] = []

    def add(
        self,
        slug: str,
        description: str,
        customer: dict[str, Any],
        decision: str,
        cites: list[str],
        *,
        related: list[dict[str, Any]] | None = None,
        documents: list[dict[str, Any]] | None = None,
        provided: list[str] | None = None,
        approvals: list[str] | None = None,
        tags: list[str] | None = None,
        outcome: dict[str, Any] | None = None,
        reject: list[str] | None = None,
    ) -> None:
        n = f"{len(self.cases) + 1:03d}"
        case_id = f"{self.prefix}-{n}"
        customer = {**customer, "customer_id": f"C-{case_id}"}
        body: dict[str, Any] = {"case_id": case_id, "review_date": REVIEW_DATE, "customer": customer}
        if related:
            body["related_parties"] = [{**p, "party_id": f"{p['party_id']}-{n}"} for p in related]
        if documents is not None:
            body["documents"] = documents
        if provided is not None:
            body["documents_provided"] = provided
        approvals = approvals or []
        by = "eval-approver" if decision == "cleared" and "approve_onboarding" in approvals else "rules"
        if decision in ("escalated", "review", "documents_requested"):
            by = "eval-approver"
        expected_outcome = {"decision": decision, **({"decided_by": by} if decision != "incomplete" else {})}
        decisions = {tool: ("reject" if tool in (reject or []) else "approve") for tool in approvals}
        self.cases.append(
            {
                "id": f"{case_id}-{slug}",
                "description": description,
                "cites": cites,
                "tags": tags or [slug.split("-")[0]],
                "input": {"case": body},
                "decisions": decisions,
                "expected": {
                    "outcome": {**expected_outcome, **(outcome or {})},
                    "approvals": approvals,
                    "guard_blocks": [],
                },
            }
        )


def handbook_cases() -> list[dict[str, Any]]:
    """The handbook suite: every rule of the procedure below, at and above its threshold."""
    w = _Writer("KH")
    stp = ["clear"]
    # --- KYC-7.1 straight through: natural persons, unlisted names in many scripts, fresh dated documents ---
    for name, country, dob in [
        ("Anna Berg", "FR", "1990-08-11"),
        ("Lukas Hoffmann", "DE", "1979-01-30"),
        ("Анна Смирнова", "EE", "1992-06-07"),
        ("Ελένη Νικολάου", "GR", "1984-10-19"),
        ("李娜", "SG", "1995-02-28"),
        ("Søren Kierkegaard-Holm", "DK", "1970-12-24"),
        ("María José Fernández", "ES", "1988-03-03"),
        ("Αλέξανδρος Οικονόμου", "CY", "1975-05-15"),
        ("Ірина Шевчук", "PL", "1983-09-09"),
        ("佐藤 さくら", "JP", "1991-07-21"),
    ]:
        w.add(
            "clear-stp",
            f"{name}: natural person, not listed, no PEP, {country} not high-risk, fresh dated documents.",
            _person("", name, dob, country),
            "cleared",
            [P + "KYC-7.1", P + "KYC-3.7"],
            documents=_person_docs(),
            tags=stp + ["stp"],
        )
    # --- KYC-2.5 freshness thresholds: proof of address 92 days; identity document valid on its expiry day ---
    for address, days, decision in [
        ("2026-08-31", 91, "cleared"),
        ("2026-08-30", 92, "cleared"),
        ("2026-08-29", 93, "documents_requested"),
        ("2026-05-01", 213, "documents_requested"),
        ("2026-12-01", -1, "documents_requested"),
    ]:
        w.add(
            f"address-{'fresh' if decision == 'cleared' else 'stale'}",
            f"Proof of address dated {address}, {days} days before the review (KYC-2.5: at most 92, not after it).",
            _person("", "Jonas Lindqvist", "1987-11-02", "SE"),
            decision,
            [P + "KYC-2.5", P + ("KYC-7.1" if decision == "cleared" else "KYC-2.3")],
            documents=_person_docs(address=address),
            approvals=[] if decision == "cleared" else ["request_documents"],
            outcome={} if decision == "cleared" else {"missing_documents": ["proof_of_address"]},
            tags=["freshness"],
        )
    for expiry, decision in [
        ("2026-11-30", "cleared"),
        ("2026-12-01", "cleared"),
        ("2026-11-29", "documents_requested"),
    ]:
        w.add(
            f"id-{'valid' if decision == 'cleared' else 'expired'}",
            f"Identity document expires {expiry}; the review is on {REVIEW_DATE} (valid on its expiry day, KYC-2.5).",
            _person("", "Chiara Romano", "1993-04-18", "IT"),
            decision,
            [P + "KYC-2.5"],
            documents=_person_docs(expiry=expiry),
            approvals=[] if decision == "cleared" else ["request_documents"],
            outcome={} if decision == "cleared" else {"missing_documents": ["photo_id"]},
            tags=["freshness"],
        )
    for registry, decision in [("2026-08-30", "cleared"), ("2026-08-29", "documents_requested")]:
        w.add(
            f"registry-{'fresh' if decision == 'cleared' else 'stale'}",
            f"Company registry extract dated {registry} (KYC-2.5: at most 92 days); a company clearance is an "
            "analyst's (KYC-7.2).",
            _org("", "Meridian Freight BV"),
            decision,
            [P + "KYC-2.5", P + "KYC-7.2"],
            related=_controllers("RG"),
            documents=_org_docs(registry=registry),
            approvals=["approve_onboarding"] if decision == "cleared" else ["request_documents"],
            outcome={} if decision == "cleared" else {"missing_documents": ["registry_extract"]},
            tags=["freshness", "organisation"],
        )
    # --- KYC-2.3 missing documents; KYC-2.5 undated documents exclude the straight-through tier ---
    for provided, missing in [(["photo_id"], "proof_of_address"), (["proof_of_address"], "photo_id")]:
        w.add(
            "documents-missing",
            f"Natural person without {missing}: requested, naming it (KYC-2.3).",
            _person("", "Tomasz Nowak", "1980-05-05", "PL"),
            "documents_requested",
            [P + "KYC-2.3", P + "KYC-5.2"],
            provided=provided,
            approvals=["request_documents"],
            outcome={"missing_documents": [missing]},
            tags=["documents"],
        )
    for name in ["Emma Dubois", "Mateo Silva"]:
        w.add(
            "clear-undated",
            f"{name}: clear, but documents given without dates cannot be verified fresh: an analyst clears (KYC-2.5).",
            _person("", name, "1989-12-12", "PT"),
            "cleared",
            [P + "KYC-2.5", P + "KYC-7.2"],
            provided=["photo_id", "proof_of_address"],
            approvals=["approve_onboarding"],
            tags=["clear", "undated"],
        )
    w.add(
        "clear-undated-rejected",
        "The analyst rejects an onboarding clearance: the customer is not onboarded (KYC-7.2).",
        _person("", "Emma Dubois", "1989-12-12", "PT"),
        "cleared-rejected",
        [P + "KYC-7.2"],
        provided=["photo_id", "proof_of_address"],
        approvals=["approve_onboarding"],
        reject=["approve_onboarding"],
        outcome={"decided_by": "eval-approver"},
        tags=["clear", "rejected"],
    )
    # --- KYC-2.4 missing data: refer naming the field ---
    w.add(
        "incomplete-dob",
        "A natural person without a date of birth: incomplete, naming case.customer.dob (KYC-2.4).",
        _person("", "Jonas Berg", None, "SE"),
        "incomplete",
        [P + "KYC-2.4"],
        documents=_person_docs(),
        outcome={"missing": ["case.customer.dob"]},
        tags=["incomplete"],
    )
    w.add(
        "incomplete-country",
        "A natural person without a country: incomplete, naming case.customer.country (KYC-2.4).",
        _person("", "Jonas Berg", "1982-02-02", None),
        "incomplete",
        [P + "KYC-2.4"],
        documents=_person_docs(),
        outcome={"missing": ["case.customer.country"]},
        tags=["incomplete"],
    )
    w.add(
        "incomplete-sole-dob",
        "A sole proprietor is a natural person: no date of birth is incomplete (KYC-2.4, KYC-2.6).",
        {**_person("", "Olena Kovalenko", None, "PL"), "type": "sole_proprietor"},
        "incomplete",
        [P + "KYC-2.4", P + "KYC-2.6"],
        documents=_sole_docs(),
        outcome={"missing": ["case.customer.dob"]},
        tags=["incomplete", "sole_proprietor"],
    )
    for related, fields in [
        ([], ["case.related_parties[role=director]", "case.related_parties[role=beneficial_owner]"]),
        (_controllers("X")[:1], ["case.related_parties[role=beneficial_owner]"]),
        (_controllers("X")[1:], ["case.related_parties[role=director]"]),
        (
            [{"party_id": "S", "name": "Ruth Meyer", "role": "signatory", "dob": "1977-07-07", "country": "NL"}],
            ["case.related_parties[role=director]", "case.related_parties[role=beneficial_owner]"],
        ),
    ]:
        w.add(
            "incomplete-controllers",
            "A company is never cleared without its controllers: missing " + ", ".join(fields) + " (KYC-2.2, 2.4).",
            _org("", "Delta Logistics BV"),
            "incomplete",
            [P + "KYC-2.2", P + "KYC-2.4"],
            related=related,
            documents=_org_docs(),
            outcome={"missing": fields},
            tags=["incomplete", "organisation"],
        )
    # --- KYC-3.3 / 3.7 confirmed matches across scripts, aliases, order, particles (listed date, day for day) ---
    for name, dob, country, why in [
        ("Виктор Морозов", "1961-03-14", "DE", "listed name in Cyrillic (patronymic omitted)"),
        ("Viktor Aleksandrovich Morozov", "1961-03-14", "DE", "listed name as written"),
        ("Morozov Viktor", "1961-03-14", "DE", "listed name, words reordered"),
        ("Victor Morozov", "1961-03-14", "DE", "listed alias"),
        ("محمد الرشيدي", "1975-07-02", "DE", "listed Arabic-script alias"),
        ("Muhammad al Rashidi", "1975-07-02", "DE", "listed alias with the particle al"),
        ("陈立伟", "1980-11-30", "SG", "listed Chinese-script alias"),
        ("王俊豪", "1981-01-01", "SG", "listed Chinese-script alias"),
        ("Δήμητρα Αλεξίου", "1986-05-17", "DE", "listed Greek-script alias"),
        ("Олександр Бондаренко", "1980-04-04", "PL", "Ukrainian Cyrillic of a listed name"),
        ("Alexander Bondarenko", "1980-04-04", "PL", "listed English alias"),
        ("Henk Berg", "1962-08-30", "NL", "listed alias without its particles 'van den'"),
        ("Hendrik van der Berg", "1962-08-30", "NL", "listed name with particles"),
        ("Елена Волкова", "1977-12-03", "DE", "listed name in Cyrillic"),
        ("Rustam Nazarov", "1973-02-14", "DE", "the first of two listed dates of birth"),
        ("Rustam Nazarov", "1974-02-14", "DE", "the second of two listed dates of birth"),
        ("Pavel Grigorenko", "1971-08-08", "DE", "the second of two listed dates of birth"),
        ("Евгений Орлов", "1968-05-05", "DE", "listed name in Cyrillic"),
    ]:
        w.add(
            "confirmed",
            f"{name}: {why}; date of birth equals a listed one: confirmed, escalated (KYC-3.3, KYC-5.3).",
            _person("", name, dob, country),
            "escalated",
            [P + "KYC-3.3", P + "KYC-3.7", P + "KYC-5.3"],
            documents=_person_docs(),
            approvals=["escalate_case"],
            tags=["confirmed", "scripts"],
        )
    w.add(
        "confirmed-country",
        "A listed name with no listed date of birth and a matching country: confirmed (KYC-3.3).",
        _person("", "Darya Petrenko", "1983-03-08", "BY"),
        "escalated",
        [P + "KYC-3.3", P + "KYC-5.3"],
        documents=_person_docs(),
        approvals=["escalate_case"],
        tags=["confirmed"],
    )
    # --- KYC-3.5 dates of birth: one differing digit keeps the match; two or more contradict ---
    for dob, digits, decision in [
        ("1961-03-15", 1, "review"),
        ("1961-08-14", 1, "review"),
        ("1971-03-14", 1, "review"),
        ("1961-04-15", 2, "cleared"),
        ("1990-01-01", 6, "cleared"),
    ]:
        w.add(
            "dob-typo" if digits == 1 else "dob-contradicts",
            f"Viktor Morozov born {dob}: {digits} digit(s) differ from the listed 1961-03-14 (KYC-3.5: one digit "
            f"never clears; two or more contradict, and the clearance after a cleared match is an analyst's).",
            _person("", "Viktor Morozov", dob, "DE"),
            decision,
            [P + "KYC-3.5", P + ("KYC-3.4" if digits == 1 else "KYC-7.2")],
            documents=_person_docs(),
            approvals=["escalate_case"] if decision == "review" else ["approve_onboarding"],
            tags=["dob"],
        )
    for dob, decision, why in [
        ("1959-06-01", "review", "same year as a year-only listed date"),
        ("1960-01-20", "review", "same year as the second year-only listed date"),
        ("1969-06-01", "review", "one digit from a year-only listed date"),
        ("1948-06-01", "cleared", "two digits from both year-only listed dates"),
    ]:
        w.add(
            "dob-year-only",
            f"Γεώργιος Παπαδάκης born {dob}: {why} (listed 1959 and 1960; KYC-3.5).",
            _person("", "Γεώργιος Παπαδάκης", dob, "DE"),
            decision,
            [P + "KYC-3.5", P + "KYC-3.7"],
            documents=_person_docs(),
            approvals=["escalate_case"] if decision == "review" else ["approve_onboarding"],
            tags=["dob", "scripts"],
        )
    for name, dob in [("Khalid bin Saeed Al-Harbi", "1978-03-03"), ("خالد بن سعيد الحربي", "1978-11-23")]:
        w.add(
            "dob-year-only",
            f"{name}: listed with the year 1978 only; a year match neither confirms nor clears (KYC-3.5).",
            _person("", name, dob, "DE"),
            "review",
            [P + "KYC-3.5", P + "KYC-3.7"],
            documents=_person_docs(),
            approvals=["escalate_case"],
            tags=["dob", "scripts"],
        )
    w.add(
        "dob-several-contradict",
        "Rustam Nazarov born 1984-03-15: two or more digits from both listed dates (KYC-3.5); cleared by an analyst.",
        _person("", "Rustam Nazarov", "1984-03-15", "DE"),
        "cleared",
        [P + "KYC-3.5", P + "KYC-7.2"],
        documents=_person_docs(),
        approvals=["approve_onboarding"],
        tags=["dob"],
    )
    w.add(
        "dob-several-typo",
        "Rustam Nazarov born 1974-02-15: one digit from the second listed date (KYC-3.5): review.",
        _person("", "Rustam Nazarov", "1974-02-15", "DE"),
        "review",
        [P + "KYC-3.5"],
        documents=_person_docs(),
        approvals=["escalate_case"],
        tags=["dob"],
    )
    # --- KYC-3.6 weak aliases ---
    for dob, decision in [("1975-07-02", "review"), ("1975-07-12", "review"), ("1990-02-02", "cleared")]:
        w.add(
            "weak-alias",
            f"'Abu Karim' (born {dob}) matches only a listed weak alias, which never confirms (KYC-3.6); "
            + (
                "a date of birth that contradicts the listing clears it, and an analyst clears the case (KYC-3.4)."
                if decision == "cleared"
                else "a possible match for an analyst."
            ),
            _person("", "Abu Karim", dob, "DE"),
            decision,
            [P + "KYC-3.6", P + ("KYC-3.4" if decision == "cleared" else "KYC-5.3")],
            documents=_person_docs(),
            approvals=["escalate_case"] if decision == "review" else ["approve_onboarding"],
            tags=["alias"],
        )
    # --- KYC-3.4 entity type: a person is not a listed company, and an unknown type never clears ---
    w.add(
        "type-contradicts",
        "A natural person named like a listed company: the entity type contradicts, an analyst clears (KYC-3.4).",
        _person("", "Northwind Arms Brokerage", "1980-01-01", "DE"),
        "cleared",
        [P + "KYC-3.4", P + "KYC-7.2"],
        documents=_person_docs(),
        approvals=["approve_onboarding"],
        tags=["type"],
    )
    # --- KYC-3.7 a script that cannot be transliterated: screened in the original, to an analyst ---
    for name, script in [("ꦱꦸꦢꦂꦩꦤ꧀ ꦮꦶꦗꦪ", "Javanese"), ("ⴰⵎⴰⵣⵉⵖ ⵓⵙⴰⵎ", "Tifinagh"), ("ᠪᠠᠲᠤ", "Mongolian")]:
        w.add(
            "unsupported-script",
            f"A name in {script}, which the transliterator cannot handle: never silently cleared (KYC-3.7).",
            _person("", name, "1986-06-06", "DE"),
            "review",
            [P + "KYC-3.7"],
            documents=_person_docs(),
            approvals=["escalate_case"],
            tags=["scripts"],
        )
    # --- KYC-4.1 high-risk jurisdictions: the customer's, and any related party's ---
    for country in HIGH_RISK:
        w.add(
            "edd-customer",
            f"Customer resident in {country} (KYC-4.1 list): enhanced due diligence, to an analyst; source of funds.",
            _person("", "Samuel Okafor", "1981-10-10", country),
            "review",
            [P + "KYC-4.1"],
            documents=[*_person_docs(), {"type": "source_of_funds"}],
            approvals=["escalate_case"],
            tags=["edd"],
        )
    w.add(
        "edd-customer-no-funds",
        "Customer in IR without a source-of-funds statement: review, and the statement is requested (KYC-4.1).",
        _person("", "Samuel Okafor", "1981-10-10", "IR"),
        "review",
        [P + "KYC-4.1", P + "KYC-2.3"],
        documents=_person_docs(),
        approvals=["escalate_case", "request_documents"],
        tags=["edd"],
    )
    for role, country in [("beneficial_owner", "IR"), ("director", "SY"), ("signatory", "AF")]:
        related = _controllers("E")
        if role == "signatory":
            related.append({"party_id": "S", "name": "Kareem Nasser", "role": role, "dob": "1979-03-03"})
        target = next(p for p in related if p["role"] == role)
        target["country"] = country
        w.add(
            "edd-related",
            f"A company whose {role} lives in {country}: EDD for any party (KYC-4.1), never cleared by the rules.",
            _org("", "Meridian Freight BV"),
            "review",
            [P + "KYC-4.1", P + "KYC-3.1"],
            related=related,
            documents=[*_org_docs(), {"type": "source_of_funds"}],
            approvals=["escalate_case"],
            tags=["edd", "related"],
        )
    for country in ["AE", "TR", "RU"]:
        w.add(
            "not-high-risk",
            f"Customer in {country}, not on the KYC-4.1 list: no EDD, straight through when otherwise clear.",
            _person("", "Leyla Demir", "1990-01-25", country),
            "cleared",
            [P + "KYC-4.1", P + "KYC-7.1"],
            documents=_person_docs(),
            tags=["edd", "stp"],
        )
    # --- KYC-4.2 PEPs: the customer's, and any related party's ---
    w.add(
        "pep-customer",
        "The customer is a PEP: source of wealth and senior review (KYC-4.2).",
        _person("", "Hanna Virtanen", "1969-08-08", "FI", pep=True),
        "review",
        [P + "KYC-4.2"],
        documents=[*_person_docs(), {"type": "source_of_wealth"}],
        approvals=["escalate_case"],
        tags=["pep"],
    )
    w.add(
        "pep-customer-no-wealth",
        "A PEP without a source-of-wealth statement: review, and the statement is requested (KYC-4.2, 2.3).",
        _person("", "Hanna Virtanen", "1969-08-08", "FI", pep=True),
        "review",
        [P + "KYC-4.2", P + "KYC-2.3"],
        documents=_person_docs(),
        approvals=["escalate_case", "request_documents"],
        tags=["pep"],
    )
    for role in ["director", "beneficial_owner", "signatory"]:
        related = _controllers("P")
        if role == "signatory":
            related.append({"party_id": "S", "name": "Ruth Meyer", "role": role, "dob": "1977-07-07", "country": "NL"})
        next(p for p in related if p["role"] == role)["pep"] = True
        w.add(
            "pep-related",
            f"A company whose {role} is a PEP: review for any party (KYC-4.2, FATF R.12).",
            _org("", "Meridian Freight BV"),
            "review",
            [P + "KYC-4.2"],
            related=related,
            documents=[*_org_docs(), {"type": "source_of_wealth"}],
            approvals=["escalate_case"],
            tags=["pep", "related"],
        )
    # --- KYC-3.1 every party screened: listed directors, owners, signatories, in any script ---
    for role, name, dob, why in [
        ("director", "Виктор Морозов", "1961-03-14", "director listed, written in Cyrillic"),
        ("beneficial_owner", "Wang Junhao", "1981-01-01", "beneficial owner listed, other word breaks"),
        ("beneficial_owner", "王俊豪", "1981-01-01", "beneficial owner listed, in Chinese script"),
        ("director", "Nazarov Rustam", "1974-02-14", "director listed, reordered, second listed date"),
    ]:
        related = _controllers("M")
        target = next(p for p in related if p["role"] == role)
        target.update(name=name, dob=dob, country="NL")
        w.add(
            "related-confirmed",
            f"A company whose {why}: confirmed, escalated (KYC-3.1, KYC-3.3, KYC-5.3).",
            _org("", "Meridian Freight BV"),
            "escalated",
            [P + "KYC-3.1", P + "KYC-3.3", P + "KYC-5.3"],
            related=related,
            documents=_org_docs(),
            approvals=["escalate_case"],
            tags=["related", "confirmed"],
        )
    related = _controllers("S")
    related.append({"party_id": "S", "name": "Samira Bakr", "role": "signatory", "dob": "1990-09-21", "country": "NL"})
    w.add(
        "related-signatory",
        "A company whose authorised signatory is listed (same date of birth): escalated (KYC-3.1).",
        _org("", "Meridian Freight BV"),
        "escalated",
        [P + "KYC-3.1", P + "KYC-5.3"],
        related=related,
        documents=_org_docs(),
        approvals=["escalate_case"],
        tags=["related", "confirmed"],
    )
    w.add(
        "related-possible",
        "A company whose director has a listed name and a date one digit off: review (KYC-3.5).",
        _org("", "Meridian Freight BV"),
        "review",
        [P + "KYC-3.1", P + "KYC-3.5"],
        related=[{**_controllers("Q")[0], "name": "Farhad Rezaei", "dob": "1972-01-16"}, _controllers("Q")[1]],
        documents=_org_docs(),
        approvals=["escalate_case"],
        tags=["related", "dob"],
    )
    # --- organisations: listed companies, clean companies (an analyst clears, KYC-7.2) ---
    for name, country, decision, why in [
        ("Helios Maritime Trading L.L.C.", "AE", "escalated", "listed company, legal form written differently"),
        ("Helios Marine Trading", "AE", "escalated", "listed alias"),
        ("Zhongshan Dual-Use Machinery Co.", "CN", "escalated", "listed organisation, matching country"),
        ("中山两用机械", "CN", "escalated", "listed Chinese-script alias, matching country"),
        ("Arktika Trade Partners", "RU", "escalated", "listed legal entity, matching country"),
        ("Arktika Trade Partners", "DE", "review", "listed legal entity, country differs: unresolved"),
        ("Meridian Freight BV", "NL", "cleared", "not listed; an analyst clears a company"),
        ("Nordlicht Software GmbH", "DE", "cleared", "not listed; an analyst clears a company"),
    ]:
        w.add(
            "organisation",
            f"{name} ({country}): {why} (KYC-3.3, KYC-3.4, KYC-7.2).",
            _org("", name, country),
            decision,
            [P + "KYC-3.3", P + ("KYC-7.2" if decision == "cleared" else "KYC-5.3")],
            related=_controllers("O"),
            documents=_org_docs(),
            approvals={"escalated": ["escalate_case"], "review": ["escalate_case"]}.get(
                decision, ["approve_onboarding"]
            ),
            tags=["organisation"],
        )
    # --- KYC-2.6 sole proprietors are natural persons ---
    for name, dob, decision, why in [
        ("Alexander Bondarenko", "1980-04-04", "escalated", "matches a listed person's alias"),
        ("Олександр Бондаренко", "1980-04-04", "escalated", "the listed person's name in Cyrillic"),
        ("Nadia Karimova", "1988-07-19", "escalated", "a listed person"),
        ("Ingrid Solberg", "1984-04-14", "cleared", "not listed; a sole proprietor's clearance is an analyst's"),
    ]:
        w.add(
            "sole-proprietor",
            f"Sole proprietor {name}: {why} (KYC-2.6, KYC-3.3).",
            {**_person("", name, dob, "PL"), "type": "sole_proprietor", "trading_name": "Atelier Nord"},
            decision,
            [P + "KYC-2.6", P + ("KYC-7.2" if decision == "cleared" else "KYC-5.3")],
            documents=_sole_docs(),
            approvals=["escalate_case"] if decision == "escalated" else ["approve_onboarding"],
            tags=["sole_proprietor"],
        )
    w.add(
        "sole-proprietor-trading-name",
        "A sole proprietor trading under a listed company's name: the trading name is screened too, without an "
        "entity type, so it is never cleared on the type (KYC-2.6).",
        {
            **_person("", "Ingrid Solberg", "1984-04-14", "AE"),
            "type": "sole_proprietor",
            "trading_name": "Helios Maritime Trading",
        },
        "escalated",
        [P + "KYC-2.6", P + "KYC-3.3"],
        documents=_sole_docs(),
        approvals=["escalate_case"],
        tags=["sole_proprietor"],
    )
    w.add(
        "sole-proprietor-no-registry",
        "A sole proprietor without a trade-register extract: requested (KYC-2.6, KYC-2.3).",
        {**_person("", "Ingrid Solberg", "1984-04-14", "PL"), "type": "sole_proprietor"},
        "documents_requested",
        [P + "KYC-2.6", P + "KYC-2.3"],
        documents=_person_docs(),
        approvals=["request_documents"],
        outcome={"missing_documents": ["registry_extract"]},
        tags=["sole_proprietor", "documents"],
    )
    # --- conflicting fields: a listed name with a contradicting country but the listed date of birth ---
    w.add(
        "conflict-country",
        "Listed name and listed date of birth, another country of residence: still confirmed (the date of birth "
        "decides, KYC-3.3).",
        _person("", "Ibrahim Yusuf Haddad", "1983-06-18", "FR"),
        "escalated",
        [P + "KYC-3.3"],
        documents=_person_docs(),
        approvals=["escalate_case"],
        tags=["conflict"],
    )
    w.add(
        "conflict-doc-dates",
        "A proof of address dated after the review date is inconsistent: requested again (KYC-2.5).",
        _person("", "Ana Lima", "1994-09-30", "PT"),
        "documents_requested",
        [P + "KYC-2.5"],
        documents=_person_docs(address="2027-01-10"),
        approvals=["request_documents"],
        outcome={"missing_documents": ["proof_of_address"]},
        tags=["conflict", "freshness"],
    )
    return w.cases


def traffic_cases() -> list[dict[str, Any]]:
    """A realistic onboarding day (proportions and their sources in ``evals/README.md``, "KYC suites"):
    61 cases, of which 42 standard retail persons (69 %), 7 screening alerts (11 %: 5 false positives that a
    date of birth contradicts, 1 true match, 1 unresolved), 3 document problems, 2 PEPs, 2 high-risk
    residents, 3 companies and 1 sole proprietor (analyst clearances), 1 company without a declared owner."""
    w = _Writer("KT")
    first = ["Anna", "Lukas", "Marta", "Jonas", "Elif", "Pierre", "Sara", "Mikko", "Ines", "Tomas", "Hana", "Luca",
             "Zofia", "Nikos", "Eva"]  # fmt: skip
    last = ["Keller", "Novak", "Berg", "Moreau", "Rossi", "Virtanen", "Costa", "Horvat"]
    countries = ["DE", "FR", "NL", "IT", "ES", "PL", "FI", "PT", "AT", "BE", "SE", "IE", "CZ", "GR"]
    scripts = ["Анна Кузнецова", "Νίκος Γεωργίου", "王芳", "Марія Коваль", "Δέσποινα Μαρκου", "김민준"]
    for i in range(42):
        name = scripts[i // 7] if i % 7 == 3 else f"{first[i % len(first)]} {last[(i * 3) % len(last)]}"
        dob = f"{1960 + (i * 7) % 40}-{1 + i % 12:02d}-{1 + (i * 5) % 28:02d}"
        w.add(
            "retail-clear",
            f"{name}: standard retail onboarding, not listed, fresh dated documents (KYC-7.1).",
            _person("", name, dob, countries[i % len(countries)]),
            "cleared",
            [P + "KYC-7.1"],
            documents=_person_docs(address=f"2026-{9 + i % 3:02d}-{1 + i % 27:02d}"),
            tags=["retail", "stp"],
        )
    for name, dob in [
        ("Viktor Morozov", "1988-10-02"),
        ("Chen Li Wei", "1995-05-05"),
        ("Marco Antonio Velasquez", "1990-12-12"),
        ("Samira Bakr", "1971-01-30"),
        ("Nadia Karimova", "1999-03-03"),
    ]:
        w.add(
            "alert-false-positive",
            f"{name} born {dob}: name alert, the date of birth contradicts the listing; an analyst clears (KYC-3.4, "
            "KYC-7.2).",
            _person("", name, dob, "DE"),
            "cleared",
            [P + "KYC-3.4", P + "KYC-7.2"],
            documents=_person_docs(),
            approvals=["approve_onboarding"],
            tags=["alert"],
        )
    w.add(
        "alert-true-match",
        "Listed person in Cyrillic with the listed date of birth: escalated (KYC-3.3, KYC-5.3).",
        _person("", "Евгений Орлов", "1968-05-05", "DE"),
        "escalated",
        [P + "KYC-3.3", P + "KYC-5.3"],
        documents=_person_docs(),
        approvals=["escalate_case"],
        tags=["alert"],
    )
    w.add(
        "alert-unresolved",
        "Listed name, date of birth one digit off: review (KYC-3.5).",
        _person("", "Farhad Rezaei", "1972-01-16", "DE"),
        "review",
        [P + "KYC-3.5"],
        documents=_person_docs(),
        approvals=["escalate_case"],
        tags=["alert"],
    )
    for docs, missing in [
        (_person_docs(address="2026-06-30"), "proof_of_address"),
        (_person_docs(expiry="2026-10-01"), "photo_id"),
        ([{"type": "photo_id", "expires_on": ID_EXPIRY}], "proof_of_address"),
    ]:
        w.add(
            "documents",
            f"{missing} stale, expired or missing: requested (KYC-2.3, KYC-2.5).",
            _person("", "Clara Weber", "1986-02-14", "AT"),
            "documents_requested",
            [P + "KYC-2.3", P + "KYC-2.5"],
            documents=docs,
            approvals=["request_documents"],
            outcome={"missing_documents": [missing]},
            tags=["documents"],
        )
    for i in range(2):
        w.add(
            "pep",
            "A politically exposed person: senior review (KYC-4.2).",
            _person("", ["Markus Lehtonen", "Ana Pereira"][i], "1964-06-06", "FI", pep=True),
            "review",
            [P + "KYC-4.2"],
            documents=[*_person_docs(), {"type": "source_of_wealth"}],
            approvals=["escalate_case"],
            tags=["pep"],
        )
    for country in ["IR", "MM"]:
        w.add(
            "edd",
            f"Resident in {country}: enhanced due diligence (KYC-4.1).",
            _person("", "Reza Karimi" if country == "IR" else "Aung Min", "1982-08-08", country),
            "review",
            [P + "KYC-4.1"],
            documents=[*_person_docs(), {"type": "source_of_funds"}],
            approvals=["escalate_case"],
            tags=["edd"],
        )
    for name in ["Baltic Parts OU", "Kestrel Analytics Ltd", "Vela Ceramics SRL"]:
        w.add(
            "company",
            f"{name}: company, controllers screened clear; an analyst clears (KYC-7.2).",
            _org("", name, "NL"),
            "cleared",
            [P + "KYC-2.2", P + "KYC-7.2"],
            related=_controllers("T"),
            documents=_org_docs(),
            approvals=["approve_onboarding"],
            tags=["organisation"],
        )
    w.add(
        "sole-proprietor",
        "A sole proprietor, not listed: an analyst clears (KYC-2.6, KYC-7.2).",
        {**_person("", "Petra Horak", "1979-11-11", "CZ"), "type": "sole_proprietor"},
        "cleared",
        [P + "KYC-2.6", P + "KYC-7.2"],
        documents=_sole_docs(),
        approvals=["approve_onboarding"],
        tags=["sole_proprietor"],
    )
    w.add(
        "company-no-owner",
        "A company that declares no beneficial owner: incomplete, naming the field (KYC-2.4).",
        _org("", "Harbor Nine BV", "NL"),
        "incomplete",
        [P + "KYC-2.4"],
        related=_controllers("N")[:1],
        documents=_org_docs(),
        outcome={"missing": ["case.related_parties[role=beneficial_owner]"]},
        tags=["incomplete"],
    )
    return w.cases


def render(name: str, cases: list[dict[str, Any]]) -> str:
    head = (
        f"# {name}: written from the KYC procedure (tools/data/corpus/kyc_procedure.md) by "
        "agents/kyc_review/suites.py, independently of the rules engine; each case cites its sections.\n"
    )
    return head + "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)


def write(directory: Path = SUITES) -> dict[str, Path]:
    out = {}
    for name, cases in (("kyc_handbook", handbook_cases()), ("kyc_traffic", traffic_cases())):
        path = directory / f"{name}.jsonl"
        path.write_text(render(name, cases), encoding="utf-8")
        out[name] = path
    return out


if __name__ == "__main__":
    for name, path in write().items():
        count = sum(1 for line in path.read_text().splitlines() if not line.startswith("#"))
        print(name, path, count)  # noqa: T201 - a command-line report
