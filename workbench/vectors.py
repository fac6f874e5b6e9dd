"""txtai's dense-vector plugin for our MiniLM: chunks through the vector store, queries in fp32.

An index's configuration names this class (``retrieval._config``), and txtai tells it whether it is
encoding documents ("data") or a query. Chunks use the store's variant and length (int8 weights,
128 tokens by default; see ``workbench.models.embeddings``): the bulk work of a build, and a rebuild
reuses them. A query is one short text, so it gets the full-precision weights.
"""

from __future__ import annotations

from txtai.vectors import Vectors

__all__ = ["MiniLMVectors"]


class MiniLMVectors(Vectors):
    def loadmodel(self, path):
        self.store = None  # opened on the first chunk batch, after any vectors a build made just before
        return None

    def encode(self, data, category=None):
        from workbench.models.embeddings import VectorStore, embed

        if category == "data":
            if self.store is None:
                self.store = VectorStore(self.config["chunks"], self.config["max_tokens"])
            return self.store.embed(data)
        return embed(data)
