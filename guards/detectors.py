"""Pure detectors (no guardrails import): PII, secrets, prompt-injection markers, URLs.

They return spans, so a validator can both say what it found and redact exactly that. Checksums (IBAN
mod-97, card Luhn) keep false positives down: a 16-digit order number is not a card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    text: str


_EMAIL = re.compile(r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
# A PAN as people write it: 13-19 digits starting with a payment-card industry digit (2-6), either unbroken or
# in groups with one separator used throughout (4-4-4-4[-3], Amex 4-6-5, Diners 4-6-4). A consistent separator
# keeps ids such as UUIDs (8-4-4-4-12) and dates out; the Luhn check keeps order numbers out.
_CARD = re.compile(
    r"(?<!\d)(?<!\d\.)(?:[2-6]\d{12,18}"
    r"|[2-6]\d{3}(?P<s1>[ .-])\d{4}(?P=s1)\d{4}(?P=s1)\d{1,4}(?:(?P=s1)\d{1,3})?"
    r"|[2-6]\d{3}(?P<s2>[ .-])\d{6}(?P=s2)\d{4,5})(?!\d|\.\d)"
)
_TRUNCATED_PAN = re.compile(r"(?<![\d*])[2-6]\d{5}\*{3,9}\d{4}(?![\d*])")
"""What ``mask_pan`` writes (first6, stars, last4)."""
_CVV_LABEL = re.compile(
    r"(?i)\b(?:cvv2?|cvc2?|cid|csc|cav2|card (?:security|verification) (?:code|value)|security code)"
    r"\b\W{0,3}(?:is\W{1,2})?(?P<code>\d{3,4})\b"
)
_EXPIRY = re.compile(r"(?<![\d/])(?:0[1-9]|1[0-2])\s?/\s?(?:\d{2}|20\d{2})(?![\d/])")
# After a PAN or an expiry date: an optional expiry, then a 3-4 digit code (what a card's back carries).
_CODE_AFTER = re.compile(
    r"[\s,;:|/()-]{1,4}(?:(?i:exp(?:iry|ires)?\.?)\W{0,2})?(?:(?:0[1-9]|1[0-2])\s?/\s?(?:\d{2}|20\d{2})"
    r"[\s,;:|/()-]{1,4})?(?P<code>\d{3,4})(?![\d/])"
)
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
"""``card`` covers PANs and card security codes (see ``find_cardholder``)."""


def find_pii(text: str, kinds: tuple[str, ...] | list[str] = PII_KINDS) -> list[Finding]:
    found: list[Finding] = []
    if "iban" in kinds:
        found += [Finding("iban", m.start(), m.end(), m.group()) for m in _IBAN.finditer(text) if iban_ok(m.group())]
    if "card" in kinds:
        found += find_cardholder(text)
        # A PAN already truncated at intake is still a card reference: outbound messages drop it too.
        found += [Finding("card", m.start(), m.end(), m.group()) for m in _TRUNCATED_PAN.finditer(text)]
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


def find_pans(text: str) -> list[Finding]:
    """Luhn-valid primary account numbers, in any of the separator variants ``_CARD`` accepts."""
    out = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_ok(digits) and not _inside_digest(text, m.start(), m.end()):
            out.append(Finding("card", m.start(), m.end(), m.group()))
    return out


def _inside_digest(text: str, start: int, end: int) -> bool:
    """True when the digits are part of a long hex token (a hash or key id), where a digit run is chance."""
    while start > 0 and text[start - 1] in _HEX:
        start -= 1
    while end < len(text) and text[end] in _HEX:
        end += 1
    return end - start >= 32


_HEX = frozenset("0123456789abcdefABCDEF")


def find_cardholder(text: str) -> list[Finding]:
    """PANs and card security codes (CVV2/CVC2/CID): a code when labelled, or when it follows a PAN or an
    expiry date within a few characters. PCI DSS 3.3 forbids storing a code at all, even masked, so its
    span is reported for redaction whatever its context; a bare 3-4 digit number elsewhere is not a code."""
    pans = find_pans(text)
    codes = [
        Finding("card_security_code", m.start("code"), m.end("code"), m.group("code"))
        for m in _CVV_LABEL.finditer(text)
    ]
    anchors = [f.end for f in pans] + [m.end() for m in _EXPIRY.finditer(text)]
    for end in anchors:
        m = _CODE_AFTER.match(text, end)
        if m:
            codes.append(Finding("card_security_code", m.start("code"), m.end("code"), m.group("code")))
    return _dedupe(pans + codes)


def mask_pan(pan: str) -> str:
    """PCI DSS 3.4 truncation: at most the first six and last four digits stay, separators are dropped."""
    digits = re.sub(r"\D", "", pan)
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def mask_cardholder(text: str) -> str:
    """The text with every PAN truncated (first6/last4) and every security code replaced by ``***``."""
    findings = find_cardholder(text)
    if not findings:
        return text
    out, last = [], 0
    for f in findings:
        out.append(text[last : f.start])
        out.append(mask_pan(f.text) if f.kind == "card" else "***")
        last = f.end
    out.append(text[last:])
    return "".join(out)


def mask_cardholder_value(value: Any) -> Any:
    """A copy of a JSON-like value with every string masked by ``mask_cardholder`` (keys too: a PAN can be a
    key). Numbers are left alone: a card number typed into a numeric field cannot be told from an amount."""
    if isinstance(value, str):
        return mask_cardholder(value) if _MAYBE_PAN.search(value) else value
    if isinstance(value, dict):
        return {mask_cardholder_value(k): mask_cardholder_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_cardholder_value(v) for v in value]
    return value


_MAYBE_PAN = re.compile(r"\d{3}")
"""Cheap pre-filter: a string without three digits in a row holds neither a PAN nor a code."""


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
