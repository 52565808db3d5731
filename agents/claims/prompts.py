"""Prompts of the claims agent. ``PROMPTS`` holds what is sent to a model, under its registry name: the
``extract`` node loads ``prompts:/<name>@champion`` at run time and falls back to the packaged text."""

from tools import extraction

EXTRACT = extraction.EXTRACTION_INSTRUCTIONS
"""The model reads the carrier page into ``tools.extraction.MODEL_SCHEMA``; the rules decide."""

PROMPTS: dict[str, str] = {"claims.extract": EXTRACT}
