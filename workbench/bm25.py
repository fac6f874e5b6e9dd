"""txtai's BM25 keyword index, searched in the calling thread and merged with numpy.

txtai starts a thread pool for every keyword search, even for one query over a few hundred chunks
(about 4 ms of a 16–20 ms hybrid query here), and merges the scores of common terms in a Python loop
(about 1 ms more). Same index files, same scores: only the loops differ (a test compares them on the
shipped queries). txtai imports this class by name from an index's configuration (``retrieval._config``).
"""

from __future__ import annotations

import numpy as np
from txtai.scoring import BM25
from txtai.scoring.terms import Terms

__all__ = ["InlineBM25"]


class _Terms(Terms):
    def merge(self, scores, matches, hasscores, terms):
        """Terms.merge with the match filter done by numpy instead of a list comprehension."""
        for term, freq in terms.items():
            uids, weights = self.weights(term)
            if hasscores:  # keep only the current matches that hold this term
                at = np.searchsorted(uids, matches)
                found = at < len(uids)
                found[found] = uids[at[found]] == matches[found]
                uids, weights = uids[at[found]], weights[at[found]]
            scores[uids] += freq * weights


class InlineBM25(BM25):
    def __init__(self, config=None):
        super().__init__(config)
        self._numpy_terms()

    def load(self, path):
        super().load(path)
        self._numpy_terms()

    def _numpy_terms(self):
        if self.terms is not None:
            self.terms.__class__ = _Terms  # same state, one method replaced

    def batchsearch(self, queries, limit=3, threads=True):
        return [self.search(query, limit) for query in queries]
