"""KYC: sanctions screening of every party across scripts, against the list in an official format
(OpenSanctions FollowTheMoney JSON lines, ``tools.sanctions``), and the KYC document requirements.

Names in Cyrillic, Greek, Arabic, CJK (and Armenian, Georgian, Hangul, kana) are transliterated to Latin with
``rigour`` (the OpenSanctions name library; ICU-based, ``anyascii`` where it leaves a character behind) and
compared with every listed name and alias, in both the Latin and the original script: listings carry their
names in the original script too, so an Arabic or Chinese name is matched on its own spelling as well as on a
lossy romanisation. Word order, name particles (van, de, al-, bin...), honorifics and legal forms do not
count. A name in a script the transliterator cannot handle is screened by its original form and flagged
(``unsupported_script``) for a person, never silently cleared (issue 16).

A match carries its score, the method that produced it and reasons a person can check, the secondary
identifiers compared (every listed date of birth, full or year-only; every listed country), and the
``kyc_match`` rule that classified it. The classification is the rules engine's, not the matcher's (KYC-3):
thresholds (the 80/90 name scores, the one-digit date tolerance) live in ``tools/data/rules/kyc_match.yaml``.
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

_HONORIFICS = {"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "sheikh", "haji", "hajji"}
_LEGAL_FORMS = {"llc", "ltd", "limited", "inc", "co", "corp", "gmbh", "sa", "sac", "as", "fze", "plc", "ag", "bv"}
_PARTICLES = {
    "van", "von", "der", "den", "de", "del", "della", "di", "da", "du", "la", "le", "dos", "das", "ter", "ten",
    "al", "el", "bin", "ibn", "bint", "ben", "ould",
}  # fmt: skip
"""Name particles: kept in the first comparison, dropped in a second one, so 'Hendrik van der Berg' meets
'Hendrik Berg' and 'Khalid bin Saeed Al-Harbi' meets 'Khaled Saeed Alharbi'."""
TRANSLITERATED_SCRIPTS = frozenset(
    {"Latin", "Cyrillic", "Greek", "Armenian", "Georgian", "Hangul", "Arabic", "Han", "Hiragana", "Katakana"}
)
"""Scripts whose transliteration to Latin is supported (rigour's admitted alphabets, and Arabic and CJK
through its ICU fallback). A name in any other script is screened only by its original form and flagged."""
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


def scripts_of(name: str) -> set[str]:
    """The writing systems a name uses (Unicode script property, via rigour)."""
    from rigour.text.scripts import text_scripts

    return set(text_scripts(name))


def transliterable(name: str) -> bool:
    return scripts_of(name) <= TRANSLITERATED_SCRIPTS


def to_latin(name: str) -> str:
    """Latin transliteration: rigour (``Шевченко`` -> ``Shevchenko``, ``王俊豪`` -> ``wang jun hao``), and
    ``anyascii`` for whatever it leaves as ``?``. Latin names only lose their accents."""
    if name.isascii():
        return name
    from rigour.text.translit import ascii_text

    out = ascii_text(name)
    if "?" in out and "?" not in name:
        from anyascii import anyascii

        out = anyascii(name)
    return out


def normalise(name: str, organisation: bool = False) -> str:
    """Latin letters, case, accents, punctuation, honorifics (and legal forms for organisations) removed;
    words kept in order. A name in an unsupported script keeps its own letters (casefolded)."""
    if not transliterable(name):
        text = unicodedata.normalize("NFKC", name).casefold()
        return " ".join(re.sub(r"[^\w ]+", " ", text).split())
    text = unicodedata.normalize("NFKD", to_latin(name))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"[^a-z0-9 ]+", " ", text.replace(".", ""))
    words = [w for w in text.split() if w not in _HONORIFICS]
    if organisation:
        words = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(words)


def strip_particles(name: str) -> str:
    """Drop particles standing alone and a glued Arabic article ('alharbi' -> 'harbi')."""
    words = [w for w in name.split() if w not in _PARTICLES]
    words = [w[2:] if w.startswith(("al", "el")) and len(w) > 5 and w[2] not in "aeiou" else w for w in words]
    return " ".join(words) or name


def fold(name: str) -> str:
    for pattern, repl in _FOLDS:
        name = re.sub(pattern, repl, name)
    return name


def _pair_score(query: str, listed: str) -> tuple[float, str, list[str]]:
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
    joined = float(fuzz.ratio(query.replace(" ", ""), listed.replace(" ", ""))) - 1.0
    if joined > best and len(q_words) != len(l_words):
        best, method = joined, "joined"
        reasons.append("the same name written with different word breaks (e.g. Junhao / Jun Hao)")
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


def name_score(query: str, listed: str) -> tuple[float, str, list[str]]:
    """(score 0-100, method, reasons) for two normalised names; particles are compared with and without."""
    best = _pair_score(query, listed)
    q, lst = strip_particles(query), strip_particles(listed)
    if (q, lst) != (query, listed):
        score, method, reasons = _pair_score(q, lst)
        if score - 1.0 > best[0]:
            best = (score - 1.0, method, [*reasons, "name particles (van, de, al-, bin...) ignored"])
    return best


class Party(BaseModel):
    party_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=2, max_length=200)
    type: Literal["person", "organisation", "unknown"] = Field(
        default="person", description="'unknown' for a trading name: never cleared on the entity type."
    )
    role: str = Field(default="customer", max_length=40)
    dob: str | None = Field(default=None, pattern=r"^\d{4}(-\d{2}-\d{2})?$", description="YYYY-MM-DD or YYYY.")
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
    dob_digits_differing: int | None = None
    """Fewest digits differing from any listed date of birth (over the year only when either is year-only)."""
    dob_precision: Literal["day", "year", "none"] = "none"
    country_status: Literal["match", "mismatch", "unknown"]
    type_status: Literal["match", "mismatch", "unknown"]
    weak_alias: bool = False
    classification: Classification
    rule_id: str | None
    rule_reason: str | None


class ScreeningResult(BaseModel):
    party_id: str
    name: str
    screened_as: str
    """The Latin form screened (or the original, when its script is not supported)."""
    unsupported_script: bool = False
    """The name's script cannot be transliterated: screened by its original form only, a person must look."""
    scripts: builtins.list[str] = Field(default_factory=list)
    list: str
    list_version: str
    ruleset_version: str
    matches: builtins.list[Match]
    classification: Classification
    """The most severe classification among the matches (``no_match`` when there are none)."""


def dob_distance(mine: str | None, listed: list[str]) -> tuple[int | None, Literal["day", "year", "none"]]:
    """(fewest differing digits, precision) against every listed date; year-only on either side compares years."""
    if not mine or not listed:
        return None, "none"
    best: tuple[int, int] | None = None  # (digits, 0 for day precision / 1 for year)
    for other in listed:
        if len(mine) == 4 or len(other) == 4:
            cand = (sum(a != b for a, b in zip(mine[:4], other[:4], strict=True)), 1)
        else:
            a, b = mine.replace("-", ""), other.replace("-", "")
            cand = (sum(x != y for x, y in zip(a, b, strict=True)), 0)
        if best is None or cand < best:
            best = cand
    assert best is not None
    return best[0], "day" if best[1] == 0 else "year"


class _Index:
    """The active list's names, normalised once per list version, for a fast candidate search."""

    def __init__(self) -> None:
        from tools.sanctions import active_list

        self.list = active_list()
        self.names: list[str] = []
        self.owner: list[tuple[int, str, bool]] = []  # (entity index, listed name as written, weak alias)
        for i, e in enumerate(self.list.entities):
            org = e.type == "organisation"
            for listed, weak in [
                (e.name, False),
                *((a, False) for a in e.aliases),
                *((a, True) for a in e.weak_aliases),
            ]:
                self.names.append(normalise(listed, organisation=org))
                self.owner.append((i, listed, weak))


_INDEX: dict[str, _Index] = {}


def _index() -> _Index:
    from tools.sanctions import active_list

    version = active_list().sha256
    if version not in _INDEX:
        _INDEX.clear()
        _INDEX[version] = _Index()
    return _INDEX[version]


def sanctions_list() -> Any:
    """The active list (``tools.sanctions.active_list``)."""
    return _index().list


def screen(party: Party) -> ScreeningResult:
    """Screen one party against every listed name and alias; classify each candidate with ``kyc_match``.

    A candidate search (rapidfuzz over all normalised names, generous cutoff) keeps a full list fast; each
    candidate entity is then scored on its best name and classified by the rules, which drop no-matches."""
    from rapidfuzz import fuzz, process

    idx = _index()
    rules = load_ruleset("kyc_match")
    org = party.type == "organisation"
    supported = transliterable(party.name)
    query = normalise(party.name, organisation=org)
    queries = {query, strip_particles(query), fold(query)}
    candidates: set[int] = set()
    for q in queries:
        for scorer in (fuzz.token_set_ratio, fuzz.token_sort_ratio):
            for _, _, pos in process.extract(q, idx.names, scorer=scorer, score_cutoff=50, limit=200):
                candidates.add(idx.owner[pos][0])
    matches: list[Match] = []
    for i in sorted(candidates):
        entry = idx.list.entities[i]
        best: tuple[float, str, list[str], str, bool] | None = None
        for pos, (owner, listed, weak) in enumerate(idx.owner):
            if owner != i:
                continue
            score, method, reasons = name_score(query, idx.names[pos])
            if best is None or score > best[0] or (score == best[0] and best[4] and not weak):
                best = (score, method, reasons, listed, weak)
        assert best is not None
        digits, precision = dob_distance(party.dob, entry.dobs)
        dob_status: Literal["match", "mismatch", "unknown"] = (
            "unknown" if digits is None else "match" if digits == 0 else "mismatch"
        )
        country_status: Literal["match", "mismatch", "unknown"] = (
            "unknown" if not party.country or not entry.countries
            else "match" if party.country in entry.countries else "mismatch"
        )  # fmt: skip
        type_status: Literal["match", "mismatch", "unknown"] = (
            "unknown" if "unknown" in (party.type, entry.type) else "match" if party.type == entry.type else "mismatch"
        )
        verdict = rules.evaluate(
            {
                "name_score": best[0],
                "dob_digits_differing": digits,
                "dob_precision": precision,
                "country_status": country_status,
                "type_status": type_status,
                "weak_alias": best[4],
            }
        )
        if verdict.outcome == "no_match":
            continue
        fired = verdict.fired[0] if verdict.fired else None
        extra = [f"matches listed alias {best[3]!r}"] if best[3] != entry.name else []
        if best[4]:
            extra.append("a weak alias (nickname or generic name): never confirms a match alone")
        if not supported:
            extra.append("name in a script that cannot be transliterated: compared in its original form only")
        matches.append(
            Match(
                entry_id=entry.id,
                listed_name=entry.name,
                matched_name=best[3],
                program=", ".join(entry.programs) or "(no programme given)",
                score=best[0],
                method=best[1],
                reasons=best[2] + extra,
                dob_status=dob_status,
                dob_digits_differing=digits,
                dob_precision=precision,
                country_status=country_status,
                type_status=type_status,
                weak_alias=best[4],
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
        screened_as=query,
        unsupported_script=not supported,
        scripts=sorted(scripts_of(party.name)),
        list=idx.list.list,
        list_version=idx.list.version,
        ruleset_version=rules.version,
        matches=matches,
        classification=overall,
    )


@lru_cache(maxsize=1)
def requirements() -> dict[str, Any]:
    """Required documents per customer type, for EDD and PEPs, and the high-risk list (KYC-2, KYC-4)."""
    data: dict[str, Any] = json.loads((DATA_DIR / "kyc_requirements.json").read_text())
    return data


def high_risk(country: str | None) -> bool:
    return bool(country) and str(country).upper() in requirements()["high_risk_jurisdictions"]


def required_documents(customer_type: str, country: str | None, pep: bool, edd: bool | None = None) -> list[str]:
    """KYC-2 documents for the customer type, plus EDD's source of funds and a PEP's source of wealth.

    ``edd`` says whether any party triggers enhanced due diligence (default: the customer's own country)."""
    req = requirements()
    docs = list(req[customer_type])
    if edd if edd is not None else high_risk(country):
        docs += req["enhanced_due_diligence"]
    if pep:
        docs += req["pep"]
    return docs


@register_tool(
    name="screen_sanctions",
    args_schema=Party,
    result_schema=ScreeningResult,
    risk="low",
    side_effect=False,
    owner="financial-crime-compliance",
    version="2.0.0",
    timeout_s=30.0,
    description="Screen one party (person or organisation) against the sanctions list, across scripts and aliases.",
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


class ApproveOnboardingArgs(BaseModel):
    """The onboarding decision and the evidence it rests on, computed by the rules, never by the model.

    The policy's straight-through rule (``stp-kyc-*``) reads these fields to decide whether the clearance may
    run without an analyst (KYC procedure KYC-7); a person confirms every other clearance."""

    case_id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    customer_type: Literal["person", "organisation", "sole_proprietor"]
    parties_screened: int = Field(ge=1, le=40)
    potential_matches: int = Field(ge=0, description="Every list candidate at or above the reporting score.")
    pep_parties: int = Field(ge=0)
    high_risk_parties: int = Field(ge=0)
    unsupported_script_parties: int = Field(ge=0)
    documents_verified: bool = Field(
        description="Every required document present with the dates its freshness needs, and fresh (KYC-2.5)."
    )
    sanctions_list: str = Field(min_length=1, max_length=200)
    rule_ids: list[str] = Field(default_factory=list, max_length=40)


class ApproveOnboardingResult(BaseModel):
    onboarding_id: str
    case_id: str
    status: Literal["approved"] = Field(description="Recorded; ``action.delivery`` says if it left Steward.")
    action: ActionReport


@register_tool(
    name="approve_onboarding",
    args_schema=ApproveOnboardingArgs,
    result_schema=ApproveOnboardingResult,
    risk="high",
    side_effect=True,
    owner="kyc-operations",
    version="1.0.0",
    description="Record the KYC clearance and open the customer relationship (the onboarding decision).",
)
def approve_onboarding(args: ApproveOnboardingArgs, grant: ExecutionGrant) -> ApproveOnboardingResult:
    onboarding_id = f"onb:{grant.idempotency_key}"
    return ApproveOnboardingResult(
        onboarding_id=onboarding_id,
        case_id=args.case_id,
        status="approved",
        action=submit_action(grant, "approve_onboarding", {"onboarding_id": onboarding_id, **args.model_dump()}),
    )
