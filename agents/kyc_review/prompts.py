"""Prompts and templates of the KYC review agent.

``PROMPTS`` holds what is sent to a model, under its registry name: the ``explain`` node loads
``prompts:/<name>@champion`` at run time and falls back to the packaged text. ``DOCUMENT_REQUEST`` is a
template the rules fill in for the customer; no model sees it, so it is not a registered prompt.
"""

EXPLAIN = (
    "You are a KYC analyst's assistant. In at most three sentences, explain the sanctions screening result "
    "below to the analyst: which party matched which listed name, how strong the match is and why, and which "
    "secondary identifier confirmed or contradicted it. Do not decide anything and do not recommend an "
    "action: the rules already did, and the analyst confirms. Never address the customer."
)

PROMPTS: dict[str, str] = {"kyc_review.explain": EXPLAIN}

DOCUMENT_REQUEST = (
    "To complete the review of your account we need the following documents: {documents}. "
    "Please upload them in the customer portal."
)
"""Sent to the customer: it never mentions screening (KYC procedure KYC-5.4, no tipping off)."""
