"""Sanctions lists in an official format: OpenSanctions FollowTheMoney (FtM) entities, one JSON object a line.

Why FtM: it is the format OpenSanctions publishes its consolidated list in (``entities.ftm.json``), it carries
every name a listing knows (``name``, ``alias``, ``weakAlias``, ``previousName``, names in their original
script), several dates of birth (full or year-only) and the programme through linked ``Sanction`` entities.
``followthemoney`` itself is not a dependency, so this module reads the documented JSON faithfully:

- each line is ``{"id": str, "schema": str, "properties": {prop: [str, ...]}, ...}``;
- ``Person`` is a natural person; ``Organization``, ``Company`` and ``PublicBody`` are organisations;
  ``LegalEntity`` may be either (its type stays ``unknown``, so it is never cleared on the entity type);
- a ``Sanction`` entity names the listed entity in ``properties.entity`` and its ``program``/``programId``;
- other schemas (``Address``, ``Ownership``, ``Directorship``...) are counted and skipped.

A malformed file is refused as a whole with the line and field named (``SanctionsFormatError``); ``install``
writes a validated list where screening reads it, atomically, so a bad file never leaves a half-loaded list.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools._settings import DATA_DIR, steward_home

FIXTURE = DATA_DIR / "sanctions" / "steward-synthetic.ftm.jsonl"
"""The shipped list: synthetic entities in FtM format (not a real list; resemblance is coincidental)."""

PERSON_SCHEMAS = frozenset({"Person"})
ORGANISATION_SCHEMAS = frozenset({"Organization", "Company", "PublicBody"})
UNKNOWN_SCHEMAS = frozenset({"LegalEntity"})
TARGET_SCHEMAS = PERSON_SCHEMAS | ORGANISATION_SCHEMAS | UNKNOWN_SCHEMAS
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_COUNTRY_PROPS = ("nationality", "citizenship", "country", "jurisdiction", "mainCountry")


class SanctionsFormatError(ValueError):
    """A list that cannot be used; the message names the file, the line and the field."""


class ListedEntity(BaseModel):
    """One listed person or organisation, as screening needs it."""

    id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    weak_aliases: list[str] = Field(default_factory=list)
    """FtM ``weakAlias``: short or generic names (nicknames, kunyas) that never confirm a match alone."""
    type: Literal["person", "organisation", "unknown"]
    schema_name: str
    dobs: list[str] = Field(default_factory=list)
    """``YYYY-MM-DD`` or year-only ``YYYY`` (a month-precision ``YYYY-MM`` is kept as its year)."""
    countries: list[str] = Field(default_factory=list)
    """ISO 3166-1 alpha-2, upper case."""
    programs: list[str] = Field(default_factory=list)


class SanctionsList(BaseModel):
    list: str
    version: str
    source: str
    sha256: str
    entities: builtins.list[ListedEntity]
    skipped: dict[str, int] = Field(default_factory=dict)
    """Entities of other schemas (addresses, ownerships...) counted by schema and not screened."""

    def counts(self) -> dict[str, Any]:
        by_type = Counter(e.type for e in self.entities)
        return {
            "entities": len(self.entities),
            "persons": by_type.get("person", 0),
            "organisations": by_type.get("organisation", 0),
            "unknown_type": by_type.get("unknown", 0),
            "names": sum(1 + len(e.aliases) + len(e.weak_aliases) for e in self.entities),
            "with_program": sum(1 for e in self.entities if e.programs),
            "skipped": dict(self.skipped),
        }


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SanctionsFormatError(f"{where}: expected a list of strings, got {json.dumps(value)[:80]}")
    return [v.strip() for v in value if v.strip()]


def _dob(value: str, where: str) -> str:
    if not _DATE.match(value):
        raise SanctionsFormatError(f"{where}: {value!r} is not an ISO date (YYYY, YYYY-MM or YYYY-MM-DD)")
    return value if len(value) in (4, 10) else value[:4]


def parse_ftm(text: str, source: str = "<list>") -> SanctionsList:
    """Parse FtM JSON lines; every problem names ``source:line`` and the field. Nothing is returned half-read."""
    raw: dict[str, dict[str, Any]] = {}
    sanctions: list[tuple[int, dict[str, Any]]] = []
    skipped: Counter[str] = Counter()
    order: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SanctionsFormatError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise SanctionsFormatError(f"{where}: expected a JSON object (an FtM entity)")
        for key in ("id", "schema"):
            if not isinstance(obj.get(key), str) or not obj[key]:
                raise SanctionsFormatError(f"{where}: field {key!r} is missing or not a string")
        props = obj.get("properties")
        if not isinstance(props, dict):
            raise SanctionsFormatError(f"{where}: field 'properties' is missing or not an object")
        clean = {k: _strings(v, f"{where}: properties.{k}") for k, v in props.items()}
        schema = obj["schema"]
        if schema == "Sanction":
            sanctions.append((n, clean))
            continue
        if schema not in TARGET_SCHEMAS:
            skipped[schema] += 1
            continue
        if not clean.get("name"):
            raise SanctionsFormatError(f"{where}: properties.name is empty for {schema} {obj['id']!r}")
        if obj["id"] in raw:
            raise SanctionsFormatError(f"{where}: duplicate entity id {obj['id']!r}")
        clean["_schema"] = [schema]
        clean["_line"] = [str(n)]
        raw[obj["id"]] = clean
        order.append(obj["id"])
    programs: dict[str, list[str]] = {}
    for _n, props in sanctions:
        for entity_id in props.get("entity", []):
            for program in props.get("program", []) or props.get("programId", []) or ["(unnamed programme)"]:
                programs.setdefault(entity_id, []).append(program)
    entities: list[ListedEntity] = []
    for entity_id in order:
        p = raw[entity_id]
        where = f"{source}:{p['_line'][0]}"
        schema = p["_schema"][0]
        names = p["name"]
        aliases = [a for a in [*names[1:], *p.get("alias", []), *p.get("previousName", [])] if a != names[0]]
        countries = sorted({c.upper() for prop in _COUNTRY_PROPS for c in p.get(prop, []) if len(c) == 2})
        kind: Literal["person", "organisation", "unknown"] = (
            "person" if schema in PERSON_SCHEMAS else "organisation" if schema in ORGANISATION_SCHEMAS else "unknown"
        )
        entities.append(
            ListedEntity(
                id=entity_id,
                name=names[0],
                aliases=list(dict.fromkeys(aliases)),
                weak_aliases=list(dict.fromkeys(p.get("weakAlias", []))),
                type=kind,
                schema_name=schema,
                dobs=list(dict.fromkeys(_dob(d, f"{where}: properties.birthDate") for d in p.get("birthDate", []))),
                countries=countries,
                programs=sorted(set(programs.get(entity_id, []) + p.get("program", []))),
            )
        )
    if not entities:
        raise SanctionsFormatError(f"{source}: no Person, Organization, Company or LegalEntity entity in the file")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return SanctionsList(
        list=Path(source).name,
        version=digest[:12],
        source=source,
        sha256=digest,
        entities=entities,
        skipped=dict(skipped),
    )


def load_file(path: Path | str) -> SanctionsList:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SanctionsFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SanctionsFormatError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_ftm(text, str(path))


def installed_path() -> Path:
    """Where ``steward data load sanctions`` puts the full list: ``<STEWARD_HOME>/data/sanctions.ftm.jsonl``."""
    return steward_home() / "data" / "sanctions.ftm.jsonl"


def active_path() -> Path:
    """The list screening reads: ``STEWARD_SANCTIONS_FILE``, else an installed list, else the shipped fixture."""
    configured = os.environ.get("STEWARD_SANCTIONS_FILE")
    if configured:
        return Path(configured)
    installed = installed_path()
    return installed if installed.exists() else FIXTURE


_CACHE: dict[Path, tuple[int, SanctionsList]] = {}


def active_list() -> SanctionsList:
    """The active list, parsed once per file change (a reload after ``steward data load`` needs no restart)."""
    path = active_path().resolve()
    mtime = path.stat().st_mtime_ns
    cached = _CACHE.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    parsed = load_file(path)
    _CACHE.clear()
    _CACHE[path] = (mtime, parsed)
    return parsed


def install(source: Path | str, target: Path | None = None) -> tuple[SanctionsList, Path]:
    """Validate ``source`` completely, then replace the active list atomically (temp file + rename).

    The list's version is the content digest; a manifest beside it records the source, counts and time."""
    parsed = load_file(source)
    target = target or installed_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    data = Path(source).read_bytes()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".sanctions-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    manifest = {
        "source": str(Path(source).resolve()),
        "sha256": parsed.sha256,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **parsed.counts(),
    }
    target.with_suffix(".manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return parsed, target
