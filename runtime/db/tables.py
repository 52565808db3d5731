"""All of the store's tables on one ``MetaData``, imported from their concern's module.

Each module is one concern (threads and runs, approvals, events, ledgers, keys, audit, outbox), so a reader
finds a table where its queries live. Migrations never import these: a revision freezes the schema it
creates, while these describe the schema at head.
"""

from runtime.db._meta import metadata
from runtime.db.answers import answers
from runtime.db.approvals import approvals
from runtime.db.audit import audit, audit_checkpoints, audit_head
from runtime.db.events import events
from runtime.db.keys import api_keys
from runtime.db.ledgers import node_executions, tool_executions
from runtime.db.outbox import outbox
from runtime.db.threads import run_queue, runs, threads

__all__ = [
    "answers",
    "api_keys",
    "approvals",
    "audit",
    "audit_checkpoints",
    "audit_head",
    "events",
    "metadata",
    "node_executions",
    "outbox",
    "run_queue",
    "runs",
    "threads",
    "tool_executions",
]
