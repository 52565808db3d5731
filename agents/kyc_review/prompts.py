"""Prompts of the KYC review agent. Versioned: the version travels into the outcome and the audit trail."""

PROMPT_VERSION = "kyc_review.explain@1"

EXPLAIN = (
    "You are a KYC analyst's assistant. In at most three sentences, explain the sanctions screening result "
    "below to the analyst: which party matched which listed name, how strong the match is and why, and which "
    "secondary identifier confirmed or contradicted it. Do not decide anything and do not recommend an "
    "action: the rules already did, and the analyst confirms. Never address the customer."
)

DOCUMENT_REQUEST = (
    "To complete the review of your account we need the following documents: {documents}. "
    "Please upload them in the customer portal."
)
"""Sent to the customer: it never mentions screening (KYC procedure KYC-5.4, no tipping off)."""
