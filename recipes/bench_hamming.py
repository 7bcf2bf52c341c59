"""Hamming search speed: one query against 1,000,000 random codes, top 100 (median of repeats).

Side by side in one process: the HammingIndex search (NumPy popcount + histogram
top-k), the same with the lookup-table popcount used on NumPy < 2, and a full sort.

Example:
    python recipes/bench_hamming.py --n 1000000 --bits 32 --repeats 50
"""

from __future__ import annotations

import time

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.applications.hashing import HammingIndex, pack_bits
from keras_ae.experiment import recipe_parser, write_results
from keras_ae.plotting import save_bars


def timed(fn, repeats: int, warmup: int = 3, verbose: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    bar = keras.utils.Progbar(repeats, verbose=verbose, unit_name="run")
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        bar.update(i + 1)
    return 1000.0 * float(np.median(times))


def main(argv=None):
    parser = recipe_parser("bench_hamming", __doc__.splitlines()[0], dataset="random", epochs=0)
    parser.add_argument("--n", type=int, default=1_000_000, help="codes in the index")
    parser.add_argument("--bits", type=int, default=32, help="code length")
    parser.add_argument("--k", type=int, default=100, help="neighbours returned")
    parser.add_argument("--repeats", type=int, default=50, help="timed repeats (median reported)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    index = HammingIndex(args.bits).add(pack_bits(rng.integers(0, 2, (args.n, args.bits), dtype=np.uint8)))
    query = pack_bits(rng.integers(0, 2, (1, args.bits), dtype=np.uint8))[0]
    ids, dists = index.search(query, k=args.k)
    check = index.distances(query)  # the answer must be exact: compare with a full sort
    assert np.array_equal(ids, np.argsort(check, kind="stable")[: args.k]) and np.array_equal(dists, check[ids])

    def full_sort():
        return np.argsort(index.distances(query), kind="stable")[: args.k]

    table_index = HammingIndex(args.bits, popcount="table").add(index.words.view(np.uint8).reshape(args.n, -1))

    timings = {
        "HammingIndex.search": timed(lambda: index.search(query, k=args.k), args.repeats),
        "search, lookup-table popcount": timed(lambda: table_index.search(query, k=args.k), args.repeats),
        "popcount + full argsort": timed(full_sort, max(5, args.repeats // 5)),
    }
    base = timings["HammingIndex.search"]
    rows = [{"method": name, "n": args.n, "bits": args.bits, "k": args.k, "median_ms": ms, "ratio": ms / base}
            for name, ms in timings.items()]
    save_bars({r["method"]: r["median_ms"] for r in rows}, f"{args.out}/hamming_search_ms.png",
              "median ms per query", title=f"top-{args.k} of {args.n:,} {args.bits}-bit codes")
    write_results(args.out, {"median_ms": base, "n": args.n, "bits": args.bits, "k": args.k,
                             "numpy": np.__version__, "target_ms": 20.0, "passes": base < 20.0}, rows, args)
    print(f"one query vs {args.n:,} {args.bits}-bit codes, top {args.k}: {base:.2f} ms median")


if __name__ == "__main__":
    main()
