"""txtai's BM25 keyword index, searched in the calling thread.

txtai starts a thread pool for every keyword search, even for one query over a few hundred chunks;
here that cost about 4 ms of a 16–20 ms hybrid query. Same index files, same scores: only the loop
differs. txtai imports this class by name from an index's configuration (``retrieval._config``).
"""

from __future__ import annotations

from txtai.scoring import BM25


class InlineBM25(BM25):
    def batchsearch(self, queries, limit=3, threads=True):
        return [self.search(query, limit) for query in queries]
