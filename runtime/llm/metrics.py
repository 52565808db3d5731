"""Per-model serving metrics under ``steward_llm_``, rendered as Prometheus text.

Percentiles come from a sliding window of recent observations (a Prometheus *summary*), which is what an
operator reads on a dashboard; counters are monotonic. Kept dependency-free and thread-safe because the
model threads write while the HTTP loop reads.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Iterable

QUANTILES = (0.5, 0.95, 0.99)
WINDOW = 2048

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _fmt(labels: Labels, extra: Iterable[tuple[str, str]] = ()) -> str:
    items = [*labels, *extra]
    if not items:
        return ""
    body = ",".join(
        f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' for k, v in items
    )
    return "{" + body + "}"


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (no interpolation): the value an observation actually had."""
    if not values:
        return float("nan")
    s = sorted(values)
    idx = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[idx]


class MetricsRegistry:
    """Counters, gauges and windowed summaries keyed by (metric, labels)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._help: dict[str, tuple[str, str]] = {}
        self._counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self._windows: dict[str, dict[Labels, deque[float]]] = defaultdict(dict)
        self._sums: dict[str, dict[Labels, tuple[float, int]]] = defaultdict(dict)

    def describe(self, name: str, kind: str, help_text: str) -> None:
        self._help[name] = (kind, help_text)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            self._counters[name][key] = self._counters[name].get(key, 0.0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._gauges[name][_labels(labels)] = value

    def observe(self, name: str, value: float, **labels: str) -> None:
        key = _labels(labels)
        with self._lock:
            win = self._windows[name].setdefault(key, deque(maxlen=WINDOW))
            win.append(value)
            total, count = self._sums[name].get(key, (0.0, 0))
            self._sums[name][key] = (total + value, count + 1)

    def values(self, name: str, **labels: str) -> list[float]:
        with self._lock:
            return list(self._windows[name].get(_labels(labels), ()))

    def counter(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters[name].get(_labels(labels), 0.0)

    def gauge(self, name: str, **labels: str) -> float | None:
        with self._lock:
            return self._gauges[name].get(_labels(labels))

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            names = sorted({*self._counters, *self._gauges, *self._windows})
            for name in names:
                kind, help_text = self._help.get(name, ("untyped", name))
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                for key, v in sorted(self._counters.get(name, {}).items()):
                    lines.append(f"{name}{_fmt(key)} {v:g}")
                for key, v in sorted(self._gauges.get(name, {}).items()):
                    lines.append(f"{name}{_fmt(key)} {v:g}")
                for key, win in sorted(self._windows.get(name, {}).items()):
                    values = list(win)
                    for q in QUANTILES:
                        lines.append(f"{name}{_fmt(key, [('quantile', str(q))])} {quantile(values, q):g}")
                    total, count = self._sums[name][key]
                    lines.append(f"{name}_sum{_fmt(key)} {total:g}")
                    lines.append(f"{name}_count{_fmt(key)} {count}")
        return "\n".join(lines) + "\n"


REGISTRY = MetricsRegistry()

for _name, _kind, _help in (
    ("steward_llm_requests_total", "counter", "Chat completions finished, by model and outcome."),
    ("steward_llm_errors_total", "counter", "Failed or refused requests, by model and kind."),
    ("steward_llm_request_latency_seconds", "summary", "Request latency from arrival to last token."),
    ("steward_llm_time_to_first_token_seconds", "summary", "Arrival to first generated token."),
    ("steward_llm_queue_wait_seconds", "summary", "Time a request waited for a free sequence slot."),
    ("steward_llm_tokens_per_second", "summary", "Generation speed of one request (after its first token)."),
    ("steward_llm_prompt_tokens_total", "counter", "Prompt tokens processed."),
    ("steward_llm_completion_tokens_total", "counter", "Tokens generated."),
    ("steward_llm_queue_depth", "gauge", "Requests waiting for a slot."),
    ("steward_llm_active_sequences", "gauge", "Sequences being decoded together (batch width)."),
    ("steward_llm_cost_per_prediction_usd", "summary", "Machine cost attributed to one request."),
    ("steward_llm_cost_usd_total", "counter", "Machine cost attributed to all requests."),
    ("steward_llm_cost_per_1k_tokens_usd", "gauge", "Cost per 1000 generated tokens so far."),
    ("steward_llm_model_loaded", "gauge", "1 when the model is loaded in this server."),
    ("steward_llm_load_seconds", "gauge", "Time the model took to load."),
    ("steward_llm_breaker_state", "gauge", "Client circuit breaker: 0 closed, 1 half-open, 2 open."),
    ("steward_llm_breaker_opened_total", "counter", "Times the client circuit breaker opened."),
    ("steward_llm_fallbacks_total", "counter", "Agent calls that took the rule-based fallback path."),
):
    REGISTRY.describe(_name, _kind, _help)
