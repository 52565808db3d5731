"""The README's "Measured" table, generated from the result files, so that no figure in it lacks a source.

``python bench/readme_table.py --write`` rewrites the block between ``<!-- bench-numbers -->`` and
``<!-- /bench-numbers -->`` in README.md from ``bench/results/*.json``; ``--check`` (run by ``make lint``)
exits 1 when the README differs from what the result files say, so a hand-edited figure or a benchmark
re-run without regenerating the table fails CI. A result file that does not exist yet gives no row: the
table never shows a number nobody measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
BEGIN, END = "<!-- bench-numbers -->", "<!-- /bench-numbers -->"

Result = dict[str, Any]


def _n(value: Any, digits: int = 1) -> str:
    """A figure as the result file holds it, rounded for reading (never re-derived from other figures)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _runtime(r: Result) -> tuple[str, str, str]:
    ratio = r["overhead_ratio"]
    verdict = "within" if ratio <= 1.5 else "**over**"
    rounds = r.get("overhead_ratio_rounds")
    spread = f" (median of {len(rounds)} rounds, {_n(min(rounds), 2)}-{_n(max(rounds), 2)})" if rounds else ""
    size = f"{r['rounds']} alternating rounds of {r['runs_per_round']} runs" if "rounds" in r else f"{r['runs']} runs"
    return (
        f"runtime: {size} of a 3-node graph at concurrency {r['concurrency']} through Steward vs the "
        "same 3 activities as a plain workflow, and the approval round trip (decision sent -> approved tool "
        "running) (`runtime.json`)",
        f"{_n(r['steward_runs_per_s'])} vs {_n(r['baseline_runs_per_s'])} runs/s: overhead ratio "
        f"{_n(ratio, 2)}{spread}, {verdict} the 1.5 target; single run p50 {_n(r['p50_ms'])} ms (plain workflow "
        f"{_n(r['baseline_p50_ms'])} ms), p95 {_n(r['p95_ms'])} ms; approval round trip p50 "
        f"{_n(r['approval_roundtrip_p50_ms'])} ms, p95 {_n(r['approval_roundtrip_p95_ms'])} ms",
        "ratio <= 1.5; approval p50 <= 150 ms",
    )


def _guards(r: Result) -> tuple[str, str, str]:
    return (
        "guards per tool call: tool-arg guards + CEL policy + events + audit records + output guards (`guards.json`)",
        f"p50 {_n(r['overhead_p50_ms'], 2)} ms, p95 {_n(r['overhead_p95_ms'], 2)} ms; "
        f"{_n(r['validations_per_s'], 0)} validations/s; verify a 100k-record audit chain "
        f"{_n(r['audit_verify_100k_s'], 2)} s",
        "p50 <= 5 ms",
    )


def _server(r: Result) -> tuple[str, str, str]:
    return (
        "SSE and HTTP approvals (`server.json`)",
        f"{_n(r['sse_events_per_s_1'], 0)} events/s to 1 client, {_n(r['sse_events_per_s_50'], 0)}/s total to "
        f"{r['live_clients']}; append -> client p50 {_n(r['event_latency_p50_ms'])} ms, p95 "
        f"{_n(r['event_latency_p95_ms'])} ms; HTTP approve -> next step p50 "
        f"{_n(r['approve_to_next_node_p50_ms'])} ms; API start -> ready {_n(r['api_ready_s'], 2)} s",
        "p95 <= 100 ms, approve <= 150 ms",
    )


def _evals(r: Result) -> tuple[str, str, str]:
    return (
        f"eval runner on {r['suite']} (`evals.json`)",
        f"{_n(r['cases_per_min_1'])} cases/min at concurrency 1, {_n(r['cases_per_min_4'])} at 4; runner "
        f"overhead {_n(r['runner_overhead_ms'])} ms/case; MLflow logging {_n(r['mlflow_log_s_per_eval'], 2)} s "
        "per eval",
        "",
    )


def _llm(r: Result) -> tuple[str, str, str]:
    choice = "; ".join(
        f"tool choice {name} {v['correct']}/{v['total']}"
        if "correct" in v
        else f"tool choice {name} not run ({v.get('skipped')})"
        for name, v in r.get("tool_choice_accuracy", {}).items()
    )
    alone = r.get("engine_alone")
    engine = (
        f" ({_n(alone['concurrency_gain'], 2)}x for the engine alone, no HTTP; a 4-wide decode step takes "
        f"{_n(alone['decode_step_ms']['4'])} ms against {_n(alone['decode_step_ms']['1'])} ms 1-wide, so at most "
        f"{_n(alone['gain_ceiling'], 2)}x on this CPU)"
        if alone
        else ""
    )
    return (
        f"local LLM, {r['model']} on {'GPU' if r.get('gpu') else 'CPU'} (`llm.json`)",
        f"{_n(r['steward_tok_s'])} tok/s through Steward's server vs {_n(r['bare_tok_s'])} bare llama-cpp-python "
        f"({_n(r['ratio_to_bare'], 2)}); TTFT p50 {_n(r['ttft_p50_ms'])} ms, p95 {_n(r['ttft_p95_ms'])} ms; "
        f"4 clients {_n(r['concurrency_gain'], 2)}x the aggregate of 1 over HTTP{engine}; tool calls "
        f"{_n(r['tool_call_valid_rate'] * 100, 0)} % parseable of {r['tool_call_prompts']}; {choice}; "
        f"server RSS {_n(r['server_rss_mb'], 0)} MB; cold start {_n(r['cold_start_s'], 2)} s",
        ">= 0.9 of bare; 4 clients >= 1.5x; 100 % parseable",
    )


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{_n(float(value) * 100, 0)} %"


def _agents(r: Result) -> tuple[str, str, str]:
    parts = []
    for agent, v in sorted(r.items()):
        if not isinstance(v, dict) or "cases" not in v:
            continue
        parts.append(
            f"{agent} ({v['cases']} cases, {Path(str(v.get('suite', '?'))).name}): "
            f"straight-through {_pct(v['straight_through_rate'])}, "
            f"automated correct {_pct(v.get('automated_correct_rate'))}, "
            f"risky routed {_pct(v.get('risky_routed_rate'))}, pass {_pct(v.get('pass_rate'))}, "
            f"decision p50 {_n(v['decision_p50_s'], 2)} s / p95 {_n(v['decision_p95_s'], 2)} s "
            f"(model {v.get('model') or 'none'})"
        )
    return (
        "reference agents on their traffic suites with the real local model (`agents.json`)",
        "; ".join(parts),
        "straight-through >= 65 %, automated correct >= 98 %, risky routed 100 %",
    )


def _peer(r: Result) -> tuple[str, str, str]:
    ratios = r.get("ratios_steward_over_peer") or {}
    peer = "" if r.get("peer_skipped") is None else f" (peer skipped: {r['peer_skipped']})"
    gain = ratios.get("runs_per_s_8")
    under = ", **under** target" if gain is not None and gain < 1.0 else ""
    cpu = r.get("steward_cpu_ms_per_run_at_8") or {}
    peer_cpu = (r.get("peer_cpu_ms_per_run_at_8") or {}).get("server")
    cpu_text = (
        f"; CPU per run at 8 clients API {_n(cpu.get('api'))} + worker {_n(cpu.get('worker'))} + Temporal "
        f"{_n(cpu.get('temporal'))} ms vs {_n(peer_cpu)} ms"
        if cpu
        else ""
    )
    return (
        "Steward vs `langgraph dev` on one plain LangGraph project, same langgraph-sdk client, one run (`peer.json`)",
        f"single run p50 {_n(r.get('steward_p50_ms'))} vs {_n(r.get('peer_p50_ms'))} ms "
        f"({_n(ratios.get('p50'), 2)}x); first event {_n(r.get('steward_first_event_ms'))} vs "
        f"{_n(r.get('peer_first_event_ms'))} ms; resume {_n(r.get('steward_resume_ms'))} vs "
        f"{_n(r.get('peer_resume_ms'))} ms ({_n(ratios.get('resume'), 2)}x); 8 clients "
        f"{_n(r.get('steward_runs_per_s_8'))} vs {_n(r.get('peer_runs_per_s_8'))} runs/s "
        f"({_n(gain, 2)}x{under}){cpu_text}; RSS API+worker {_n(r.get('steward_rss_mb'), 0)} MB "
        f"(+ Temporal {_n(r.get('steward_temporal_rss_mb'), 0)} MB) vs {_n(r.get('peer_rss_mb'), 0)} MB{peer}",
        "p50 <= 0.1x, first event <= 50 ms, resume <= 0.1x, 8 clients >= 1.0x",
    )


def _chat(r: Result) -> tuple[str, str, str]:
    parts = []
    for agent, models in sorted(r.items()):
        if agent.startswith("_") or not isinstance(models, dict):
            continue
        for model, v in sorted(models.items()):
            if not isinstance(v, dict):
                continue
            if "skipped" in v:
                parts.append(f"{agent}/{model}: not measured ({v['skipped']})")
                continue
            bits = []
            if v.get("requests"):
                bits.append(
                    f"{v['requests']} requests: fields {_pct(v.get('field_accuracy'))}, clarify on complete "
                    f"{_pct(v.get('clarify_rate'))}, invented confirmed {_pct(v.get('invented_confirmed'))}, "
                    f"TTFT p50 {_n(v.get('ttft_p50_ms'), 0)} ms"
                )
            if v.get("questions"):
                bits.append(
                    f"{v['questions']} follow-ups: grounded answers {_pct(v.get('grounded_answer_rate'))} "
                    f"(model-phrased {_pct(v.get('model_answer_rate'))})"
                )
            if bits:
                parts.append(f"{agent}/{model}: " + "; ".join(bits))
    return (
        "chat: plain-words requests extracted by the local model, and follow-up questions answered from the "
        "record (`chat.json`)",
        "; ".join(parts),
        "invented confirmed 0 %",
    )


ROWS: list[tuple[str, Callable[[Result], tuple[str, str, str]]]] = [
    ("runtime.json", _runtime),
    ("guards.json", _guards),
    ("server.json", _server),
    ("evals.json", _evals),
    ("llm.json", _llm),
    ("agents.json", _agents),
    ("peer.json", _peer),
    ("chat.json", _chat),
]


def render(results: Path = RESULTS) -> str:
    """The table (with its markers) from whichever result files exist, and the machines they name."""
    lines = ["| benchmark (`make bench`) | measured | target |", "|---|---|---|"]
    machines: set[str] = set()
    for name, row in ROWS:
        path = results / name
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        what, measured, target = row(data)
        lines.append(f"| {what} | {measured} | {target} |")
        machine = data.get("machine") or (data.get("_meta") or {}).get("machine")
        if isinstance(machine, str):
            machines.add(machine.split("; Linux")[0])
    machine_line = "Machines named by these files: " + "; ".join(f"`{m}`" for m in sorted(machines)) + "."
    return "\n".join([BEGIN, *lines, "", machine_line, END])


def replace_block(readme: str, block: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {BEGIN} ... {END} markers")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + block + tail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the README block from the result files")
    mode.add_argument("--check", action="store_true", help="exit 1 if the README block differs")
    args = p.parse_args(argv)
    current = README.read_text()
    wanted = replace_block(current, render())
    if args.write:
        README.write_text(wanted)
        return 0
    if wanted != current:
        print(
            "README.md's measured table differs from bench/results/*.json: run `python bench/readme_table.py "
            "--write` (figures come from the result files, never by hand)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
