"""PixelRNN (Row LSTM) sampling speed: row by row with carried LSTM states vs the whole network per pixel.

Three samplers draw the same images for the same seed (a counter-based random stream):

* ``sample`` row by row (the default for Row LSTM networks): per pixel, the first
  convolution on the few rows it sees plus the LSTM layers and head on the current row,
  with each layer's ``(h, c)`` of the row above carried through the compiled loop;
* ``sample`` generic (``model.row_by_row = False``, the sampler before): the whole
  network on the whole image for every pixel, in the same compiled loop;
* ``sample_naive``: a Python loop over pixels calling the (``tf.function``) model.

The script checks the three give identical images, then prints seconds per image. The
compiled samplers are timed twice: the first call includes tracing and XLA compilation.

    python recipes/bench_pixelrnn_sampler.py                 # 28x28, 16 images: ~1 minute on 2 cores
    python recipes/bench_pixelrnn_sampler.py --skip-naive    # without the slowest baseline
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras

from keras_ae.experiment import format_table
from keras_ae.models.pixelrnn import build_pixelrnn


def timed(fn):
    """``(result, seconds)`` of ``fn()``."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=28, help="image height and width")
    parser.add_argument("--n", type=int, default=16, help="images per sampler call (one batch)")
    parser.add_argument("--units", type=int, default=32, help="LSTM units (recipes/pixelcnn.py's default)")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-naive", action="store_true", help="skip sample_naive (the slowest)")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    shape = (args.size, args.size, 1)
    model = build_pixelrnn(shape, kind="row_lstm", units=args.units, layers=args.layers)
    generic = build_pixelrnn(shape, kind="row_lstm", units=args.units, layers=args.layers)
    generic.set_weights(model.get_weights())
    generic.row_by_row = False  # the sampler before: the whole network per pixel

    runs = [("sample, row by row (XLA)", lambda: model.sample(args.n, seed=args.seed)),
            ("sample, row by row (no XLA)", lambda: model.sample(args.n, seed=args.seed, jit_compile=False)),
            ("sample, whole network per pixel (XLA)", lambda: generic.sample(args.n, seed=args.seed))]
    rows, images = [], {}
    for name, fn in runs:
        first, t_first = timed(fn)
        images[name], t = timed(fn)
        assert np.array_equal(first, images[name])
        rows.append({"sampler": name, "s/image": t / args.n, "first call (s)": t_first, "second call (s)": t})
        print(f"{name}: {t:.2f} s (first call {t_first:.2f} s)", flush=True)
    if not args.skip_naive:
        print("sample_naive (one Progbar step per pixel):", flush=True)
        images["naive"], t = timed(lambda: model.sample_naive(args.n, seed=args.seed, verbose=1, compiled_forward=True))
        rows.append({"sampler": "sample_naive (compiled forward)", "s/image": t / args.n, "first call (s)": t,
                     "second call (s)": float("nan")})
    reference = images["sample, row by row (XLA)"]
    for name, x in images.items():
        assert np.array_equal(x, reference), f"{name} draws different images"
    for row in rows:
        row["x slower than row by row (XLA)"] = row["s/image"] / rows[0]["s/image"]
    print(f"\n{args.size}x{args.size} Row LSTM ({args.units} units x {args.layers} layer(s)), {args.n} images, "
          f"identical images from every sampler:\n")
    print(format_table(rows, floatfmt=".3g"))
    return rows


if __name__ == "__main__":
    main()
