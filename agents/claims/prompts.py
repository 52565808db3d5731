"""Prompts of the claims agent. Versioned: the version travels into the outcome and the audit trail."""

from tools.extraction import EXTRACTION_INSTRUCTIONS

PROMPT_VERSION = "claims.extract@1"

EXTRACT = EXTRACTION_INSTRUCTIONS
"""The model reads the carrier page into ``tools.extraction.ShipmentFacts``; the rules decide."""
