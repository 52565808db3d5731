"""Sanctions screening: fuzzy matches with scores and reasons, classified by the kyc_match rules."""

from __future__ import annotations

import pytest

from tools.kyc import Party, normalise, required_documents, screen


def best(name: str, **kw: object) -> object:
    result = screen(Party(party_id="p", name=name, **kw))
    return result, (result.matches[0] if result.matches else None)


def test_transliteration_and_word_order_still_match_with_reasons() -> None:
    _, m = best("Mohamed Al Rashidy")
    assert m.entry_id == "SL-0002" and m.score >= 85 and m.method == "transliteration"
    assert "transliteration" in " ".join(m.reasons)
    _, m = best("Rashidi Mohammed Al")
    assert m.entry_id == "SL-0002" and m.score == 100 and "different order" in " ".join(m.reasons)


def test_omitted_middle_name_is_a_strong_match() -> None:
    _, m = best("Viktor Morozov")
    assert m.entry_id == "SL-0001" and m.score >= 90 and "omitted" in " ".join(m.reasons)


def test_strong_match_with_matching_dob_is_confirmed() -> None:
    result, m = best("Victor Morozov", dob="1961-03-14", country="RU")
    assert result.classification == "confirmed" and m.rule_id == "KYC-M-CONFIRMED-DOB"
    assert m.dob_status == "match"


def test_differing_dob_clears_a_strong_match_and_says_why() -> None:
    result, m = best("Victor Morozov", dob="1990-01-01")
    assert result.classification == "cleared" and m.rule_id == "KYC-M-DOB-CONTRADICTS"
    assert m.rule_reason == "date of birth differs from the listed one"


def test_strong_match_without_secondary_identifiers_is_never_cleared_on_the_name() -> None:
    result, m = best("Ibrahim Yusuf Haddad")
    assert result.classification == "possible" and m.rule_id == "KYC-M-STRONG-UNRESOLVED"


def test_organisations_ignore_legal_forms_and_punctuation() -> None:
    result, m = best("Helios Maritime Trading L.L.C.", type="organisation", country="AE")
    assert m.entry_id == "SL-0003" and m.score == 100 and result.classification == "confirmed"
    assert normalise("Helios Maritime Trading L.L.C.", organisation=True) == "helios maritime trading"


def test_entity_type_mismatch_clears() -> None:
    result, _ = best("Northwind Arms Brokerage", type="person")
    assert result.classification == "cleared"


@pytest.mark.parametrize("name", ["Anna Schmidt", "John Michael Smith", "Maria Garcia Lopez", "Acme Widgets"])
def test_ordinary_names_do_not_match(name: str) -> None:
    result, _ = best(name)
    assert result.classification == "no_match" and result.matches == []


def test_result_names_list_and_ruleset_versions() -> None:
    result, _ = best("Darya Petrenko", country="BY")
    assert result.list_version == "2026-11-20" and result.ruleset_version.startswith("2026.11.1+")
    assert result.classification == "confirmed"  # no listed DOB: a matching country confirms (KYC-3.3)


def test_required_documents_follow_customer_type_edd_and_pep() -> None:
    assert required_documents("person", "DE", False) == ["photo_id", "proof_of_address"]
    assert required_documents("organisation", "IR", True)[-2:] == ["source_of_funds", "source_of_wealth"]
