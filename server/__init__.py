"""Steward's HTTP API (the Agent Server vocabulary plus approvals, tools, audit, metrics) and the console."""

from server.app import StreamOptions, create_app

__all__ = ["StreamOptions", "create_app"]
