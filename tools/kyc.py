"""KYC: sanctions screening with fuzzy name matching (rapidfuzz) against the list shipped in
``tools/data/sanctions.json`` (synthetic names), and the KYC document requirements.

A match carries its score, the method that produced it and reasons a person can check ("token order differs",
"transliteration variant", "middle name omitted"), the secondary identifiers compared, and the ``kyc_match``
rule that classified it. The classification is the rules engine's, not the matcher's (KYC procedure KYC-3).
"""

from __future__ import annotations

import builtins
import json
import re
import unicodedata
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools._settings import DATA_DIR
from tools.adapters import ActionReport, submit_action
from tools.registry import ExecutionGrant, register_tool
from tools.rules import load_ruleset

REPORT_THRESHOLD = 80.0
"""Matches below this score are not reported (KYC-3.2: below 80 is no match)."""

_HONORIFICS = {"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "sheikh", "haji", "hajji"}
_LEGAL_FORMS = {"llc", "ltd", "limited", "inc", "co", "corp", "gmbh", "sa", "sac", "as", "fze", "plc", "ag", "bv"}
# Spelling folds that make common transliteration variants collide (Mohammed/Muhammad, Aleksandr/Alexander,
# Yusuf/Yousef, Victor/Viktor): applied to both sides in a second comparison, whose score is discounted.
_FOLDS = [
    (r"ph", "f"),
    (r"kh", "h"),
    (r"ck", "k"),
    (r"c(?=[aou])", "k"),
    (r"x", "ks"),
    (r"w", "v"),
    (r"y", "i"),
    (r"j", "i"),
    (r"ou|oo", "u"),
    (r"ee", "i"),
    (r"(?<=[a-z])e(?=[dr]\b)", "a"),
    (r"o(?=[h]?am)", "u"),
    (r"([a-z])\1", r"\1"),
]


def normalise(name: str, organisation: bool = False) -> str:
    """Case, accents, punctuation, honorifics (and legal forms for organisations) removed; words kept in order."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"[^a-z0-9 ]+", " ", text.replace(".", ""))
    words = [w for w in text.split() if w not in _HONORIFICS]
    if organisation:
        words = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(words)


def fold(name: str) -> str:
    for pattern, repl in _FOLDS:
        name = re.sub(pattern, repl, name)
    return name


def name_score(query: str, listed: str) -> tuple[float, str, list[str]]:
    """(score 0-100, method, reasons) for two normalised names."""
    from rapidfuzz import fuzz

    reasons: list[str] = []
    best, method = float(fuzz.token_sort_ratio(query, listed)), "token_sort"
    if best == 100.0 and query != listed:
        reasons.append("same words in a different order")
    q_words, l_words = query.split(), listed.split()
    if min(len(q_words), len(l_words)) >= 2:
        extra = abs(len(q_words) - len(l_words))
        subset = float(fuzz.token_set_ratio(query, listed)) - 5.0 * extra
        if subset > best:
            best, method = subset, "token_subset"
            reasons.append(f"{extra} name part(s) omitted (e.g. a middle name or patronymic)")
    folded = float(fuzz.token_sort_ratio(fold(query), fold(listed))) - 2.0
    if min(len(q_words), len(l_words)) >= 2:
        extra = abs(len(q_words) - len(l_words))
        folded = max(folded, float(fuzz.token_set_ratio(fold(query), fold(listed))) - 5.0 * extra - 2.0)
    if folded > best:
        best, method = folded, "transliteration"
        reasons.append("spelling differs only by a transliteration variant")
    if not reasons and best < 100.0:
        reasons.append("similar spelling")
    if best == 100.0 and query == listed:
        reasons = ["identical name after normalisation"]
    return round(max(best, 0.0), 1), method, reasons


class SanctionsEntry(BaseModel):
    id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    type: Literal["person", "organisation"]
    dob: str | None = None
    country: str | None = None
    program: str


class SanctionsList(BaseModel):
    list: str
    version: str
    note: str = ""
    entries: builtins.list[SanctionsEntry]


@lru_cache(maxsize=1)
def sanctions_list() -> SanctionsList:
    return SanctionsList.model_validate_json((DATA_DIR / "sanctions.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def requirements() -> dict[str, Any]:
    """Required documents per customer type and for EDD / PEPs (KYC-2, KYC-4)."""
    data: dict[str, Any] = json.loads((DATA_DIR / "kyc_requirements.json").read_text())
    return data


def required_documents(customer_type: str, country: str | None, pep: bool) -> list[str]:
    req = requirements()
    docs = list(req[customer_type])
    if country and country.upper() in req["high_risk_jurisdictions"]:
        docs += req["enhanced_due_diligence"]
    if pep:
        docs += req["pep"]
    return docs


class Party(BaseModel):
    party_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=2, max_length=200)
    type: Literal["person", "organisation"] = "person"
    role: str = Field(default="customer", max_length=40)
    dob: str | None = Field(default=None, pattern=r"^\d{4}(-\d{2}-\d{2})?$")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


Classification = Literal["confirmed", "possible", "cleared", "no_match"]


class Match(BaseModel):
    entry_id: str
    listed_name: str
    matched_name: str
    program: str
    score: float
    method: str
    reasons: list[str]
    dob_status: Literal["match", "mismatch", "unknown"]
    country_status: Literal["match", "mismatch", "unknown"]
    type_status: Literal["match", "mismatch", "unknown"]
    classification: Classification
    rule_id: str | None
    rule_reason: str | None


class ScreeningResult(BaseModel):
    party_id: str
    name: str
    list: str
    list_version: str
    ruleset_version: str
    matches: builtins.list[Match]
    classification: Classification
    """The most severe classification among the matches (``no_match`` when there are none)."""


def _compare(mine: str | None, listed: str | None, year_only: bool = False) -> Literal["match", "mismatch", "unknown"]:
    if not mine or not listed:
        return "unknown"
    if year_only or len(mine) == 4 or len(listed) == 4:
        return "match" if mine[:4] == listed[:4] else "mismatch"
    return "match" if mine == listed else "mismatch"


def screen(party: Party) -> ScreeningResult:
    """Screen one party against every listed name and alias; classify each match with ``kyc_match``."""
    lst = sanctions_list()
    rules = load_ruleset("kyc_match")
    org = party.type == "organisation"
    query = normalise(party.name, organisation=org)
    matches: list[Match] = []
    for entry in lst.entries:
        best: tuple[float, str, list[str], str] | None = None
        for listed in [entry.name, *entry.aliases]:
            score, method, reasons = name_score(query, normalise(listed, organisation=entry.type == "organisation"))
            if best is None or score > best[0]:
                best = (score, method, reasons, listed)
        assert best is not None
        if best[0] < REPORT_THRESHOLD:
            continue
        dob_status = _compare(party.dob, entry.dob)
        country_status = _compare(party.country, entry.country)
        type_status: Literal["match", "mismatch"] = "match" if party.type == entry.type else "mismatch"
        verdict = rules.evaluate(
            {
                "name_score": best[0],
                "dob_status": dob_status,
                "country_status": country_status,
                "type_status": type_status,
            }
        )
        fired = verdict.fired[0] if verdict.fired else None
        matches.append(
            Match(
                entry_id=entry.id,
                listed_name=entry.name,
                matched_name=best[3],
                program=entry.program,
                score=best[0],
                method=best[1],
                reasons=best[2] + ([f"matches listed alias {best[3]!r}"] if best[3] != entry.name else []),
                dob_status=dob_status,
                country_status=country_status,
                type_status=type_status,
                classification=verdict.outcome,  # type: ignore[arg-type]
                rule_id=fired.id if fired else None,
                rule_reason=fired.reason if fired else None,
            )
        )
    matches.sort(key=lambda m: -m.score)
    order: list[Classification] = ["confirmed", "possible", "cleared", "no_match"]
    overall: Classification = min((m.classification for m in matches), key=order.index, default="no_match")
    return ScreeningResult(
        party_id=party.party_id,
        name=party.name,
        list=lst.list,
        list_version=lst.version,
        ruleset_version=rules.version,
        matches=matches,
        classification=overall,
    )


@register_tool(
    name="screen_sanctions",
    args_schema=Party,
    result_schema=ScreeningResult,
    risk="low",
    side_effect=False,
    owner="financial-crime-compliance",
    version="1.0.0",
    timeout_s=30.0,
    description="Screen one party (person or organisation) against the sanctions list; scores, reasons, rule ids.",
)
def screen_sanctions(args: Party, grant: ExecutionGrant) -> ScreeningResult:
    return screen(args)


Document = Literal[
    "photo_id",
    "proof_of_address",
    "registry_extract",
    "ubo_declaration",
    "director_ids",
    "source_of_funds",
    "source_of_wealth",
]


class RequestDocumentsArgs(BaseModel):
    case_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    documents: list[Document] = Field(min_length=1, max_length=7)
    message: str = Field(min_length=1, max_length=1000)
    channel: Literal["email", "letter", "portal"] = "portal"


class RequestDocumentsResult(BaseModel):
    request_id: str
    case_id: str
    documents: list[str]
    status: Literal["requested"] = Field(description="Request made; ``action.delivery`` says if it left Steward.")
    action: ActionReport


@register_tool(
    name="request_documents",
    args_schema=RequestDocumentsArgs,
    result_schema=RequestDocumentsResult,
    risk="medium",
    side_effect=True,
    owner="kyc-operations",
    version="1.0.0",
    description="Ask the customer for missing KYC documents (customer-facing message).",
)
def request_documents(args: RequestDocumentsArgs, grant: ExecutionGrant) -> RequestDocumentsResult:
    request_id = f"docreq:{grant.idempotency_key}"
    request = {
        "request_id": request_id,
        "case_id": args.case_id,
        "customer_id": args.customer_id,
        "documents": list(args.documents),
        "message": args.message,
        "channel": args.channel,
    }
    return RequestDocumentsResult(
        request_id=request_id,
        case_id=args.case_id,
        documents=list(args.documents),
        status="requested",
        action=submit_action(grant, "request_documents", request),
    )


class EscalateCaseArgs(BaseModel):
    case_id: str = Field(min_length=1, max_length=64)
    team: Literal["financial_crime_compliance", "claims_adjusters", "senior_kyc_analysts"]
    priority: Literal["normal", "high"] = "normal"
    summary: str = Field(min_length=1, max_length=2000)
    rule_ids: list[str] = Field(default_factory=list, max_length=40)


class EscalateCaseResult(BaseModel):
    escalation_id: str
    case_id: str
    team: str
    priority: str
    status: Literal["requested"] = Field(description="Escalation requested; ``action.delivery`` says if it arrived.")
    action: ActionReport


@register_tool(
    name="escalate_case",
    args_schema=EscalateCaseArgs,
    result_schema=EscalateCaseResult,
    risk="medium",
    side_effect=True,
    owner="financial-crime-compliance",
    version="1.0.0",
    description="Open an escalation with a specialist team (freezes the relationship until they decide).",
)
def escalate_case(args: EscalateCaseArgs, grant: ExecutionGrant) -> EscalateCaseResult:
    escalation_id = f"esc:{grant.idempotency_key}"
    escalation = {
        "escalation_id": escalation_id,
        "case_id": args.case_id,
        "team": args.team,
        "priority": args.priority,
        "summary": args.summary,
        "rule_ids": args.rule_ids,
    }
    return EscalateCaseResult(
        escalation_id=escalation_id,
        case_id=args.case_id,
        team=args.team,
        priority=args.priority,
        status="requested",
        action=submit_action(grant, "escalate_case", escalation),
    )
