"""The sanctions list in OpenSanctions FollowTheMoney JSON lines: parsed faithfully, refused whole when bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.sanctions import FIXTURE, SanctionsFormatError, install, load_file, parse_ftm


def test_the_shipped_fixture_is_ftm_with_scripts_aliases_and_dates() -> None:
    lst = load_file(FIXTURE)
    by_id = {e.id: e for e in lst.entities}
    assert lst.counts()["entities"] == len(by_id) >= 38 and lst.skipped == {"Address": 1}
    assert "Виктор Александрович Морозов" in by_id["SL-0001"].aliases and by_id["SL-0001"].programs == ["SYN-EUR-2"]
    assert by_id["SL-0031"].dobs == ["1959", "1960"] and by_id["SL-0032"].dobs == ["1973-02-14", "1974-02-14"]
    assert by_id["SL-0002"].weak_aliases == ["Abu Karim"] and by_id["SL-0035"].type == "unknown"
    assert by_id["SL-0003"].type == "organisation" and by_id["SL-0003"].countries == ["AE"]


def _line(**kw: object) -> str:
    entity = {"id": "X-1", "schema": "Person", "properties": {"name": ["Test Person"]}}
    entity.update(kw)
    return json.dumps(entity)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "<t>:1: not JSON"),
        (_line() + "\n" + json.dumps({"schema": "Person", "properties": {}}), "<t>:2: field 'id'"),
        (_line(properties={"name": "Solo"}), "<t>:1: properties.name: expected a list of strings"),
        (_line(properties={"name": []}), "<t>:1: properties.name is empty"),
        (_line(properties={"name": ["A B"], "birthDate": ["14/03/1961"]}), "<t>:1: properties.birthDate"),
        (_line() + "\n" + _line(), "<t>:2: duplicate entity id"),
        (json.dumps({"id": "a", "schema": "Address", "properties": {"full": ["x"]}}), "no Person, Organization"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_and_field(text: str, needle: str) -> None:
    with pytest.raises(SanctionsFormatError) as err:
        parse_ftm(text, "<t>")
    assert needle in str(err.value)


def test_install_validates_first_and_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "data" / "sanctions.ftm.jsonl"
    parsed, path = install(FIXTURE, target)
    assert path == target and target.read_bytes() == FIXTURE.read_bytes()
    manifest = json.loads(target.with_suffix(".manifest.json").read_text())
    assert manifest["entities"] == len(parsed.entities) and manifest["sha256"] == parsed.sha256
    bad = tmp_path / "bad.jsonl"
    bad.write_text(FIXTURE.read_text() + "{broken\n")
    with pytest.raises(SanctionsFormatError, match=r"bad.jsonl:\d+: not JSON"):
        install(bad, target)
    assert target.read_bytes() == FIXTURE.read_bytes()  # the good list is untouched, nothing half-loaded
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".sanctions-")] == []


def test_screening_reads_an_installed_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.kyc import Party, screen

    own = tmp_path / "list.jsonl"
    own.write_text(_line(properties={"name": ["Quentin Zarathustra"], "birthDate": ["1970"]}) + "\n")
    monkeypatch.setenv("STEWARD_SANCTIONS_FILE", str(own))
    result = screen(Party(party_id="p", name="Quentin Zarathustra", dob="1970-01-01"))
    assert result.list == "list.jsonl" and result.matches[0].entry_id == "X-1"
    assert result.classification == "possible"  # a year-only listed date never confirms nor clears alone
