"""Answers to operators' questions about a run ("why was it referred?"), kept with their citations.

An answer is part of the conversation an operator had about a thread, so it outlives the page that asked it
and shows again when the thread is opened. It changes nothing about the run: it only reads the record.
"""

from sqlalchemy import Column, Float, Index, Table, Text

from runtime.db._meta import metadata

answers = Table(
    "answers",
    metadata,
    Column("answer_id", Text, primary_key=True),
    Column("thread_id", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    Column("tenant", Text, nullable=False),
    Column("asked_by", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Index("answers_thread", "thread_id", "created_at"),
)
