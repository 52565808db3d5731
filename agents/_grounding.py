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
_MONTHS.update(
    {
        name: i + 1
        for i, names in enumerate(
            [
                ("janvier", "enero", "januar", "gennaio", "janeiro"),
                ("février", "fevrier", "febrero", "februar", "febbraio", "fevereiro"),
                ("mars", "marzo", "märz", "marz", "março", "marco"),
                ("avril", "abril", "aprile"),
                ("mai", "mayo", "maggio", "maio"),
                ("juin", "junio", "juni", "giugno", "junho"),
                ("juillet", "julio", "juli", "luglio", "julho"),
                ("août", "aout", "agosto"),
                ("septembre", "septiembre", "settembre", "setembro"),
                ("octobre", "octubre", "oktober", "ottobre", "outubro"),
                ("novembre", "noviembre", "novembro"),
                ("décembre", "decembre", "diciembre", "dezember", "dicembre", "dezembro"),
            ]
        )
        for name in names
    }
)
"""Month names in the languages the operators write (French, Spanish, German, Italian, Portuguese)."""
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_NUMBER = re.compile(
    r"(?<![\w.])(?<![A-Za-z]-)(?<![A-Za-z]_)"  # not a piece of an identifier ("A-1500")
    r"(\d{1,3}(?:(?:,\d{3})+|(?:[ \u00a0\u202f]\d{3})+|(?:\.\d{3})+)|\d+)(?:([.,])(\d+))?"
    r"(?:\s*(k|thousand|mn|m|million|bn|billion)\b)?",
    re.IGNORECASE,
)
_UNIT = re.compile(
    r"^\s*(months?|mos?|years?|yrs?|y/o|%|percent|per cent|days?|eur|euros?|usd|dollars?|gbp|pounds?|chf|francs?"
    r"|[€$£])(?![a-z])",
    re.I,
)
"""A unit written right after a number: "60 months" is a term, "41 years" an age, "7.9 %" a rate, "20.000 EUR"
an amount of money (never a term or a score)."""
_MONEY_BEFORE = re.compile(r"(?:[€$£]|\b(?:eur|usd|gbp|chf))\s*$", re.I)
"""A currency written right before a number ("€12,000", "EUR 900"): an amount of money."""
_MONEY_UNITS = {"eur", "euro", "usd", "dollar", "gbp", "pound", "chf", "franc", "€", "$", "£"}
_UNIT_FIELDS = {"month": ("term", "months"), "mo": ("term", "months"), "year": ("age", "years", "term"),
                "yr": ("age", "years", "term"), "y/o": ("age",), "%": ("rate", "percent"),
                "percent": ("rate", "percent"), "per cent": ("rate", "percent"), "day": ("days", "delay")}  # fmt: skip
_NOT_MONEY = {"term", "month", "year", "age", "rate", "percent", "score", "day", "count", "quantity", "duration"}
"""Field-name words of a quantity that is not an amount of money: "20.000 EUR" grounds none of them."""
_PER_PERIOD = re.compile(
    r"^\s*(?:(?:eur|usd|gbp|[$€£]|euros?))?\s*(?:a|per|/|each|im|pro|par|au|al|por|ao|all'|в)\s*"
    r"(month|monat|mois|mes|mese|week|woche|semaine|day|tag|jour|mo|wk|year|yr|jahr|an|año|ano|anno|annum)\b",
    re.I,
)
_YEAR_WORDS = {"year", "yr", "jahr", "an", "año", "ano", "anno", "annum"}

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
    "director": (
        "director",
        "directeur",
        "gerant",
        "geschaftsfuhrer",
        "administrador",
        "amministratore",
        "bestuurder",
        "vorstand",
    ),
    "beneficial_owner": (
        "beneficial owner",
        "ubo",
        "owner",
        "owns",
        "wirtschaftlich berechtigter",
        "beneficiaire effectif",
        "titular real",
        "beneficiario effettivo",
        "beneficiario final",
    ),
    "signatory": (
        "signatory",
        "authorised signer",
        "authorized signer",
        "signs for",
        "signataire",
        "firmante",
        "zeichnungsberechtigt",
    ),  # fmt: skip
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


def word_spots(text: str, phrase: str) -> list[int]:
    """Where ``phrase`` is written in ``text`` as whole words, ignoring case and accents (positions in
    ``text`` itself, so they compare with the positions of numbers and dates)."""
    from anyascii import anyascii

    out_chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        piece = anyascii(ch).casefold()
        out_chars.append(piece)
        origin.extend([i] * len(piece))
    flat = "".join(out_chars)
    p = norm(phrase).strip()
    if not p:
        return []
    pattern = r"(?<![a-z0-9])" + r"[^a-z0-9]+".join(map(re.escape, p.split())) + r"(?![a-z0-9])"
    return [origin[m.start()] for m in re.finditer(pattern, flat)]


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
        readings = [float(digits)]  # the grouping reading first: parse_number takes the first
        if re.fullmatch(r"\d{1,3}(\.\d{3})+", whole):  # "12.000": thousands or a decimal point
            readings.append(float(whole))
        if sep and frac:
            readings = [float(f"{int(r)}.{frac}") for r in readings]
            if sep == "," and len(frac) == 3 and "," not in whole:  # "12,000"
                readings.insert(0, float(digits + frac))
        readings = list(dict.fromkeys(readings))
        mult = _SCALE.get(scale, 1.0)
        period = _PER_PERIOD.match(text[m.end() :])
        per = period.group(1).lower() if period else None
        per = {"monat": "month", "mois": "month", "mes": "month", "mese": "month", "mo": "month"}.get(per or "", per)
        per = "year" if per in _YEAR_WORDS else per
        unit_match = _UNIT.match(text[m.end() :])
        unit = unit_match.group(1).lower().rstrip("s") if unit_match else None
        if unit in ("mo",):
            unit = "month"
        if unit in _MONEY_UNITS or (unit is None and _MONEY_BEFORE.search(text[max(0, m.start() - 5) : m.start()])):
            unit = "money"
            if len(readings) > 1 and not scale:  # "1.250 €" is 1,250: money is not written to three decimals
                readings = readings[:1]
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


def _date_hits(text: str) -> list[tuple[set[str], bool, int, int]]:
    """Each date written in the text: its ISO reading(s), whether the reading is certain, where it starts and
    ends."""
    hits: list[tuple[set[str], bool, int, int]] = []
    low = text.casefold()
    for m in re.finditer(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b", low):
        if iso := _iso(int(m[1]), int(m[2]), int(m[3])):
            hits.append(({iso}, True, m.start(), m.end()))
    month = "|".join(sorted(_MONTHS, key=len, reverse=True))
    day_first = rf"\b(\d{{1,2}})(?:st|nd|rd|th|er|\.)?\s+(?:of\s+|de\s+)?({month})\.?,?\s+(?:de\s+)?(\d{{4}})\b"
    for m in re.finditer(day_first, low):
        if iso := _iso(int(m[3]), _MONTHS[m[2]], int(m[1])):
            hits.append(({iso}, True, m.start(), m.end()))
    for m in re.finditer(rf"\b({month})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", low):
        if iso := _iso(int(m[3]), _MONTHS[m[1]], int(m[2])):
            hits.append(({iso}, True, m.start(), m.end()))
    for m in re.finditer(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b", low):
        first, second = int(m[1]), int(m[2])
        by_day, by_month = _iso(int(m[3]), second, first), _iso(int(m[3]), first, second)
        readings = {x for x in (by_day, by_month) if x}
        if readings:
            hits.append((readings, not (by_day and by_month and first != second), m.start(), m.end()))
    return hits


def dates_in(text: str) -> tuple[set[str], set[str]]:
    """(dates the text states unambiguously, dates only an ambiguous numeric reading gives), as ISO strings."""
    sure: set[str] = set()
    unsure: set[str] = set()
    for readings, certain, _, _ in _date_hits(text):
        (sure if certain else unsure).update(readings)
    return sure, unsure - sure


def date_mentions(iso: str, text: str) -> int:
    """How many times the text writes the date ``iso`` (in any form)."""
    return sum(iso in readings for readings, _, _, _ in _date_hits(text))


def date_spans(text: str) -> list[tuple[int, int]]:
    """Where each date is written: (start, end) in ``text``."""
    return [(at, end) for _, _, at, end in _date_hits(text)]


def date_spots(iso: str, text: str) -> list[int]:
    """Where the text writes the date ``iso``."""
    return [at for readings, _, at, _ in _date_hits(text) if iso in readings]


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


def country_code(name: str) -> str | None:
    """ISO 3166 alpha-2 code of a country written by name ("Germany", "Deutschland", "the Netherlands"), from
    the territory list the sanctions libraries keep (``rigour``); None for a word that names no country."""
    try:
        from rigour.territories import lookup_territory

        t = lookup_territory(name.strip())
    except Exception:  # noqa: BLE001 - rigour missing: only codes count
        return None
    code = getattr(t, "ftm_country", None) or getattr(t, "code", None)
    return code.upper() if code and len(code) == 2 and getattr(t, "is_country", True) else None


def countries_in(text: str) -> set[str]:
    """Codes of the countries a text names: capitalised words and pairs ("Germany", "United Kingdom") and
    upper-case two-letter codes that name a country."""
    out: set[str] = set()
    words = re.findall(r"[A-Z][\w'À-ɏ]*", text)
    grams = {*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))}
    for g in grams:
        if len(g) == 2 and not g.isupper():
            continue
        if code := country_code(g):
            out.add(code)
    return out


def country_mentions(code: str, text: str) -> int:
    """How many times the text writes the country ``code``: the code itself or one of its names."""
    n = len(re.findall(rf"\b{re.escape(code)}\b", text))
    padded = norm(text)
    for name in {norm(x).strip() for x in _country_names(code)}:
        if name:
            n += padded.count(f" {name} ")
    return n


def enum_mentions(value: str, text: str) -> int:
    """How many times the text writes an enumeration value in words ("lost", "loss"; "director")."""
    padded = norm(text)
    words = {norm(w).strip() for w in (value.replace("_", " "), *ENUM_WORDS.get(value, ()))}
    return len({m.start() for w in words if w for m in re.finditer(re.escape(f" {w}"), padded)})


def _flag_words(name: str) -> list[str]:
    words = [name.replace("_", " ")]
    if name == "pep":
        words += ["politically exposed"]
    return words


def flag_stated(f: Field, text: str) -> bool:
    """Whether the text names a yes/no field at all ("PEP", "politically exposed")."""
    return any(contains_words(text, w) for w in [f.label, *_flag_words(str(f.path[-1]))])


def flag_mentions(name: str, text: str) -> int:
    """How many times the text names the flag ``name`` (the last part of its path)."""
    padded = norm(text)
    spots = {m.start() for w in _flag_words(name) for m in re.finditer(re.escape(norm(w)), padded)}
    return len(spots)


def currency_in(text: str) -> bool:
    """Whether the text names any currency (a symbol, a word, or an upper-case three-letter code)."""
    low = text.casefold()
    if any(sym in low for sym in ("€", "$", "£")):
        return True
    if any(contains_words(text, w) for ws in _CURRENCY_WORDS.values() for w in ws if w.isalpha()):
        return True
    return bool(re.search(r"\b[A-Z]{3}\b", text))


_CLAUSE = re.compile(r"[;!?]|:(?!\d)|,(?!\d{3}\b)|\.(?!\d)|\n|\b(?:and|but|with|plus|while|whereas)\b", re.I)
"""Where a clause ends: punctuation (not a digit group's comma, "12,000", nor a decimal point) or a joining word."""


def cues(f: Field) -> set[str]:
    """Words that name a field in a request: its label's words and the input model's own list
    (``json_schema_extra={"x-intake-words": [...]}``, e.g. "mortgage" for monthly obligations)."""
    words = {w for w in re.findall(r"[a-z]+", f.label.casefold()) if len(w) > 2 and not w.isdigit()}
    if f.kind == "date" and f.path[-1] == "dob":
        words |= {"born", "birth", "dob", "née", "nee", "né", "ne", "nacido", "nacida", "geboren", "nato", "nata"}
    words |= {norm(w).strip() for w in f.schema.get("x-intake-words", ())}
    return {w for w in words if w}


def _says(clause: str, words: set[str]) -> bool:
    """Whether a normalised clause has one of ``words`` (a plural "s" either way)."""
    have = set(clause.split())
    return any(f" {w} " in clause if " " in w else (w in have or w.removesuffix("s") in have or f"{w}s" in have)
               for w in words)  # fmt: skip


def clause_at(text: str, at: int) -> str:
    """The clause around position ``at``, normalised (``norm``)."""
    bounds = sorted({0, *(m.end() for m in _CLAUSE.finditer(text)), len(text) + 1})
    start = max(b for b in bounds if b <= at)
    end = min((b for b in bounds if b > at), default=len(text))
    return norm(text[start:end])


def names_itself(f: Field, at: int, rivals: list[Field], text: str) -> bool:
    """Whether the clause at ``at`` names ``f`` by a word no rival has ("review date 30 November 2026")."""
    own = cues(f) - set().union(*(cues(g) for g in rivals if g.key != f.key))
    return _says(clause_at(text, at), own) if own else False


def cue_conflict(f: Field, spots: list[int], rivals: list[Field], text: str) -> bool:
    """Whether every mention of a value (at ``spots``) sits in a clause that names another field of its kind
    and not ``f``: then the value is that field's, not ``f``'s ("pays 420 a month on a mortgage" is no monthly
    income; "review date 1 December 2026" no date of birth)."""
    own = cues(f)
    numeric = rivals
    if not spots:
        return False
    for at in spots:
        clause = clause_at(text, at)
        if not any(
            _says(clause, cues(g) - own) and not _says(clause, own - cues(g)) for g in numeric if g.key != f.key
        ):
            return False
    return True


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
        return True if truthy and flag_stated(f, text) else None
    if f.kind == "date":
        value = str(raw).strip()
        said, _ = dates_in(value)
        if len(said) == 1:  # the model copied "21 July 1976" as written: that is 1976-07-21
            value = next(iter(said))
        sure, unsure = dates_in(text)
        if value in sure:
            return value
        return AMBIGUOUS if value in unsure else None
    if f.kind == "country":
        written = str(raw).strip()
        code = written.upper() if re.fullmatch(r"[A-Za-z]{2}", written) else (country_code(written) or "")
        if not re.fullmatch(r"[A-Z]{2}", code):
            return None
        if re.search(rf"\b{code}\b", text) or any(contains_words(text, n) for n in _country_names(code)):
            return code
        if len(written) > 2 and contains_words(text, written) and country_code(written) == code:
            return code  # "Deutschland", "the Netherlands": a name the territory list knows
        if code in countries_in(text):
            return code  # "DE" for "Deutschland"
        return None
    if f.kind == "currency":
        written = str(raw).strip()
        code = next((c for c, ws in _CURRENCY_WORDS.items() if written.casefold() in ws), written.upper())
        if not re.fullmatch(r"[A-Z]{3}", code):
            return None  # "NL-445566" is no currency
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
    if f.schema.get("x-intake-name") and (
        re.search(r"\d", value)
        or not any(c.isupper() or (c.isalpha() and not c.islower()) for c in value)  # "individual" is no name
        or country_code(value) is not None
    ):
        return None  # a name ("Northline", "Tomás Ruiz") has letters, no digits, and is no country: "NL-60606"
    if is_identifier(f) and (not re.search(r"\d", value) or (value.isdigit() and len(value) < 3)):
        return None  # "asdf" is a word and "1" a day of a date, not an id: the operators' ids have 3+ digits
    near = f.schema.get("x-intake-near")
    if near and not any(_follows(text, value, w) for w in near):
        return None  # the input model says what is written before this value ("policy CP-1003")
    if is_free_text(f) and (_only_a_quantity(value) or re.fullmatch(r"\w\w*[A-Z]\w*", value)):
        return None  # "6,200 EUR", "18 October 2026", "Greece", "SwiftShip" describe nothing: another field's value
    if value and not re.search(r"\s", value):
        # One token ("PH-1008", "SS-600001", "kitchen"): it must stand alone in the text, not be a piece of a
        # longer identifier ("1008" is not stated by "PH-1008").
        pattern = rf"(?<![\w\-/.,]){re.escape(value)}(?![\w\-/]|[.,]\w)"
        found = [m for m in re.finditer(pattern, text, re.I) if not (value.isdigit() and _UNIT.match(text[m.end() :]))]
        return value if found or contains_words(text, value) and value.isalpha() else None
    return value if contains_words(text, value) else None


def _follows(text: str, value: str, word: str, within: int = 3) -> bool:
    """Whether ``value`` is written within ``within`` words after ``word`` ("policy CP-1003", "under CP-1035")."""
    w = norm(word).strip()
    for m in re.finditer(re.escape(value), text, re.I):
        before = norm(text[max(0, m.start() - 60) : m.start()]).split()[-within:]
        if w in before or any(b.startswith(w) for b in before if len(w) >= 5):
            return True
    return False


def is_identifier(f: Field) -> bool:
    """A field that holds an identifier (``*_id``, ``*_number``) with no pattern of its own."""
    name = str(f.path[-1]).lower()
    return f.kind == "string" and "pattern" not in f.schema and (name == "id" or name.endswith(("_id", "_number")))


def is_free_text(f: Field) -> bool:
    """A string field for prose (a purpose, a description): no pattern, room for a sentence."""
    limit = f.schema.get("maxLength")
    return (
        f.kind == "string"
        and "pattern" not in f.schema
        and (limit is None or limit >= 100)
        and not (f.schema.get("x-intake-name"))
    )


_QUANTITY = re.compile(
    r"^(?:[€$£]|eur|usd|gbp|chf)?\s*[\d.,\s]+\s*(?:k|m|mn|bn|thousand|million)?\s*"
    r"(?:[€$£]|eur|euros?|usd|dollars?|gbp|pounds?|chf|francs?|%|percent|months?|years?|days?|weeks?)?$",
    re.I,
)


def _only_a_quantity(value: str) -> bool:
    """Whether a value is nothing but an amount, a number with its unit, a date or a country."""
    if _QUANTITY.fullmatch(value.strip()) and re.search(r"\d", value):
        return True
    sure, unsure = dates_in(value)
    if (sure or unsure) and len(re.sub(r"[\d\W]", "", value)) <= 12:
        return True
    return country_code(value) is not None


def _same(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6 * max(1.0, abs(b))


def _named_near(f: Field, at: int, text: str) -> bool:
    """Whether the clause at ``at`` says one of the field's ``x-intake-near`` words (a number field that
    declares them is taken only where it is named: "income 45,000 a year", "earns 2,300 a month")."""
    return _says(clause_at(text, at), {norm(w).strip() for w in f.schema.get("x-intake-near", ())})


def _ground_number(f: Field, raw: Any, text: str) -> float | int | None:
    if isinstance(raw, str) and any(dates_in(raw)):
        return None  # "3 May 1980" is a date, not an amount of 3
    value = parse_number(raw)
    if value is None:
        return None
    annual = "annual" in f.key or "year" in f.key
    in_dates = date_spans(text)
    name = str(f.path[-1]).lower()
    low, high = f.schema.get("minimum"), f.schema.get("maximum")
    fraction = high is not None and high <= 1
    """A field that holds a fraction ("annual_rate" <= 0.5) takes "7.9%" as 0.079."""
    for mention in numbers_in(text):
        got: float | None = None
        if any(a <= mention.start < b for a, b in in_dates):
            continue  # the "3" of "3 Nov 2026" is a day
        if mention.unit == "money":
            if {w.removesuffix("s") for w in re.split(r"[_\W]+", name)} & _NOT_MONEY:
                continue  # "20.000 EUR" is not a term of 20 months, "€700" not a credit score
        elif mention.unit and not any(w in name for w in _UNIT_FIELDS.get(mention.unit, (mention.unit,))):
            continue  # "60 months" is not a monthly income, "41 years" not an amount
        if fraction and mention.unit in ("%", "percent", "per cent"):
            if _same(mention.value, value) or _same(mention.value / 100, value):
                got = round(mention.value / 100, 10)
        elif _same(mention.value, value):
            got = value
        if got is None or (annual and mention.per_period not in (None, "year")):
            continue  # "5,000 a month" is not an annual income of 5,000
        if "month" in name and mention.per_period == "year":  # "47 000 € par an" is no monthly income
            continue
        if (low is not None and got < low) or (high is not None and got > high):
            continue  # the input model refuses it: "705" is a score, not an annual rate of at most 0.5
        if f.schema.get("x-intake-near") and not _named_near(f, mention.start, text):
            continue  # "4,000 for a laptop" is no income: an income is said as one
        if f.kind == "integer":
            return int(got) if got == int(got) else None
        return got
    return None
