"""Semantic hashing: 32-bit codes from an auto-encoder vs PCA sign bits and random-projection LSH.

Test images query the training set by Hamming distance; relevance is the class label.
Prints precision@k and mAP per method and the ratio to PCA; saves a precision@k curve
and example retrievals.

Example:
    python recipes/app_hashing.py     # MNIST: the embedded mnist10k split, load_dataset("mnist10k")
"""

from __future__ import annotations

import time

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.applications.hashing import HammingIndex, PCASignHasher, RandomProjectionHasher, retrieval_metrics
from keras_ae.data.corruption import Corruption
from keras_ae.experiment import (describe_recipe_data, load_recipe_data, recipe_parser, recipe_tensorboard_callbacks,
                                 write_results)
from keras_ae.models.hashing import build_hashing_ae
from keras_ae.plotting import save_curves, save_image_rows


KS = (1, 10, 50, 100, 500, 1000)


def main(argv=None):
    parser = recipe_parser("app_hashing", __doc__.splitlines()[0], epochs=30)
    parser.add_argument("--architecture", default="conv", choices=("conv", "dense"), help="encoder/decoder type")
    parser.add_argument("--bits", type=int, default=32, help="code length")
    parser.add_argument("--noise-std", type=float, default=8.0, help="std of the noise on the code logits")
    parser.add_argument("--masking", type=float, default=0.3, help="fraction of input pixels masked in training")
    parser.add_argument("--binarization", default="noise", choices=("noise", "straight_through"))
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    keras.utils.set_random_seed(args.seed)

    start = time.perf_counter()
    corruption = Corruption("masking", args.masking, name="corruption") if args.masking > 0 else None
    model = build_hashing_ae(x_train.shape[1:], n_bits=args.bits, architecture=args.architecture,
                             binarization=args.binarization,
                             noise_std=args.noise_std, corruption=corruption, seed=args.seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x_train, epochs=args.epochs, batch_size=128, verbose=2,
              callbacks=recipe_tensorboard_callbacks(args, model, x_test, y_test))
    train_seconds = time.perf_counter() - start

    hashers = {
        "semantic hashing AE": model,
        "PCA sign bits": PCASignHasher(args.bits).fit(x_train),
        "random-projection LSH": RandomProjectionHasher(args.bits, seed=args.seed).fit(x_train),
    }
    rows, curves = [], {}
    for name, hasher in hashers.items():
        metrics = retrieval_metrics(hasher.hash(x_test), y_test, hasher.hash(x_train), y_train, args.bits, k=KS,
                                    verbose=1)
        curves[name] = (KS, [metrics[f"precision@{k}"] for k in KS])
        rows.append({"method": name, "bits": args.bits, "precision@100": metrics["precision@100"],
                     "precision@10": metrics["precision@10"], "mAP": metrics["mAP"]})
    pca_p100 = rows[1]["precision@100"]
    for row in rows:
        row["ratio_to_pca"] = row["precision@100"] / pca_p100

    save_curves(curves, f"{args.out}/precision_at_k.png", "k (retrieved images)", "precision@k",
                title=f"{args.dataset} ({args.bits}-bit codes): test queries vs train set", logx=True)
    index = HammingIndex(args.bits).add(model.hash(x_train))
    ids, _ = index.search(model.hash(x_test[:8]), k=9)
    save_image_rows({f"query {i}": np.concatenate([x_test[i:i + 1], x_train[ids[i]]]) for i in range(8)},
                    f"{args.out}/retrievals.png", n=10, title="query, then its 9 nearest codes")
    ae = rows[0]
    results = {
        "split": describe_recipe_data(args), "bits": args.bits,
        "ae_precision@100": ae["precision@100"], "pca_precision@100": pca_p100,
        "lsh_precision@100": rows[2]["precision@100"], "ae_over_pca": ae["ratio_to_pca"],
        "ae_mAP": ae["mAP"], "train_seconds": train_seconds,
    }
    write_results(args.out, results, rows, args)
    print(f"precision@100: AE {ae['precision@100']:.3f} = {ae['ratio_to_pca']:.2f}x PCA sign bits "
          f"({pca_p100:.3f}); LSH {rows[2]['precision@100']:.3f}")


if __name__ == "__main__":
    main()
