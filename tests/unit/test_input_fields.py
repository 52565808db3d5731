"""Unknown fields of a declared input schema, found at any depth (``agents.input_fields``): a user's pydantic
model that never said ``extra="forbid"`` and a plain JSON schema are closed alike; ``extra="allow"``, open maps
and ``additionalProperties`` schemas stay open."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from agents.input_fields import unknown_fields


class Party(BaseModel):  # the pydantic default (extra="ignore") would drop an unknown key silently
    name: str
    role: str | None = None


class Case(BaseModel):
    case_id: str
    customer: Party
    manager: Party | None = None
    related_parties: list[Party] = []
    consent: dict[str, bool] | None = None
    by_role: dict[str, Party] = {}


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    note: str = ""


class Input(BaseModel):
    case: Case
    extra_info: Open | None = None


def test_unknown_keys_are_named_at_every_depth_of_a_users_model() -> None:
    schema = Input.model_json_schema()
    payload: dict[str, Any] = {
        "case": {
            "case_id": "K-1",
            "customer": {"name": "A", "sole_proprietor": True},
            "manager": {"name": "M", "title": "x"},
            "related_parties": [{"name": "B"}, {"name": "C", "pep": True}],
            "consent": {"anything": True},
            "by_role": {"director": {"name": "D", "dob": "1970"}},
            "priority": "high",
        },
        "extra_info": {"note": "n", "whatever": 1},
    }
    assert unknown_fields(schema, payload) == [
        "case.customer.sole_proprietor",
        "case.manager.title",
        "case.related_parties.1.pep",
        "case.by_role.director.dob",
        "case.priority",
    ]


def test_known_fields_alone_and_values_of_the_wrong_type_are_not_reported() -> None:
    schema = Input.model_json_schema()
    assert unknown_fields(schema, {"case": {"case_id": "K", "customer": {"name": "A"}}}) == []
    assert unknown_fields(schema, {"case": {"case_id": "K", "customer": "not an object", "manager": None}}) == []


def test_a_plain_json_schema_is_closed_unless_it_says_otherwise() -> None:
    schema = {
        "type": "object",
        "properties": {
            "ticket": {"type": "object", "properties": {"id": {"type": "string"}}},
            "labels": {"type": "object", "additionalProperties": True, "properties": {"a": {}}},
        },
    }
    assert unknown_fields(schema, {"ticket": {"id": "1", "urgent": True}, "labels": {"b": 1}, "x": 0}) == [
        "ticket.urgent",
        "x",
    ]
