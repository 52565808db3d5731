"""Follow-up questions answered from run records, with the real local model -> ``bench/results/chat.json``.

``evals/suites/chat_followups.jsonl`` names handbook suite cases and what a correct answer must cite (written
from the lending policy, KYC procedure and claims handbook, not from the answering code). This benchmark runs
those cases as ``steward eval run`` runs them (an embedded Temporal dev server, an in-process worker, the
agents with the model from the embedded model server, scripted approvers), then asks each question about its
case's run through ``runtime.ask.answer`` (what ``POST /threads/{id}/ask`` calls) with the same model.

Per agent and model it writes beside the extraction figures of ``bench/chat_bench.py``:

- ``questions``: how many were asked;
- ``grounded_answer_rate``: the share answered right: a question whose record holds the answer is answered
  (``found``) with a citation of the expected record field; "I can't find that in the record" counts as
  unanswered there; a question the record cannot answer is right only as "I can't find that". An answer's
  claims all map to its cited facts by construction (a model answer with a claim outside them is withdrawn
  and the rules' answer given), so this is also the rate of grounded answers;
- ``model_answer_rate``: the share of found answers phrased by the model and kept (the rest were withdrawn
  or the model failed, and the rules' answer was given); ``withdrawn`` counts the withdrawals;
- ``answer_ttft_p50_ms``: time from the question to the model's first token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import eval_settings, machine  # noqa: E402

SUITE = ROOT / "evals" / "suites" / "chat_followups.jsonl"
OUT = ROOT / "bench" / "results" / "chat.json"
AGENT_OF = {"loan_triage_handbook": "loan_triage", "kyc_handbook": "kyc_review", "claims_handbook": "claims"}


def load_questions(path: Path = SUITE) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line and line[0] != "#"]


def cites_expected(result: dict[str, Any], expect: dict[str, Any]) -> bool:
    """Whether an answer is right for a question (see the module docstring)."""
    if not expect.get("found", True):
        return result["found"] is False
    if not result["found"]:
        return False
    for c in result["citations"]:
        seen = f"{c['label']} {json.dumps(c['value'], default=str)}"
        for item in expect.get("any_of", []):
            if "ref" in item and c["ref"] == item["ref"]:
                return True
            if "ref_prefix" in item and c["ref"].startswith(item["ref_prefix"]):
                return True
            if "value_matches" in item and re.search(item["value_matches"], seen):
                return True
    return not expect.get("any_of")


def _sub_suite(home: Path, suite_name: str, case_ids: set[str]) -> Path:
    """The named handbook cases, as a suite file of their own (header kept)."""
    src = ROOT / "evals" / "suites" / f"{suite_name}.jsonl"
    lines = src.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if ln.startswith("#") or (ln and json.loads(ln)["id"] in case_ids)]
    out = home / f"{suite_name}-followups.jsonl"
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return out


async def measure_followups(model: str, questions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from evals.tracking import Tracker

    settings, uri = eval_settings("steward-chat-followups-", llm_default_model=model)
    home = settings.home
    try:
        return await _measure(settings, Tracker.from_settings(settings), questions)
    finally:
        shutil.rmtree(home, ignore_errors=True)


async def _measure(settings: Any, tracker: Any, questions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from agents.context import get_chat_model
    from bench.agents_bench import carrier_for
    from evals.environment import eval_environment
    from evals.runner import prepare_journal, run_eval
    from evals.suites import load_suite
    from evals.variants import resolve_assistant
    from runtime.ask import answer, load_record
    from runtime.store import open_store

    by_suite: dict[str, set[str]] = {}
    for q in questions:
        suite_name, _, case_id = q["case"].partition(":")
        by_suite.setdefault(suite_name, set()).add(case_id)
    store = open_store(settings.resolved_db_path)
    rows: dict[str, list[dict[str, Any]]] = {}
    try:
        async with eval_environment(settings, store, with_model=True) as target:
            runs: dict[str, str | None] = {}
            for suite_name, ids in by_suite.items():
                agent = AGENT_OF[suite_name]
                suite = load_suite(_sub_suite(settings.home, suite_name, ids))
                assistant = resolve_assistant(agent)
                journal = prepare_journal(settings.home, suite, assistant, concurrency=2, case_timeout_s=300)
                with carrier_for(agent):
                    report = await run_eval(journal, suite, assistant, target, tracker, params={"bench": "chat"},
                                            traces=False)  # fmt: skip
                for r in report.results:
                    runs[f"{suite_name}:{r.case_id}"] = r.run_id
                    print(f"{r.case_id}: {r.status} passed={r.passed}", flush=True)
            for q in questions:
                agent = AGENT_OF[q["case"].partition(":")[0]]
                run_id = runs.get(q["case"])
                run = store.get_run(run_id) if run_id else None
                if run is None:
                    rows.setdefault(agent, []).append({"id": q["id"], "error": "case did not run"})
                    continue
                record = load_record(store, run, run["tenant"])
                first: list[float] = []
                t0 = time.perf_counter()

                def on_token(_: str, first: list[float] = first, t0: float = t0) -> None:
                    if not first:
                        first.append(time.perf_counter() - t0)

                result = await answer(
                    record, q["question"], asked_by="bench", model=get_chat_model(), on_token=on_token
                )
                ok = cites_expected(result, q["expect"])
                row = {
                    "id": q["id"],
                    "ok": ok,
                    "by": result["by"],
                    "found": result["found"],
                    "withdrawn": result["withdrawn"],
                    "ttft_ms": round(first[0] * 1000, 1) if first else None,
                    "total_ms": round((time.perf_counter() - t0) * 1000, 1),
                    "text": result["text"][:300],
                }
                rows.setdefault(agent, []).append(row)
                print(json.dumps(row), flush=True)
    finally:
        store.close()
    return {agent: summary(agent_rows) for agent, agent_rows in rows.items()}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    found = [r for r in rows if r.get("found")]
    ttft = [r["ttft_ms"] for r in rows if r.get("ttft_ms") is not None]
    return {
        "questions": len(rows),
        "grounded_answer_rate": round(sum(bool(r.get("ok")) for r in rows) / len(rows), 4) if rows else None,
        "model_answer_rate": round(sum(r["by"] == "model" for r in found) / len(found), 4) if found else None,
        "withdrawn": sum(bool(r.get("withdrawn")) for r in rows),
        "answer_ttft_p50_ms": round(statistics.median(ttft), 1) if ttft else None,
        "followup_failures": [r for r in rows if not r.get("ok")],
    }


def measure(model_name: str, base_url: str | None = None) -> dict[str, Any]:
    """What ``bench/chat_bench.py`` merges per agent and model: the follow-ups run in their own process
    (they need an eval environment of their own), and write their figures into the same file."""
    return {"followups": "measured by bench/chat_followups.py (python bench/chat_followups.py --model MODEL)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args()
    measured = asyncio.run(measure_followups(a.model, load_questions()))
    out = Path(a.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    stamp = {"followups_measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine()}
    for agent, figures in measured.items():
        data.setdefault(agent, {}).setdefault(a.model, {}).update(figures | stamp)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(measured, indent=2))


if __name__ == "__main__":
    main()
