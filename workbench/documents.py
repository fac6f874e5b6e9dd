"""User documents for the retrieval index: each file in a folder is either read into chunks or reported as
skipped with the reason, so nothing is indexed as garbage and nothing is left out without a word.

Markdown and text are chunked by ``##`` heading (windows of MAX_WORDS words, each chunk carrying
OVERLAP_WORDS of the previous section), PDFs page by page through pypdf, JSONL by line, CSV by row.
Suffixes match whatever their case (``EXPOSURE.MD`` is Markdown). Text must be UTF-8: a NUL byte (a binary
file) or a byte that is not UTF-8 skips the file with the place of the byte. Hidden files and folders
(``.git``, ``.ipynb_checkpoints``, ``.DS_Store``) are not documents and are passed over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from workbench.corpus_readers import decode_utf8, iter_csv
from workbench.errors import WorkbenchError
from workbench.io import iter_jsonl

__all__ = ["DOC_SUFFIXES", "MAX_WORDS", "OVERLAP_WORDS", "Chunk", "Documents", "chunk_markdown", "describe",
           "document_chunks", "document_files", "read_documents"]

OVERLAP_WORDS = 30
MAX_WORDS = 220
DOC_SUFFIXES = (".md", ".txt", ".jsonl", ".csv", ".pdf")


@dataclass
class Chunk:
    id: str
    card: str
    title: str
    heading: str
    topic: str
    source: str
    text: str


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


# ---- a folder of documents ----------------------------------------------------------------------
@dataclass
class Documents:
    """What a folder gave: its chunks, the files indexed ({file, chunks}) and the files skipped ({file, why})."""

    chunks: list[Chunk] = field(default_factory=list)
    indexed: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {"indexed": self.indexed, "skipped": self.skipped}


def document_files(folder: str | Path) -> list[Path]:
    """Every file under ``folder`` (or the file itself) but hidden ones, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return [folder] if folder.is_file() else []
    return sorted(f for f in folder.rglob("*")
                  if f.is_file() and not any(p.startswith(".") for p in f.relative_to(folder).parts))


def read_documents(folder: str | Path) -> Documents:
    """Chunks of every document under ``folder``; a file that cannot be read as its type is skipped, with why."""
    folder = Path(folder)
    files = document_files(folder)
    if not files:
        raise WorkbenchError(f"No documents found in {folder}." if folder.exists() else f"{folder} does not exist.",
                             where=str(folder), fix=f"point at a folder holding {', '.join(DOC_SUFFIXES)} files")
    docs = Documents()
    for f in files:
        try:
            chunks, why = _file_chunks(f)
        except WorkbenchError as exc:  # a reader's error names the line and the fix: keep them all
            where = f" at {exc.where}" if exc.where and not exc.where.startswith(str(f)) else ""
            chunks, why = [], exc.what + where + (f"; fix: {exc.fix}" if exc.fix else "")
        except UnicodeDecodeError as exc:
            chunks, why = [], (f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                               "save it as UTF-8")
        except OSError as exc:
            chunks, why = [], f"cannot be read ({exc.strerror or exc}); check its permissions"
        if chunks:
            docs.chunks += chunks
            docs.indexed.append({"file": str(f), "chunks": len(chunks)})
        else:
            docs.skipped.append({"file": str(f), "why": why})
    return docs


def document_chunks(folder: str | Path) -> list[Chunk]:
    """User documents: Markdown and text by heading/paragraph windows, PDF by page, JSONL by line, CSV by row
    (skipped files are only in :func:`read_documents`' summary)."""
    return read_documents(folder).chunks


def _file_chunks(f: Path) -> tuple[list[Chunk], str]:
    """(chunks, why there are none) for one file."""
    kind, doc = f.suffix.lower(), f.stem
    if kind not in DOC_SUFFIXES:
        return [], f"not a type the index reads ({kind or 'no extension'}; it reads {', '.join(DOC_SUFFIXES)})"
    if kind == ".pdf":
        return _pdf_chunks(f, doc)
    data = f.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        return [], (f"a binary file, not text (a NUL byte at offset {nul}); save it as UTF-8 text or take it out "
                    "of the folder")
    out: list[Chunk] = []
    if kind in (".md", ".txt"):
        text = decode_utf8(data, f)
        out += chunk_markdown(doc, f.stem.replace("-", " ").replace("_", " "), text, source=f.name)
        return out, "no text in it"
    if kind == ".jsonl":
        for n, row in iter_jsonl(f):
            text = row.get("text") or row.get("content") or ""
            if text:
                out.append(Chunk(f"{doc}:{n}", str(row.get("id", f"{doc}:{n}")), row.get("title", doc), "",
                                 row.get("topic", ""), f"{f.name}:{n}", text))
        return out, "no line has a 'text' or 'content' field"
    for n, row in iter_csv(f):
        text = " ".join(f"{k}: {v}" for k, v in row.items() if v)
        out.append(Chunk(f"{doc}:{n}", f"{doc}:{n}", doc, "", row.get("topic", ""), f"{f.name}:{n}", text))
    return out, "no rows under its header"


def _pdf_chunks(f: Path, doc: str) -> tuple[list[Chunk], str]:
    """A PDF's text page by page (each chunk cites ``file p. N``); none from a scanned or locked one."""
    import logging

    from pypdf import PdfReader

    log = logging.getLogger("pypdf")
    level = log.level
    log.setLevel(logging.ERROR)  # its repair notes would reach the screen; the summary says what went wrong
    try:
        reader = PdfReader(f)
        if reader.is_encrypted and not reader.decrypt(""):
            return [], "an encrypted PDF (it needs a password); save an unlocked copy"
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:  # pypdf raises many types on a damaged file: report it, index the rest
        return [], (f"not a readable PDF ({type(exc).__name__}: {exc}); re-save it from a PDF viewer or export it "
                    "as text")
    finally:
        log.setLevel(level)
    out: list[Chunk] = []
    title = f.stem.replace("-", " ").replace("_", " ")
    for n, text in enumerate(pages, 1):
        for c in chunk_markdown(doc, title, text, source=f"{f.name} p. {n}"):
            c.id = f"{doc}:p{n}{c.id[len(doc):]}"
            out.append(c)
    return out, ("a PDF without extractable text (scanned or image-only pages); run OCR on it or export it "
                 "as text")


def describe(summary: dict | None) -> str:
    """The documents part of a build, as the CLI prints it and the widget shows it: counts, then each skipped
    file with why ("" when the index holds no documents)."""
    if not summary or not (summary.get("indexed") or summary.get("skipped")):
        return ""
    indexed, skipped = summary.get("indexed", []), summary.get("skipped", [])
    lines = [f"documents: {len(indexed)} file(s) indexed ({sum(d['chunks'] for d in indexed)} chunks), "
             f"{len(skipped)} skipped" + (":" if skipped else "")]
    return "\n".join(lines + [f"  skipped {s['file']}: {s['why']}" for s in skipped])
