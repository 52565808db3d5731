"""Is an extracted value in the operator's text? The check natural-language intake trusts, not the model.

A model reading "Triage A-9: 12,000 for a kitchen, income 80k a year, score 700" may answer anything; a value
reaches the structured input only when it can be found in the text the operator wrote, allowing the
normalisations people use when they write: digit grouping ("12,000", "12 000"), scale words ("80k",
"1.2 million"), dates in words ("21 July 1976", "July 21, 1976") or numerals ("21/07/1976"), accents
("Tomás" = "Tomas"), country names for ISO codes, currency symbols for codes, and a few domain words for
enumerations ("arrived damaged" -> ``damage``). Anything else is dropped and asked for.

Ambiguity is reported, not resolved: "03/04/2026" can be 3 April or 4 March, so a date that only an ambiguous
reading supports is ``AMBIGUOUS`` and becomes a question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["string", "number", "integer", "boolean", "enum", "date", "country", "currency"]
AMBIGUOUS = object()
"""Returned when the text supports the value only under an ambiguous reading (a day/month order)."""

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_NUMBER = re.compile(
    r"(?<![\w.])(?<![A-Za-z]-)(?<![A-Za-z]_)"  # not a piece of an identifier ("A-1500")
    r"(\d{1,3}(?:(?:,\d{3})+|(?:[ \u00a0\u202f]\d{3})+|(?:\.\d{3})+)|\d+)(?:([.,])(\d+))?"
    r"(?:\s*(k|thousand|mn|m|million|bn|billion)\b)?",
    re.IGNORECASE,
)
_UNIT = re.compile(r"^\s*(months?|mos?|years?|yrs?|y/o|%|percent|per cent|days?)(?![a-z])", re.I)
"""A unit written right after a number: "60 months" is a term, "41 years" an age, "7.9 %" a rate."""
_UNIT_FIELDS = {"month": ("term", "months"), "mo": ("term", "months"), "year": ("age", "years", "term"),
                "yr": ("age", "years", "term"), "y/o": ("age",), "%": ("rate", "percent"),
                "percent": ("rate", "percent"), "per cent": ("rate", "percent"), "day": ("days", "delay")}  # fmt: skip
_PER_PERIOD = re.compile(
    r"^\s*(?:(?:eur|usd|gbp|[$€£]|euros?))?\s*(?:a|per|/|each|im|pro|par|au|al|por|ao|в)\s*"
    r"(month|monat|mois|mes|mese|week|woche|semaine|day|tag|jour|mo|wk)\b",
    re.I,
)

ENUM_WORDS: dict[str, tuple[str, ...]] = {
    "damage": ("damag", "broken", "smashed", "crushed", "dented", "wet"),
    "loss": ("lost", "loss", "missing", "never arrived", "stolen", "never delivered"),
    "delay": ("delay", "late", "overdue"),
    "organisation": (
        "bv",
        "b v",
        "ltd",
        "limited",
        "gmbh",
        "inc",
        "llc",
        "plc",
        "nv",
        "ag",
        "sarl",
        "s a",
        "sa",
        "spa",
        "srl",
        "oy",
        "ab",
        "as",
        "company",
        "corp",
        "corporation",
        "holding",
        "holdings",
        "group",
        "organisation",
        "organization",
        "firm",
        "foundation",
    ),
    "person": ("person", "individual", "mr", "mrs", "ms", "born", "private customer"),
    "director": ("director",),
    "beneficial_owner": ("beneficial owner", "ubo", "owner", "owns"),
    "signatory": ("signatory", "authorised signer", "authorized signer", "signs for"),
}
"""Words that state an enumeration value in plain language (claims' claim types, KYC party types and roles);
for any other enumeration value its own words must appear."""

_CURRENCY_WORDS = {
    "EUR": ("eur", "euro", "euros", "€"),
    "USD": ("usd", "dollar", "dollars", "$"),
    "GBP": ("gbp", "pound", "pounds", "sterling", "£"),
    "CHF": ("chf", "franc", "francs"),
}


def norm(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form, words separated by single spaces."""
    from anyascii import anyascii

    return " " + re.sub(r"[^a-z0-9]+", " ", anyascii(text).casefold()).strip() + " "


def contains_words(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words, after ``norm``."""
    p = norm(phrase).strip()
    return bool(p) and f" {p} " in norm(text)


@dataclass(frozen=True)
class NumberMention:
    value: float
    per_period: str | None = None
    """"month" when the text says "a month" right after it (not an annual amount)."""
    start: int = -1
    """Where the mention begins in the text (one mention, several readings, one start)."""
    unit: str | None = None
    """"month", "year", "%", "day" when written right after the number."""


def numbers_in(text: str) -> list[NumberMention]:
    """Every reading of every number in the text: grouping and decimal separators are read both ways when
    the text does not settle it ("12.000" is 12000 or 12.0), scale words applied ("80k" = 80000)."""
    out: list[NumberMention] = []
    for m in _NUMBER.finditer(text):
        whole, sep, frac, scale = m.group(1), m.group(2), m.group(3), (m.group(4) or "").lower()
        digits = re.sub(r"[,. \u00a0\u202f]", "", whole)
        readings = {float(digits)}
        if re.fullmatch(r"\d{1,3}(\.\d{3})+", whole):  # "12.000": thousands or a decimal point
            readings.add(float(whole))
        if sep and frac:
            readings = {float(f"{int(r)}.{frac}") for r in readings}
            if sep == "," and len(frac) == 3 and "," not in whole:  # "12,000"
                readings.add(float(digits + frac))
        mult = _SCALE.get(scale, 1.0)
        period = _PER_PERIOD.match(text[m.end() :])
        per = period.group(1).lower() if period else None
        per = {"monat": "month", "mois": "month", "mes": "month", "mese": "month", "mo": "month"}.get(per or "", per)
        unit_match = _UNIT.match(text[m.end() :])
        unit = unit_match.group(1).lower().rstrip("s") if unit_match else None
        if unit in ("mo",):
            unit = "month"
        for r in readings:
            out.append(NumberMention(r * mult, per, m.start(), unit))
    return out


def parse_number(raw: Any) -> float | None:
    """The number a model's answer stands for ("80k", "12,000", 700), or None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    found = numbers_in(str(raw))
    return found[0].value if found else None


def _iso(y: int, m: int, d: int) -> str | None:
    import datetime as dt

    try:
        return dt.date(y, m, d).isoformat()
    except ValueError:
        return None


def dates_in(text: str) -> tuple[set[str], set[str]]:
    """(dates the text states unambiguously, dates only an ambiguous numeric reading gives), as ISO strings."""
    sure: set[str] = set()
    unsure: set[str] = set()
    low = text.casefold()
    for y, m, d in re.findall(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", low):
        if iso := _iso(int(y), int(m), int(d)):
            sure.add(iso)
    month = "|".join(sorted(_MONTHS, key=len, reverse=True))
    for d, mon, y in re.findall(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({month})\.?,?\s+(\d{{4}})\b", low):
        if iso := _iso(int(y), _MONTHS[mon], int(d)):
            sure.add(iso)
    for mon, d, y in re.findall(rf"\b({month})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", low):
        if iso := _iso(int(y), _MONTHS[mon], int(d)):
            sure.add(iso)
    for a, b, y in re.findall(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b", low):
        first, second = int(a), int(b)
        day_first, month_first = _iso(int(y), second, first), _iso(int(y), first, second)
        if day_first and month_first and first != second:
            unsure.update((day_first, month_first))
        else:
            sure.update(x for x in (day_first, month_first) if x)
    return sure, unsure - sure


def _country_names(code: str) -> list[str]:
    try:
        from rigour.territories import get_territory

        t = get_territory(code.lower())
    except Exception:  # noqa: BLE001 - rigour missing or an unknown code: only the code itself counts
        return []
    if t is None:
        return []
    names = [t.name, getattr(t, "full_name", None) or ""]
    return [n for n in names if n]


@dataclass
class Field:
    """One leaf of an assistant's structured input, as intake asks for it and grounds it."""

    path: tuple[str | int, ...]
    kind: Kind
    required: bool
    label: str
    enum: tuple[str, ...] = ()
    schema: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return ".".join(str(p) for p in self.path)


def ground(f: Field, raw: Any, text: str) -> Any:
    """The value of ``f`` that ``raw`` (a model's answer) stands for, if ``text`` supports it; else None
    (or ``AMBIGUOUS`` for a date only an ambiguous numeric reading supports)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if f.kind in ("number", "integer"):
        return _ground_number(f, raw, text)
    if f.kind == "boolean":
        # Only a stated "yes" is taken: an unstated flag keeps the schema's default, never a guess.
        truthy = raw is True or str(raw).strip().casefold() in ("true", "yes")
        words = [f.label, *(str(p).replace("_", " ") for p in f.path[-1:])]
        if f.path[-1] == "pep":
            words += ["pep", "politically exposed"]
        return True if truthy and any(contains_words(text, w) for w in words) else None
    if f.kind == "date":
        value = str(raw).strip()
        sure, unsure = dates_in(text)
        if value in sure:
            return value
        return AMBIGUOUS if value in unsure else None
    if f.kind == "country":
        code = str(raw).strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", code):
            return None
        if re.search(rf"\b{code}\b", text) or any(contains_words(text, n) for n in _country_names(code)):
            return code
        return None
    if f.kind == "currency":
        code = str(raw).strip().upper()
        symbols = _CURRENCY_WORDS.get(code, (code.casefold(),))
        low = text.casefold()
        ok = any((w in low) if not w.isalpha() else contains_words(text, w) for w in symbols)
        return code if ok else None
    if f.kind == "enum":
        value = str(raw).strip()
        if value not in f.enum:
            return None
        stated = (value.replace("_", " "), *ENUM_WORDS.get(value, ()))
        return value if any(contains_words(text, w) for w in stated) else None
    value = str(raw).strip()
    if value and not re.search(r"\s", value):
        # One token ("PH-1008", "SS-600001", "kitchen"): it must stand alone in the text, not be a piece of a
        # longer identifier ("1008" is not stated by "PH-1008").
        pattern = rf"(?<![\w\-/.,]){re.escape(value)}(?![\w\-/]|[.,]\w)"
        found = [m for m in re.finditer(pattern, text, re.I) if not (value.isdigit() and _UNIT.match(text[m.end() :]))]
        return value if found or contains_words(text, value) and value.isalpha() else None
    return value if contains_words(text, value) else None


def _ground_number(f: Field, raw: Any, text: str) -> float | int | None:
    value = parse_number(raw)
    if value is None:
        return None
    annual = "annual" in f.key or "year" in f.key
    name = str(f.path[-1]).lower()
    low, high = f.schema.get("minimum"), f.schema.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        return None  # the input model refuses it: "705" is a score, not an annual rate of at most 0.5
    for mention in numbers_in(text):
        if mention.unit and not any(w in name for w in _UNIT_FIELDS.get(mention.unit, (mention.unit,))):
            continue  # "60 months" is not a monthly income, "41 years" not an amount
        if abs(mention.value - value) < 1e-6 * max(1.0, abs(value)):
            if annual and mention.per_period:  # "5,000 a month" is not an annual income of 5,000
                continue
            if f.kind == "integer":
                return int(value) if value == int(value) else None
            return value
    return None
