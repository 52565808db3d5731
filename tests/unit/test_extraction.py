"""Shipment facts: the regex fallback reads labelled fields only, and grounding drops what the page lacks."""

from __future__ import annotations

import pytest

from tools.extraction import ShipmentFacts, extract_regex, extraction_prompt, facts_from_api, ground
from tools.scraper import html_to_text

PAGE = """<html><body><h1>SwiftShip</h1><dl>
<dt>Status</dt><dd>Delivered</dd><dt>Delivered on</dt><dd>2026-10-03</dd>
<dt>Promised delivery</dt><dd>2026-09-30</dd><dt>Signed by</dt><dd>J. Doe</dd></dl>
<script>var status = "lost";</script></body></html>"""


def test_regex_extractor_reads_labelled_fields() -> None:
    facts = extract_regex(html_to_text(PAGE))
    assert facts == ShipmentFacts(
        status="delivered", delivered_on="2026-10-03", promised_on="2026-09-30", signed_by="J. Doe"
    )


def test_a_changed_layout_yields_unknown_not_a_guess() -> None:
    text = html_to_text("<div class='card'><span>Your parcel</span><b>arrived</b><i>03/10/2026</i></div>")
    assert extract_regex(text) == ShipmentFacts()


def test_grounding_drops_values_the_page_does_not_contain() -> None:
    text = html_to_text(PAGE)
    invented = ShipmentFacts(status="lost", delivered_on="2026-10-05", promised_on="2026-09-30", damaged=True)
    grounded, dropped = ground(invented, text)
    assert grounded.status == "unknown" and grounded.delivered_on is None and grounded.promised_on == "2026-09-30"
    assert not grounded.damaged
    assert sorted(dropped) == ["damaged", "delivered_on", "status"]


def test_api_records_map_to_the_same_facts() -> None:
    facts = facts_from_api({"status": "in_transit", "last_scan_at": "2026-09-01T10:00:00Z", "damaged": False})
    assert facts.status == "in_transit" and facts.last_scan_on == "2026-09-01"


def test_text_with_injection_markers_is_never_put_in_a_prompt() -> None:
    with pytest.raises(ValueError, match="not shown to a model"):
        extraction_prompt("Status: Delivered", ["prompt_injection@3"])
    assert "--- carrier page ---" in extraction_prompt("Status: Delivered", [])
