"""Follow-up questions about a run, answered from its own record ("why was it referred?", "who approved?").

The record is what Steward wrote while the run ran: the run row (input, status, requester), its outcome
(decision, basis: rules fired, score, policy rules, cited passages; actions; authored texts), its event log,
its approvals and its audit trail, and the policy passages the outcome cites (read from the policy corpus by
their citation id). ``record_facts`` turns that record into numbered **facts**, each a sentence written by
rules with the record field it comes from (``ref``): ``outcome.basis.rules_fired[0]``, ``event:12``,
``approval:ap-1``, ``policy:lending-policy#LP-4.4``.

``answer`` picks the facts a question is about (by topic words, then by the words the question shares with a
fact), and:

- without a model, or when the model fails, the answer is those facts, by rules, each with its citation;
- with a model, the model writes the answer from those facts only, its tokens streaming as they come; then
  every claim in it (numbers, dates, identifiers, names, decision words) must map to a cited fact's text or
  value. If one does not, the model's answer is **withdrawn** (the reason is kept) and the rules' answer is
  given instead, so nothing the record does not hold reaches the operator as an answer;
- when no fact is about the question, the answer is "I can't find that in the record." (``found`` false).

Nothing here writes to the run or can change a decision: it reads, then the API keeps the answer with the
thread.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NOT_FOUND = "I can't find that in the record."
MAX_QUESTION_CHARS = 1000
MAX_FACTS = 8
ANSWER_PROMPT = """Answer the question about a case in one or two short sentences, using only the numbered facts
from the case's record, and put the number of each fact you use in brackets.

Facts:
[1] The decision was referred, decided by rules.
[2] Rule LEND-DSTI-REFER fired.
Question: why was it referred?
Answer: The rules referred it because rule LEND-DSTI-REFER fired [1] [2].
"""
"""A worked example, not instructions alone: the default local model is a small base model, which continues a
pattern far better than it follows a paragraph of instructions (measured: with instructions only, it repeated
the instructions back as its answer)."""
ANSWER_STOP = ["\nQuestion:", "\nFacts:", "\n\n"]
MIN_COVERAGE = 0.75
"""Share of a sentence's content words that its cited facts (or the question) must contain."""
_GLUE = set(
    "because since after before then also both there their they them was were has have had been being the this "
    "that these those which who whom what when with without from into under over case rules rule person people "
    "answer not and but for its".split()
)
"""Words an answer may use that no fact needs to hold."""

# Topic words -> the kinds of fact that answer them. A question may hit several topics.
TOPICS: dict[str, tuple[str, ...]] = {
    "why": ("why", "reason", "because", "explain", "how come", "basis", "cause"),
    "rule": ("rule", "rules", "fired", "triggered", "policy rule", "guard", "check"),
    "approval": (
        "approv",
        "who decided",
        "decided",
        "reject",
        "sign",
        "who",
        "when",
        "deadline",
        "role",
        "escalat",
        "confirm",
        "review",
        "person",
    ),
    "policy": ("policy", "handbook", "procedure", "section", "say", "says", "regulation", "passage"),
    "action": ("action", "notice", "notif", "sent", "deliver", "paid", "pay", "webhook", "execut", "email"),
    "score": ("score", "pd", "probability", "default", "band", "model", "risk"),
    "decision": ("decision", "decided", "outcome", "result", "refer", "approved", "declin", "status", "happen"),
    "input": ("input", "amount", "income", "applicant", "application", "customer", "claimed", "asked for"),
    "error": ("fail", "error", "wrong", "crash", "retry", "timeout", "timed out"),
    "who_started": ("who started", "who asked", "requester", "who submitted", "who ran", "started by"),
    "amount": ("how much", "amount", "payout", "sum", "price", "worth"),
    "missing": ("missing", "document", "incomplete", "lacking"),
}
# Which fact topics answer which question topics ("why" is answered by the decision and its basis).
ANSWERS: dict[str, tuple[str, ...]] = {
    "why": ("decision", "rule", "score", "policy", "guard"),
    "rule": ("rule", "guard"),
    "approval": ("approval",),
    "policy": ("policy",),
    "action": ("action",),
    "score": ("score",),
    "decision": ("decision",),
    "input": ("input",),
    "error": ("error",),
    "who_started": ("run",),
    "amount": ("amount",),
    "missing": ("missing",),
}
_EXPLANATORY = {"why", "rule", "approval", "decision", "policy", "action", "error"}
"""Topics whose questions restate their subject in passing ("why was it paid without an adjuster?")."""
_SUBJECT = set(
    "loan claim case customer application applicant claimant person someone anyone payment company file "
    "without have has had get got give gave make made need needed this that".split()
)
"""Words that name what every question is about, not a fact to look for."""
_STOP = set(
    "the a an of to in on for and or is was were be been it this that what which who whom when why how did does "
    "do with by at from as are about any there their its case run me tell please can you i we".split()
)
_DECISION_WORDS = (
    "approved",
    "approve",
    "declined",
    "decline",
    "rejected",
    "referred",
    "refer",
    "accepted",
    "denied",
    "paid",
    "escalated",
    "cleared",
    "executed",
    "failed",
    "cancelled",
    "expired",
    "delivered",
    "queued",
    "simulated",
    "blocked",
)


@dataclass
class Fact:
    """One statement the record supports, written by rules, with the record field it comes from."""

    kind: str  # outcome | event | audit | policy | approval | input | run
    ref: str
    label: str
    text: str
    value: Any = None
    topics: tuple[str, ...] = ()
    seq: int | None = None
    excerpt: str | None = None
    weight: int = 1
    """0: what a question about its topic is first answered with (the decision, a rule that fired, a cited
    passage); 2: background (the rulesets that ran, an approval's policy rule)."""

    def citation(self, n: int) -> dict[str, Any]:
        return {
            "n": n,
            "kind": self.kind,
            "ref": self.ref,
            "label": self.label,
            "value": self.value,
            "seq": self.seq,
            "excerpt": self.excerpt,
        }


@dataclass
class Record:
    """A run's record as the store holds it."""

    run: dict[str, Any]
    events: list[dict[str, Any]]
    approvals: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)


def load_record(store: Any, run: dict[str, Any], tenant: str) -> Record:
    """Everything the answer may cite, read once (token events are left out: they are not facts)."""
    events = [e for e in store.events_after(run["run_id"], 0, 10_000) if e["type"] != "token"]
    return Record(
        run=run,
        events=events,
        approvals=store.list_approvals(tenant=tenant, run_id=run["run_id"], limit=1000),
        audit=store.audit_records(run_id=run["run_id"], tenant=tenant),
    )


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(ts)))


def _short(value: Any, n: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= n else text[: n - 1] + "…"


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)]


def record_facts(record: Record) -> list[Fact]:
    """The record as facts, in the order an operator reads a case: what was asked, decided, why, who."""
    from tools.corpus import get_section

    run = record.run
    facts: list[Fact] = []
    add = facts.append
    add(
        Fact(
            "run",
            "run.requester",
            "started by",
            f"Run {run['run_id']} of {run['assistant_id']} was started by {run['requester']} at "
            f"{_iso(run['created_at'])}; its status is {run['status']}.",
            {"requester": run["requester"], "created_at": _iso(run["created_at"]), "status": run["status"]},
            ("run",),
        )
    )
    for path, value in _leaves(run.get("input") or {})[:30]:
        if path.startswith("messages") or value in (None, "", [], {}):
            continue
        topics = ("input", "amount") if re.search(r"amount|income|value|price", path) else ("input",)
        add(Fact("input", f"input.{path}", path, f"The input gave {path} = {_short(value, 80)}.", value, topics))
    outcome = run.get("output") or {}
    if isinstance(outcome, dict) and outcome.get("decision"):
        decided_by = outcome.get("decided_by", "?")
        add(
            Fact(
                "outcome",
                "outcome.decision",
                "decision",
                f"The decision was {outcome['decision']}, decided by {decided_by}.",
                {"decision": outcome["decision"], "decided_by": decided_by},
                ("decision",),
                weight=0,
            )
        )
        for key, value in outcome.items():
            if key in _OUTCOME_FRAME or value in (None, "", [], {}) or isinstance(value, dict):
                continue
            if isinstance(value, list) and not all(isinstance(v, str | int | float) for v in value):
                continue
            topics = ("decision", "amount") if re.search(r"pay|amount|sum|limit", key) else ("decision",)
            if "missing" in key:
                topics = (*topics, "missing")
            add(
                Fact(
                    "outcome",
                    f"outcome.{key}",
                    key.replace("_", " "),
                    f"The outcome's {key.replace('_', ' ')}: {_short(value, 120)}.",
                    value,
                    topics,
                )
            )
        basis = outcome.get("basis") or {}
        for i, rule in enumerate(basis.get("rules_fired") or []):
            add(
                Fact(
                    "outcome",
                    f"outcome.basis.rules_fired[{i}]",
                    f"rule {rule}",
                    f"Rule {rule} fired.",
                    rule,
                    ("rule",),
                    weight=0,
                )
            )
        if basis.get("rules"):
            add(
                Fact(
                    "outcome",
                    "outcome.basis.rules",
                    "rulesets",
                    f"The rulesets that evaluated the case: {', '.join(basis['rules'])}.",
                    basis["rules"],
                    ("rule",),
                    weight=2,
                )
            )
        if basis.get("score"):
            score = {k: v for k, v in basis["score"].items() if not isinstance(v, dict | list)}
            add(
                Fact(
                    "outcome",
                    "outcome.basis.score",
                    "score",
                    "The scoring model gave " + ", ".join(f"{k} = {v}" for k, v in score.items()) + ".",
                    basis["score"],
                    ("score",),
                    weight=0,
                )
            )
        for i, rule in enumerate(basis.get("policy_rules") or []):
            add(
                Fact(
                    "outcome",
                    f"outcome.basis.policy_rules[{i}]",
                    f"policy rule {rule}",
                    f"Policy rule {rule} gated the actions.",
                    rule,
                    ("rule", "approval"),
                    weight=2 if str(rule).startswith("default") else 1,  # a fallback rule explains nothing
                )
            )
        for cite in basis.get("citations") or []:
            try:
                section = get_section(cite)
            except (KeyError, ValueError):
                continue
            excerpt = " ".join(section.text.split())
            add(
                Fact(
                    "policy",
                    f"policy:{cite}",
                    f"{section.doc_title} {section.section_id} {section.title}".strip(),
                    f"{section.doc_title} section {section.section_id} ({section.title}, version "
                    f"{section.doc_version}) says: {_short(excerpt, 300)}",
                    cite,
                    ("policy",),
                    weight=0,
                    excerpt=excerpt[:1200],
                )
            )
        for i, act in enumerate(outcome.get("actions") or []):
            delivery = "simulated: nothing was sent" if act.get("adapter") == "simulated" else act.get("delivery")
            who = f", decided by {act['decided_by']}" if act.get("decided_by") else ""
            add(
                Fact(
                    "outcome",
                    f"outcome.actions[{i}]",
                    f"action {act.get('tool')}",
                    f"Action {act.get('tool')} is {act.get('status')}"
                    + (f" ({act.get('adapter')}, {delivery})" if act.get("adapter") else "")
                    + who
                    + ".",
                    act,
                    ("action",),
                )
            )
        for i, txt in enumerate(outcome.get("texts") or []):
            by = txt.get("by")
            author = f"the model {txt.get('model')}" if by == "model" else str(by)
            add(
                Fact(
                    "outcome",
                    f"outcome.texts[{i}]",
                    f"text by {by}",
                    f"A text written by {author} said: {_short(txt.get('text', ''), 240)}",
                    txt.get("text"),
                    ("text",),
                )
            )
    requested = {e["data"].get("approval_id"): e for e in record.events if e["type"] == "approval_requested"}
    decided = {e["data"].get("approval_id"): e for e in record.events if e["type"] == "approval_decided"}
    for a in record.approvals:
        rule = f" under policy rule {a['rule_id']}" if a.get("rule_id") else ""
        version = f"@{a['policy_version']}" if a.get("rule_id") and a.get("policy_version") else ""
        req = requested.get(a["approval_id"])
        add(
            Fact(
                "event" if req else "approval",
                f"event:{req['seq']}" if req else f"approval:{a['approval_id']}",
                f"approval {a['approval_id']} requested",
                f"{a['tool']} needed an approval by the role {a['required_role']}{rule}{version}, asked at "
                f"{_iso(a['created_at'])}" + (f", due {_iso(a['deadline_at'])}" if a.get("deadline_at") else "") + ".",
                {k: a.get(k) for k in ("approval_id", "tool", "required_role", "rule_id", "policy_version", "reason")},
                ("approval", "rule"),
                weight=2,
                seq=req["seq"] if req else None,
            )
        )
        if a.get("decided_by"):
            dec = decided.get(a["approval_id"])
            comment = f' with the comment "{_short(a["comment"], 120)}"' if a.get("comment") else ""
            add(
                Fact(
                    "event" if dec else "approval",
                    f"event:{dec['seq']}" if dec else f"approval:{a['approval_id']}",
                    f"approval {a['approval_id']} decided",
                    f"{a['tool']} was {a['status']} by {a['decided_by']} at {_iso(a['decided_at'])}{comment}.",
                    {k: a.get(k) for k in ("approval_id", "status", "decided_by", "action", "comment")}
                    | {"decided_at": _iso(a.get("decided_at"))},
                    ("approval",),
                    seq=dec["seq"] if dec else None,
                )
            )
    if not record.approvals:
        actions = (outcome.get("actions") or []) if isinstance(outcome, dict) else []
        gates = {str(a.get("tool")): str(a["policy_rule"]) for a in actions if a.get("policy_rule")}
        add(
            Fact(
                "run",
                "events[type=approval_requested]",
                "no approval",
                "No approval was requested in this run: no person had to decide anything."
                + (
                    " The actions ran under policy rules: "
                    + ", ".join(f"{rule} ({tool})" for tool, rule in gates.items())
                    + "."
                    if gates
                    else ""
                ),
                {"approvals": [], "policy_rules": gates},
                ("approval",),
                weight=0,
            )
        )
    for e in record.events:
        d = e["data"]
        if e["type"] == "policy_decision" and d.get("effect") not in (None, "allow"):
            add(
                Fact(
                    "event",
                    f"event:{e['seq']}",
                    f"{d.get('effect')} by {d.get('rule_id')}",
                    f"The guard or policy said {d.get('effect')} to {d.get('tool', 'a call')} by rule "
                    f"{d.get('rule_id')}: {_short(d.get('reason', ''), 160)}.",
                    d,
                    ("guard", "rule"),
                    weight=0,
                    seq=e["seq"],
                )
            )
        elif e["type"] in ("tool_failed", "node_failed"):
            what = d.get("tool") or d.get("node")
            add(
                Fact(
                    "event",
                    f"event:{e['seq']}",
                    f"{e['type']} {what}",
                    f"{what} failed: {_short(d.get('error', ''), 160)}.",
                    d,
                    ("error",),
                    seq=e["seq"],
                )
            )
        elif e["type"] == "run_finished" and d.get("status") != "success":
            add(
                Fact(
                    "event",
                    f"event:{e['seq']}",
                    "run finished",
                    f"The run finished with status {d.get('status')}: {_short(d.get('error') or '', 160)}.",
                    d,
                    ("error", "decision"),
                    seq=e["seq"],
                )
            )
    return facts


_OUTCOME_FRAME = {"decision", "decided_by", "basis", "actions", "texts", "prompt_versions", "extra", "citations"}


def _words(text: str) -> set[str]:
    """Content words (identifiers split at ``_``/``-``/``.``), without function words."""
    return {w for w in re.findall(r"[a-z0-9]{3,}", text.lower()) if w not in _STOP}


def question_topics(question: str) -> list[str]:
    """The topics a question is about: a topic word at the start of a word ("approv" in "approved")."""
    q = question.lower()
    return [topic for topic, words in TOPICS.items() if any(re.search(rf"\b{re.escape(w)}", q) for w in words)]


def select_facts(question: str, facts: list[Fact]) -> list[Fact]:
    """The facts a question is about: by its topics (the best facts of each topic in turn, so "why was it
    approved without a person?" gets the decision, the rule that fired, the passage and the approval facts
    before a second rule), narrowed to the facts the question names when it names some; else the facts
    sharing the most content words with it."""
    topics = question_topics(question)
    order: list[str] = []
    for topic in topics:
        order += [t for t in ANSWERS.get(topic, ()) if t not in order]
    if "approval" in topics and "why" not in topics and "decision" in order and len(order) > 1:
        order.remove("decision")  # "who approved it?" is about the approval, not the decision in general
    qwords = {w for w in _words(question) if w not in _SUBJECT and not any(w.startswith(t) for t in _TOPIC_WORDS)}
    words = {id(f): _words(f"{f.text} {f.label} {json.dumps(f.value, default=str)}") for f in facts}
    named_anywhere = {w for w in qwords if any(w in ws for ws in words.values())}
    if qwords - named_anywhere and not _EXPLANATORY & set(topics):
        return []  # it asks about something the record does not hold ("the applicant's favourite colour")
    pool = [f for f in facts if set(order) & set(f.topics)]
    if pool and named_anywhere:
        named = [f for f in pool if named_anywhere & words[id(f)]]
        if named:
            pool = named
    if pool:
        groups = [sorted((f for f in pool if t in f.topics), key=lambda f: f.weight) for t in order]
        chosen: list[Fact] = []
        while len(chosen) < MAX_FACTS and any(groups):
            for group in groups:
                while group and group[0] in chosen:
                    group.pop(0)
                if group and len(chosen) < MAX_FACTS:
                    chosen.append(group.pop(0))
        return chosen
    if named_anywhere:
        scored = [(len(named_anywhere & words[id(f)]), i, f) for i, f in enumerate(facts)]
        best = max((n for n, _, _ in scored), default=0)
        return [f for n, _, f in scored if n and n == best][:MAX_FACTS]
    return []


_TOPIC_WORDS = {w for words in TOPICS.values() for phrase in words for w in phrase.split() if len(w) >= 3} | set(
    _DECISION_WORDS
)


# -- grounding -------------------------------------------------------------------------------------------

_CLAIM = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?"  # dates and times
    r"|\b[A-Z][A-Z0-9]*(?:[-_.][A-Z0-9]+)+\b"  # identifiers: LEND-DSTI-REFER, LP-4.4, A-9
    r"|\b\d[\d,.]*%?"  # numbers
    r"|\b[a-z]+-[a-z0-9]+(?:-[a-z0-9]+)*\b"  # ids like ap-1f2e, run-..., lending-policy
)


def claims_of(text: str) -> list[str]:
    """The checkable claims in a text: numbers, dates, identifiers, names and decision words."""
    out = [m.group(0).rstrip(".,") for m in _CLAIM.finditer(text)]
    lower = text.lower()
    out += [w for w in _DECISION_WORDS if re.search(rf"\b{w}\b", lower)]
    # Capitalised names not at a sentence's start (e.g. "Arthur", "Meridian").
    for sentence in re.split(r"(?<=[.!?:;])\s+", text):
        out += re.findall(r"(?<=\s)[A-Z][a-z]{2,}\b", sentence)
    return [c for c in out if c]


def _norm_number(token: str) -> str | None:
    raw = token.replace(",", "").rstrip("%")
    try:
        return repr(round(float(raw), 6))
    except ValueError:
        return None


def ungrounded(text: str, cited: list[Fact]) -> list[str]:
    """The claims of ``text`` that no cited fact holds (its sentence or its value); [] when all map."""
    source = " ".join(f.text + " " + f.label + " " + json.dumps(f.value, default=str) for f in cited)
    source_lower = source.lower()
    numbers = {n for n in (_norm_number(t) for t in re.findall(r"\d[\d,.]*", source)) if n}
    missing = []
    for claim in claims_of(text):
        if claim.lower() in source_lower:
            continue
        num = _norm_number(claim)
        if num is not None and num in numbers:
            continue
        if claim.lower() in _DECISION_WORDS:
            stem = claim.lower()[:5]
            if stem in source_lower:
                continue
        missing.append(claim)
    return missing


def unsupported_sentences(text: str, cited: list[Fact], question: str) -> list[str]:
    """The sentences of ``text`` that are not claims of the cited facts: each sentence's content words must
    come (``MIN_COVERAGE`` of them) from the cited facts or the question, and at least one from a fact. This
    catches what a list of checkable tokens does not: a model repeating its instructions, or inventing a
    fact in plain words ("the phone number was used to track the shipment")."""
    if re.search(r"(?im)^\s*(question|facts|answer)\s*:", text):
        return [text.strip()[:120]]
    fact_words = set().union(*(_words(f"{f.text} {f.label} {json.dumps(f.value, default=str)}") for f in cited))
    allowed = fact_words | _words(question) | _GLUE
    bad = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        words = {w for w in _words(sentence) if len(w) > 3 and not w.isdigit()} - _GLUE
        if not words:
            continue
        covered = len(words & allowed) / len(words)
        if covered < MIN_COVERAGE or not words & fact_words:
            bad.append(sentence[:120])
    return bad


def _malformed(text: str, n: int) -> str | None:
    """Why a model's text is not an answer at all, whatever its words: it cites a fact that was not given,
    repeats the fact list ("[7] Policy rule ..."), or says the same sentence twice (measured: what
    gemma3-270m writes for most questions)."""
    numbers = [int(m) for m in re.findall(r"\[(\d{1,3})\]", text)]
    if any(k < 1 or k > n for k in numbers):
        return "it cites a fact that was not given"
    if re.match(r"\s*\[\d", text):
        return "it repeats the list of facts instead of answering"
    sentences = [x.strip() for x in re.split(r"(?<=[.!?])\s+|\n+", text) if x.strip()]
    if len(sentences) != len(set(sentences)):
        return "it repeats itself"
    for sentence in sentences:
        words = re.findall(r"[a-z]+", sentence.casefold())
        pairs = [(a, b) for a, b in zip(words, words[1:], strict=False) if len(a) > 2 and len(b) > 2]
        if any(a == b for a, b in zip(words, words[1:], strict=False) if len(a) > 2) or len(pairs) != len(set(pairs)):
            return "it repeats its words"  # measured: "The rules fired rule X fired rule rule ..." (smollm2-135m)
    return None


def _cited_numbers(text: str, n: int) -> list[int]:
    return sorted({int(m) for m in re.findall(r"\[(\d{1,2})\]", text) if 1 <= int(m) <= n})


# -- answering -------------------------------------------------------------------------------------------


def rules_answer(chosen: list[Fact]) -> str:
    return " ".join(f"{f.text} [{i}]" for i, f in enumerate(chosen, 1))


async def answer(
    record: Record,
    question: str,
    *,
    asked_by: str,
    model: Any | None = None,
    on_token: Callable[[str], None] | None = None,
    max_tokens: int = 120,
) -> dict[str, Any]:
    """The answer to ``question`` from ``record`` (see the module docstring), as the API returns it."""
    facts = record_facts(record)
    chosen = select_facts(question, facts)
    base: dict[str, Any] = {
        "answer_id": "ans-" + secrets.token_hex(8),
        "thread_id": record.run["thread_id"],
        "run_id": record.run["run_id"],
        "question": question,
        "asked_by": asked_by,
        "created_at": _iso(time.time()),
        "model": None,
        "withdrawn": None,
    }
    if not chosen:
        return {**base, "text": NOT_FOUND, "by": "rules", "found": False, "citations": []}
    citations = [f.citation(i) for i, f in enumerate(chosen, 1)]
    fallback = {**base, "text": rules_answer(chosen), "by": "rules", "found": True, "citations": citations}
    if model is None:
        return fallback
    from runtime.llm.chat_model import astream_message

    listing = "\n".join(f"[{i}] {f.text}" for i, f in enumerate(chosen, 1))
    prompt = f"{ANSWER_PROMPT}\nFacts:\n{listing}\nQuestion: {question}\nAnswer:"
    name = getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
    try:
        message = await astream_message(
            model.bind(max_tokens=max_tokens, stop=ANSWER_STOP), [{"role": "user", "content": prompt}], on_token
        )
        text = str(message.content or "").strip()
    except Exception as exc:  # noqa: BLE001 - the model only phrases; the record's answer stands without it
        return {**fallback, "model": str(name), "withdrawn": f"the model did not answer ({type(exc).__name__})"}
    if not text:
        return {**fallback, "model": str(name), "withdrawn": "the model wrote nothing"}
    if text.strip().rstrip(".").lower() == NOT_FOUND.rstrip(".").lower():
        return {**fallback, "model": str(name), "withdrawn": "the model found no answer in facts that hold one"}
    shape = _malformed(text, len(chosen))
    if shape:
        return {**fallback, "model": str(name), "withdrawn": shape}
    used = _cited_numbers(text, len(chosen))
    cited = [chosen[i - 1] for i in used] or chosen
    plain = re.sub(r"\[\d{1,2}\]", "", text)
    missing = ungrounded(plain, cited)
    unsupported = unsupported_sentences(plain, cited, question)
    if missing or unsupported:
        reason = "; ".join(
            ([f"claims not in the record: {', '.join(dict.fromkeys(missing))}"] if missing else [])
            + ([f"a sentence not in the record (no cited fact supports it): {unsupported[0]!r}"] if unsupported else [])
        )
        return {**fallback, "model": str(name), "withdrawn": _short(reason, 300)}
    if not used:  # every claim is in the facts; cite them all
        text = text + " " + " ".join(f"[{i}]" for i in range(1, len(chosen) + 1))
    return {**base, "text": text, "by": "model", "model": str(name), "found": True, "citations": citations}


__all__ = [
    "NOT_FOUND",
    "Fact",
    "Record",
    "answer",
    "claims_of",
    "load_record",
    "record_facts",
    "select_facts",
    "ungrounded",
]
