"""The policy corpus shipped in the repo (``tools/data/corpus/*.md``), split into citable sections.

Each document has front matter (``doc_id``, ``title``, ``version``) and headings that start with a section id
(``### LP-3.1 Bureau score bands``). A citation is ``doc_id#section_id``. Resolving a citation is a file read,
so agents can quote the exact passage a fired rule cites without touching the vector index.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tools._settings import DATA_DIR

CORPUS_DIR = DATA_DIR / "corpus"
_HEADING = re.compile(r"^(#{2,4})\s+([A-Z]{2,4}-\d+(?:\.\d+)*)\s+(.+?)\s*$")


@dataclass(frozen=True)
class Section:
    doc_id: str
    doc_title: str
    doc_version: str
    section_id: str
    title: str
    text: str

    @property
    def citation(self) -> str:
        return f"{self.doc_id}#{self.section_id}"


def _front_matter(raw: str, path: Path) -> tuple[dict[str, str], str]:
    if not raw.startswith("---\n"):
        raise ValueError(f"corpus file {path.name!r} has no front matter (doc_id, title, version)")
    head, _, body = raw[4:].partition("\n---\n")
    meta = {}
    for line in head.splitlines():
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip().strip('"')
    missing = {"doc_id", "title", "version"} - set(meta)
    if missing:
        raise ValueError(f"corpus file {path.name!r}: front matter lacks {sorted(missing)}")
    return meta, body


def parse_document(path: Path) -> list[Section]:
    """Sections of one document, in order; a heading's text runs until the next heading."""
    meta, body = _front_matter(path.read_text(encoding="utf-8"), path)
    sections: list[Section] = []
    current: tuple[str, str] | None = None
    lines: list[str] = []

    def flush() -> None:
        if current is not None:
            sections.append(
                Section(
                    meta["doc_id"], meta["title"], meta["version"], current[0], current[1], "\n".join(lines).strip()
                )
            )

    for line in body.splitlines():
        m = _HEADING.match(line)
        if m:
            flush()
            current, lines = (m.group(2), m.group(3)), []
        elif line.startswith("#"):
            continue
        elif current is not None:
            lines.append(line)
    flush()
    return sections


@lru_cache(maxsize=1)
def _load(directory: Path) -> tuple[tuple[Section, ...], str]:
    sections: list[Section] = []
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.md")):
        digest.update(path.read_bytes())
        sections.extend(parse_document(path))
    return tuple(sections), digest.hexdigest()[:12]


def all_sections(directory: Path = CORPUS_DIR) -> list[Section]:
    return list(_load(directory)[0])


def corpus_digest(directory: Path = CORPUS_DIR) -> str:
    """Changes whenever a document changes, so the vector index knows to rebuild."""
    return _load(directory)[1]


def get_section(citation: str, directory: Path = CORPUS_DIR) -> Section:
    """The section a citation names; the error lists the documents that exist."""
    doc_id, sep, section_id = citation.partition("#")
    if not sep:
        raise ValueError(f"citation {citation!r} must look like 'doc_id#section_id'")
    sections = all_sections(directory)
    for s in sections:
        if s.doc_id == doc_id and s.section_id == section_id:
            return s
    docs = sorted({s.doc_id for s in sections})
    raise KeyError(f"citation {citation!r} not found; documents: {docs}")


def quote(citations: list[str], max_chars: int = 400) -> list[dict[str, str]]:
    """The cited passages, shortened, for an outcome's ``citations`` (unknown ids are reported, not dropped)."""
    out: list[dict[str, str]] = []
    for cite in citations:
        try:
            s = get_section(cite)
        except (KeyError, ValueError) as exc:
            out.append({"citation": cite, "error": str(exc).strip("'\"")})
            continue
        text = " ".join(s.text.split())
        out.append(
            {
                "citation": cite,
                "doc_id": s.doc_id,
                "section_id": s.section_id,
                "title": s.title,
                "doc_version": s.doc_version,
                "text": text if len(text) <= max_chars else text[: max_chars - 1] + "…",
            }
        )
    return out
