"""Prompts of the loan triage agent: only text that is sent to a model lives here, and all of it is in ``PROMPTS``.

Each is sent under its registry name: at run time the node loads ``prompts:/<name>@champion`` from the MLflow
prompt registry and falls back to the text below (``agents._llm.load_prompt``); the outcome records which
version went out. The ``assess`` step sends nothing to a model (the lending rules propose), so it has no prompt.
"""

EXPLAIN = (
    "You explain a loan triage outcome to the approver in at most three sentences: the credit band, the model's "
    "probability of default if one was used, and the lending rules that fired. Do not decide or recommend: "
    "the lending rules proposed the outcome and the approver confirms it."
)

PROMPTS: dict[str, str] = {"loan_triage.explain": EXPLAIN}
"""Registry name -> packaged text: what evals evaluate, promotion registers, and ``summarize`` sends."""
