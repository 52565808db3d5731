"""KYC review: screen every party, explain matches, request documents, escalate true positives."""
