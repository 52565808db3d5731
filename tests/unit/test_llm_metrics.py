"""Prometheus text rendering and quantiles of the serving metrics."""

from __future__ import annotations

from runtime.llm.metrics import MetricsRegistry, quantile


def test_quantile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 0.5) in (50.0, 51.0)
    assert quantile(values, 0.95) == 95.0
    assert quantile([3.0], 0.99) == 3.0


def test_render_is_prometheus_text_with_summaries_counters_and_gauges() -> None:
    r = MetricsRegistry()
    r.describe("steward_llm_x_seconds", "summary", "X.")
    r.describe("steward_llm_n_total", "counter", "N.")
    for v in (0.1, 0.2, 0.3):
        r.observe("steward_llm_x_seconds", v, model="m")
    r.inc("steward_llm_n_total", 2, model="m", outcome="ok")
    r.set("steward_llm_depth", 4, model='we"ird')
    text = r.render()
    assert "# TYPE steward_llm_x_seconds summary" in text
    assert 'steward_llm_x_seconds{model="m",quantile="0.5"} 0.2' in text
    assert 'steward_llm_x_seconds_count{model="m"} 3' in text
    assert 'steward_llm_n_total{model="m",outcome="ok"} 2' in text
    assert 'steward_llm_depth{model="we\\"ird"} 4' in text
