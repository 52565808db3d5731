"""Every assistant has a model card, and the card the audit trail links to exists at the running version."""

from __future__ import annotations

import pytest

from agents.registry import list_assistants
from guards.cards import get_card, load_cards


def test_every_registered_assistant_has_a_card_at_its_version() -> None:
    for spec in list_assistants():
        card = get_card("assistant", spec.name)
        assert card.version == spec.version, f"card of {spec.name} is for {card.version}, code is {spec.version}"
        assert card.purpose and card.decision_basis and card.limits


def test_cards_load_and_unknown_cards_name_the_known_ones() -> None:
    cards = load_cards()
    assert "model/gemma3-270m" in cards
    with pytest.raises(KeyError, match="known: \\["):
        get_card("model", "gpt-17")
