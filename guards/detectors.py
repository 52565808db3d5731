"""Pure detectors (no guardrails import): PII, secrets, prompt-injection markers, URLs.

They return spans, so a validator can both say what it found and redact exactly that. Checksums (IBAN
mod-97, card Luhn) keep false positives down: a 16-digit order number is not a card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str


_EMAIL = re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}[ .-]\d{3,4}[ .-]?\d{3,4}\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_NINO = re.compile(r"\b(?![DFIQUV])[A-CEGHJ-PR-TW-Z](?![DFIQUVO])[A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b")

_SECRETS = [
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("openai_key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}\b")),
    ("github_token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("steward_key", re.compile(r"\bstw_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}\b")),
    (
        "private_key",
        re.compile(r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z ]+ )?PRIVATE KEY-----|$)"),
    ),
    ("bearer_token", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{20,}=*")),
    ("assigned_secret", re.compile(r"(?i)\b(?:api[_-]?key|secret|password|passwd|token)\s*[:=]\s*['\"]?[^\s'\"]{8,}")),
]

_INJECTION = [
    re.compile(
        r"(?i)\b(?:ignore|disregard|forget|override)\b[^.\n]{0,40}\b(?:previous|prior|above|earlier|all|system|"
        r"your)\b[^.\n]{0,20}\b(?:instructions?|prompts?|rules?|polic(?:y|ies)|guidelines?)"
    ),
    re.compile(r"(?i)\byou are now\b|\bact as (?:an? )?(?:admin|administrator|developer|system|approver)\b"),
    re.compile(r"(?i)\b(?:system|developer) (?:prompt|message|mode)\b"),
    re.compile(
        r"(?i)<\|(?:im_start|im_end|system|assistant|user)\|>|\[/?INST\]|<<SYS>>|^\s*#{2,}\s*(?:system|instruction)"
    ),
    re.compile(
        r"(?i)\b(?:approve|pay|transfer|release)\b[^.\n]{0,40}\b(?:immediately|without (?:review|approval|checks?))"
    ),
    re.compile(
        r"(?i)\b(?:do not|don't|never) (?:tell|inform|notify|log|record)\b[^.\n]{0,30}\b(?:user|human|operator|"
        r"approver|audit)"
    ),
    re.compile(r"(?i)\bjailbreak\b|\bDAN mode\b"),
]

_URL = re.compile(r"\bhttps?://[^\s'\"<>]+", re.IGNORECASE)


def luhn_ok(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        alt = not alt
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    try:
        number = int("".join(str(int(c, 36)) for c in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


PII_KINDS = ("email", "phone", "iban", "card", "national_id")


def find_pii(text: str, kinds: tuple[str, ...] | list[str] = PII_KINDS) -> list[Finding]:
    found: list[Finding] = []
    if "iban" in kinds:
        found += [Finding("iban", m.start(), m.end(), m.group()) for m in _IBAN.finditer(text) if iban_ok(m.group())]
    if "card" in kinds:
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 13 <= len(digits) <= 19 and luhn_ok(digits):
                found.append(Finding("card", m.start(), m.end(), m.group()))
    if "email" in kinds:
        found += [Finding("email", m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    if "national_id" in kinds:
        found += [Finding("national_id", m.start(), m.end(), m.group()) for m in _SSN.finditer(text)]
        found += [Finding("national_id", m.start(), m.end(), m.group()) for m in _NINO.finditer(text)]
    if "phone" in kinds:
        for m in _PHONE.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 9 <= len(digits) <= 15:
                found.append(Finding("phone", m.start(), m.end(), m.group()))
    return _dedupe(found)


def find_secrets(text: str) -> list[Finding]:
    return _dedupe([Finding(kind, m.start(), m.end(), m.group()) for kind, rx in _SECRETS for m in rx.finditer(text)])


def find_injection(text: str) -> list[Finding]:
    return _dedupe(
        [Finding("prompt_injection", m.start(), m.end(), m.group()) for rx in _INJECTION for m in rx.finditer(text)]
    )


def find_urls_outside(text: str, allowed_domains: list[str]) -> list[Finding]:
    out = []
    for m in _URL.finditer(text):
        host = (urlparse(m.group()).hostname or "").lower()
        if not any(host == d or host.endswith("." + d) for d in allowed_domains):
            out.append(Finding("url_not_allowed", m.start(), m.end(), m.group()))
    return out


def _dedupe(found: list[Finding]) -> list[Finding]:
    """Keep the first (highest-priority) finding where spans overlap: an IBAN is not also a phone number."""
    kept: list[Finding] = []
    for f in found:
        if not any(f.start < k.end and k.start < f.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def redact(text: str, findings: list[Finding], label: str | None = None) -> str:
    out, last = [], 0
    for f in sorted(findings, key=lambda f: f.start):
        if f.start < last:
            continue
        out.append(text[last : f.start])
        out.append(f"<{(label or f.kind).upper()}>")
        last = f.end
    out.append(text[last:])
    return "".join(out)
