"""Prompts of the claims agent. The outcome names each prompt with a content hash (``agents._llm.prompt_ref``),
and the eval promotion registers these texts in the MLflow prompt registry."""

from tools import extraction

PROMPT_VERSION = "claims.extract@1"

EXTRACT = extraction.EXTRACTION_INSTRUCTIONS
"""The model reads the carrier page into ``tools.extraction.MODEL_SCHEMA``; the rules decide."""
