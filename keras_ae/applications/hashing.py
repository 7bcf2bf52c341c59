"""Semantic hashing (Salakhutdinov & Hinton 2009): search over binary codes.

The codes come from a semantic hashing auto-encoder
(:func:`keras_ae.models.hashing.build_hashing_ae`, its ``hash(x)``) or from the
baselines here (:class:`RandomProjectionHasher`, :class:`PCASignHasher`). Similar
images get codes a few bit flips apart, so retrieval is a Hamming-distance search over
packed bits: XOR, population count, and an O(n) top-k selection, all vectorized over
the database (:class:`HammingIndex`); :func:`retrieval_metrics` scores the ranking.

Packed format (everywhere in this module): ``uint8`` arrays of shape
``(n, ceil(n_bits / 8))`` made by ``np.packbits`` (most significant bit first, unused
trailing bits zero).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.models.pca import fit_pca
from keras_ae.validation import check_array, check_choice, check_int


# -- bit packing ---------------------------------------------------------------------------
def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Packs a ``(n, n_bits)`` array of 0/1 (or booleans) into ``uint8`` bytes.

    Args:
        bits: Bits, any numeric or boolean dtype; nonzero means 1.

    Returns:
        ``uint8`` array ``(n, ceil(n_bits / 8))``.

    Example:
        >>> pack_bits(np.array([[1, 0, 0, 0, 0, 0, 0, 1, 1]])).tolist()
        [[129, 128]]
    """
    bits = np.asarray(bits)
    if bits.ndim != 2:
        raise InputValidationError(f"bits must have shape (n, n_bits), got {bits.shape}.")
    return np.packbits(bits != 0, axis=1)


def unpack_bits(packed: np.ndarray, n_bits: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``uint8`` bytes to a ``(n, n_bits)`` array of 0/1.

    Args:
        packed: Packed codes ``(n, ceil(n_bits / 8))``, cast to ``uint8``.
        n_bits: Number of bits per code to keep (the trailing padding bits are dropped).

    Returns:
        ``uint8`` array ``(n, n_bits)`` of 0/1, most significant bit of each byte first.

    Example:
        >>> unpack_bits(np.array([[129, 128]], dtype=np.uint8), 9).tolist()
        [[1, 0, 0, 0, 0, 0, 0, 1, 1]]
    """
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), axis=1, count=n_bits)


_POPCOUNT_TABLE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
_POPCOUNT_TABLE16 = _POPCOUNT_TABLE[np.arange(65536) & 255] + _POPCOUNT_TABLE[np.arange(65536) >> 8]


def popcount(words: np.ndarray) -> np.ndarray:
    """Number of set bits of each unsigned integer (vectorized).

    Uses ``np.bitwise_count`` (NumPy >= 2), else :func:`popcount_table`.

    Args:
        words: Unsigned integer array.

    Returns:
        ``uint8`` array of the same shape.

    Example:
        >>> popcount(np.array([0, 7, 2**32 - 1], dtype=np.uint32)).tolist()
        [0, 3, 32]
    """
    words = np.asarray(words)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    return popcount_table(words)


_popcount_fast = popcount  # HammingIndex's default (its `popcount` argument shadows the name)


def popcount_table(words: np.ndarray) -> np.ndarray:
    """Popcount by a 16-bit lookup table (the NumPy < 2 path; exposed for the benchmark).

    Bytes index an 8-bit table; wider words are viewed as 16-bit halves, looked up and summed.

    Args:
        words: Unsigned integer array (``uint8``, ``uint16``, ``uint32`` or ``uint64``).

    Returns:
        ``uint8`` array of the same shape: the number of set bits of each word.

    Example:
        >>> popcount_table(np.array([255, 1], dtype=np.uint16)).tolist()
        [8, 1]
    """
    words = np.ascontiguousarray(words)
    if words.itemsize == 1:
        return _POPCOUNT_TABLE[words]
    halves = _POPCOUNT_TABLE16[words.view(np.uint16)].reshape(*words.shape, words.itemsize // 2)
    total = halves[..., 0].copy()
    for j in range(1, halves.shape[-1]):  # at most 3 adds; faster than a reduction over a tiny axis
        total += halves[..., j]
    return total


def _word_dtype(n_bytes: int) -> np.dtype:
    # The widest word that divides the code: fewer XORs and popcounts per comparison.
    for dtype in (np.uint64, np.uint32, np.uint16):
        if n_bytes % np.dtype(dtype).itemsize == 0:
            return np.dtype(dtype)
    return np.dtype(np.uint8)


# -- the index -------------------------------------------------------------------------------
class HammingIndex:
    """Exact k-nearest-neighbour search in Hamming space over packed binary codes.

    Codes are stored as the widest unsigned words that fit (one ``uint32`` per code for
    32 bits). A search XORs the query with every stored word, counts bits, and selects
    the k nearest in O(n) with a histogram of distances (distances are small integers),
    ties broken by insertion order, so results are deterministic.

    Args:
        n_bits: Code length in bits.
        popcount: ``"auto"`` (``np.bitwise_count`` where NumPy has it), ``"numpy"`` or
            ``"table"`` (a 16-bit lookup table, the NumPy < 2 path).

    Example:
        >>> hasher = RandomProjectionHasher(32).fit(x_digits)  # or a trained model.hash
        >>> index = HammingIndex(32).add(hasher.hash(x_digits))
        >>> ids, dists = index.search(hasher.hash(x_digits_test[:5]), k=10)
        >>> ids.shape, dists.shape, len(index)
        ((5, 10), (5, 10), 256)
    """

    def __init__(self, n_bits: int, popcount: str = "auto"):
        self.n_bits = check_int(n_bits, "n_bits", minimum=1)
        check_choice(popcount, "popcount", ("auto", "numpy", "table"))
        if popcount == "numpy" and not hasattr(np, "bitwise_count"):
            raise InputValidationError(
                f"popcount='numpy' needs NumPy >= 2 (np.bitwise_count); this is {np.__version__}.")
        self._popcount = popcount_table if popcount == "table" else _popcount_fast
        self.n_bytes = (self.n_bits + 7) // 8
        self._word = _word_dtype(self.n_bytes)
        self._chunks: list[np.ndarray] = []
        self._words: np.ndarray | None = None

    def __len__(self) -> int:
        return sum(len(c) for c in self._chunks)

    def _as_words(self, codes, name: str) -> np.ndarray:
        codes = np.asarray(codes)
        if codes.dtype == np.bool_:
            if codes.ndim != 2 or codes.shape[1] != self.n_bits:
                raise InputValidationError(
                    f"`{name}` holds {codes.shape[-1]}-bit boolean codes, but the index holds {self.n_bits}-bit codes."
                )
            codes = pack_bits(codes)
        if codes.dtype != np.uint8:
            raise InputValidationError(
                f"`{name}` has dtype {codes.dtype}; pass packed codes (uint8 from hash() or pack_bits()) "
                "or a boolean (n, n_bits) array."
            )
        if codes.ndim != 2 or codes.shape[1] != self.n_bytes:
            got = codes.shape[-1] if codes.ndim else 0
            raise InputValidationError(
                f"`{name}` has shape {codes.shape}: {got} packed bytes (up to {8 * got} bits) per code, but the "
                f"index holds {self.n_bits}-bit codes ({self.n_bytes} bytes). Hash queries with the same model."
            )
        if self.n_bits % 8:  # the unused trailing bits of a shorter code must be zero
            pad_mask = np.uint8((1 << (8 - self.n_bits % 8)) - 1)
            if np.any(codes[:, -1] & pad_mask):
                raise InputValidationError(
                    f"`{name}` has bits set beyond bit {self.n_bits}: it holds longer codes than the index's "
                    f"{self.n_bits} bits."
                )
        words = np.ascontiguousarray(codes).view(self._word)
        return words[:, 0] if words.shape[1] == 1 else words

    def add(self, codes: np.ndarray) -> "HammingIndex":
        """Appends codes (ids continue from the current size).

        Args:
            codes: Packed ``uint8`` codes ``(m, ceil(n_bits/8))`` or booleans ``(m, n_bits)``.

        Returns:
            The index (for chaining).

        Example:
            >>> HammingIndex(8).add(np.array([[3], [5]], dtype=np.uint8)).__len__()
            2
        """
        self._chunks.append(self._as_words(codes, "codes").copy())
        self._words = None
        return self

    @property
    def words(self) -> np.ndarray:
        """All stored codes as one word array ``(n,)`` or ``(n, words_per_code)``."""
        if self._words is None:
            if not self._chunks:
                raise InputValidationError("The index is empty; add() codes before searching.")
            self._words = self._chunks[0] if len(self._chunks) == 1 else np.concatenate(self._chunks)
            self._chunks = [self._words]
        return self._words

    def distances(self, query: np.ndarray) -> np.ndarray:
        """Hamming distances of one packed query code ``(n_bytes,)`` to every stored code.

        Example:
            >>> HammingIndex(8).add(np.array([[0], [7]], np.uint8)).distances(np.array([1], np.uint8)).tolist()
            [1, 2]
        """
        return self._distances(self._as_words(np.asarray(query)[None], "query")[0])

    def _distances(self, query_words: np.ndarray) -> np.ndarray:
        d = self._popcount(self.words ^ query_words)
        return d if d.ndim == 1 else d.sum(axis=1, dtype=np.uint16)

    def _top_k(self, d: np.ndarray, k: int) -> np.ndarray:
        # Distances are integers in [0, n_bits]: a histogram gives the k-th smallest
        # distance t in O(n); the codes at distance <= t are few (k plus the ties at t) and
        # come out in id order, so a stable sort of them breaks ties by id.
        t = int(np.searchsorted(np.cumsum(np.bincount(d, minlength=self.n_bits + 1)), k))
        candidates = np.flatnonzero(d <= t)
        return candidates[np.argsort(d[candidates], kind="stable")[:k]]

    def search(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` stored codes nearest each query, nearest first.

        Args:
            queries: Packed codes ``(q, n_bytes)`` (or one code ``(n_bytes,)``), or booleans.
            k: Number of neighbours, ``1 <= k <= len(index)``.

        Returns:
            ``(ids, distances)``, each ``(q, k)`` (``(k,)`` for one query); ties by id.

        Example:
            >>> index = HammingIndex(8).add(np.array([[0], [255], [1]], dtype=np.uint8))
            >>> index.search(np.array([0], dtype=np.uint8), k=2)[0].tolist()
            [0, 2]
        """
        single = np.ndim(queries) == 1
        q = self._as_words(np.asarray(queries)[None] if single else queries, "queries")
        n = len(self.words)  # raises on an empty index
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
            raise InputValidationError(f"k must be an integer in [1, {n}] (the index size), got {k!r}.")
        ids = np.empty((len(q), k), dtype=np.int64)
        dists = np.empty((len(q), k), dtype=np.int64)
        for i in range(len(q)):  # one vectorized pass over the database per query
            d = self._distances(q[i])
            ids[i] = self._top_k(d, k)
            dists[i] = d[ids[i]]
        return (ids[0], dists[0]) if single else (ids, dists)


# -- baselines -------------------------------------------------------------------------------
class RandomProjectionHasher:
    """Random-hyperplane LSH (Charikar 2002): bit j is ``sign(w_j . (x - mean))``.

    Args:
        n_bits: Code length.
        seed: Seed of the Gaussian hyperplanes.

    Example:
        >>> codes = RandomProjectionHasher(32).fit(x_digits).hash(x_digits_test)
        >>> codes.shape, codes.dtype
        ((64, 4), dtype('uint8'))
    """

    def __init__(self, n_bits: int, seed: int = 0):
        self.n_bits = check_int(n_bits, "n_bits", minimum=1)
        self.seed = seed

    def fit(self, x: np.ndarray) -> "RandomProjectionHasher":
        """Draws the hyperplanes through the data mean."""
        flat = check_array(x, "x").reshape(len(x), -1)
        self.mean_ = flat.mean(axis=0)
        rng = np.random.default_rng(self.seed)
        self.projection_ = rng.standard_normal((flat.shape[1], self.n_bits)).astype(np.float32)
        return self

    def hash(self, x: np.ndarray) -> np.ndarray:
        """Packed codes ``uint8 (n, ceil(n_bits/8))``."""
        flat = check_array(x, "x").reshape(len(x), -1)
        return pack_bits((flat - self.mean_) @ self.projection_ > 0)


class PCASignHasher:
    """PCA hashing: bit j is the sign of the j-th principal component score.

    Args:
        n_bits: Code length (number of components).

    Example:
        >>> codes = PCASignHasher(16).fit(x_digits).hash(x_digits_test)
        >>> codes.shape, codes.dtype
        ((64, 2), dtype('uint8'))
    """

    def __init__(self, n_bits: int):
        self.n_bits = check_int(n_bits, "n_bits", minimum=1)

    def fit(self, x: np.ndarray) -> "PCASignHasher":
        """Fits PCA (``keras_ae.models.fit_pca``: centred projections onto the top components)."""
        self.pca_ = fit_pca(x, self.n_bits)
        return self

    def hash(self, x: np.ndarray) -> np.ndarray:
        """Packed codes ``uint8 (n, ceil(n_bits/8))``."""
        return pack_bits(self.pca_.encode(x) > 0)


# -- evaluation -------------------------------------------------------------------------------
def retrieval_metrics(
    query_codes: np.ndarray,
    query_labels: np.ndarray,
    database_codes: np.ndarray,
    database_labels: np.ndarray,
    n_bits: int,
    k: int | Sequence[int] = 100,
    verbose: int = 0,
) -> dict[str, float]:
    """Precision@k and mean average precision of Hamming ranking, relevance = same label.

    Every database item is ranked per query (Hamming distance, ties by id); average
    precision is the mean of the precision at the rank of each relevant item.

    Args:
        query_codes: Packed query codes.
        query_labels: Query class labels ``(q,)``.
        database_codes: Packed database codes.
        database_labels: Database labels ``(n,)``.
        n_bits: Code length.
        k: Cut-off(s) of the precision.
        verbose: Show a progress bar.

    Returns:
        ``{"precision@<k>": ... for each k, "mAP": ...}``.

    Example:
        >>> hasher = PCASignHasher(16).fit(x_digits)
        >>> metrics = retrieval_metrics(hasher.hash(x_digits_test), y_digits_test, hasher.hash(x_digits), y_digits,
        ...                             16, k=10)
        >>> sorted(metrics), 0 < metrics["mAP"] <= 1
        (['mAP', 'precision@10'], True)
    """
    query_labels = np.asarray(query_labels).reshape(-1)
    database_labels = np.asarray(database_labels).reshape(-1)
    if len(query_labels) != len(query_codes) or len(database_labels) != len(database_codes):
        raise InputValidationError("Codes and labels must have the same number of rows.")
    index = HammingIndex(n_bits).add(database_codes)
    n = len(index)
    ks = [k] if np.ndim(k) == 0 else list(k)
    for cut in ks:
        if isinstance(cut, bool) or not isinstance(cut, (int, np.integer)) or not 1 <= cut <= n:
            raise InputValidationError(f"k must be an integer in [1, {n}] (the database size), got {cut!r}.")
    queries = index._as_words(query_codes, "query_codes")
    ranks = np.arange(1, n + 1)
    precision = np.empty((len(queries), len(ks)))
    average_precision = np.empty(len(queries))
    bar = keras.utils.Progbar(len(queries), verbose=verbose, unit_name="query")
    for i in range(len(queries)):  # each query ranks the whole database in one vectorized pass
        d = index._distances(queries[i])
        relevant = database_labels[np.argsort(d, kind="stable")] == query_labels[i]
        hits = np.cumsum(relevant)
        precision[i] = hits[np.array(ks) - 1] / np.array(ks)
        average_precision[i] = (hits / ranks)[relevant].mean() if hits[-1] else 0.0
        if (i + 1) % 100 == 0 or i + 1 == len(queries):
            bar.update(i + 1)
    result = {f"precision@{cut}": float(p) for cut, p in zip(ks, precision.mean(axis=0))}
    result["mAP"] = float(average_precision.mean())
    return result
