"""Model cards: what each assistant and model is for, what it was built on, where it fails, how it scored.

Cards are data (``guards/cards/<kind>.<name>.yaml``), reviewed like code. The audit trail links every run to
``<kind>/<name>@<version>``, so a decision can be traced to the card that was in force.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

CARDS_DIR = Path(__file__).parent / "cards"


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["assistant", "model"]
    name: str
    version: str
    owner: str
    purpose: str
    intended_use: list[str] = Field(default_factory=list)
    out_of_scope: list[str] = Field(default_factory=list)
    decision_basis: str = ""
    """Who or what decides: for Steward's assistants, rules, scores and policy; the model reads and explains."""
    data: str = ""
    limits: list[str] = Field(default_factory=list)
    evaluation: dict[str, Any] = Field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}@{self.version}"


@functools.cache
def load_cards() -> dict[str, ModelCard]:
    cards: dict[str, ModelCard] = {}
    for path in sorted(CARDS_DIR.glob("*.yaml")):
        try:
            card = ModelCard.model_validate(yaml.safe_load(path.read_text()))
        except (ValueError, yaml.YAMLError) as exc:
            raise ValueError(f"model card {path.name}: {exc}") from None
        cards[f"{card.kind}/{card.name}"] = card
    return cards


def get_card(kind: str, name: str) -> ModelCard:
    cards = load_cards()
    try:
        return cards[f"{kind}/{name}"]
    except KeyError:
        raise KeyError(f"model card {kind}/{name!r} not found; known: {sorted(cards)}") from None
