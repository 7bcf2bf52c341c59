"""Unsupervised pretraining: auto-encoder on all training images, fine-tune with 100 labels per class.

Compares, with the same network: training from scratch (each learning rate tried),
pretraining (plain / denoising / contractive when available, end to end; ``stacked``:
greedy layer-wise, each layer a denoising auto-encoder on the codes of the layer below,
Vincent et al. 2010) then fine-tuning (one stage, and probe-then-fine-tune), and a linear
probe on the frozen pretrained codes. Every choice (the scratch learning rate, the
fine-tuning method of each kind, the best kind) is made on a labelled validation subset
of the training split, disjoint from the training labels; the test split is only used to
report. Prints every row, then the validation-chosen model of each kind with its test
error and its ratio to the chosen from-scratch model's; saves two bar charts
(``test_error.png``: every row; ``test_error_per_kind.png``: the chosen model per kind).

Example:
    python recipes/app_pretraining.py --kinds plain,denoising,stacked   # the embedded mnist10k split
"""

from __future__ import annotations

import time
from pathlib import Path

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)
from keras_ae.applications.pretraining import COMPARISON_KINDS, compare_pretraining, select_by_validation
from keras_ae.experiment import (describe_recipe_data, format_table, load_recipe_data, recipe_data_source,
                                 recipe_parser, write_results)
from keras_ae.plotting import save_bars


def main(argv=None):
    parser = recipe_parser("app_pretraining", __doc__.splitlines()[0], epochs=100)
    parser.add_argument("--per-class", type=int, default=100, help="labelled examples per class")
    parser.add_argument("--val-per-class", type=int, default=100,
                        help="labelled validation examples per class (choices are made on them, not on the test split)")
    parser.add_argument("--finetune-epochs", type=int, default=60, help="classifier epochs (same for every row)")
    parser.add_argument("--kinds", default=",".join(COMPARISON_KINDS),
                        help="pretraining kinds: end-to-end auto-encoders, and `stacked` (greedy layer-wise; "
                             "--epochs per layer)")
    parser.add_argument("--stacked-level", type=float, default=0.25,
                        help="masking level of every layer of the stacked denoising auto-encoder")
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    kinds = args.kinds.split(",")
    start = time.perf_counter()
    rows = compare_pretraining(x_train, y_train, x_test, y_test, kinds=kinds,
                               per_class=args.per_class, pretrain_epochs=args.epochs,
                               finetune_epochs=args.finetune_epochs, val_per_class=args.val_per_class,
                               seed=args.seed, verbose=2, stacked_level=args.stacked_level)
    scratch = select_by_validation(rows, "none")  # chosen on validation labels, reported on test
    tuned = [r for r in rows if r["method"].endswith("fine-tune")]
    best = select_by_validation(tuned, "any")
    for row in rows:
        row["ratio_to_scratch"] = row["test_error"] / scratch["test_error"]
    # One model per kind, each chosen on validation among its fine-tuned rows (as `best` is among all).
    chosen = [scratch] + [select_by_validation(tuned, kind) for kind in kinds]
    per_kind = [{"pretraining": r["pretraining"], "chosen on validation": r["method"], "val_error": r["val_error"],
                 "test_error": r["test_error"], "ratio_to_scratch": r["ratio_to_scratch"]} for r in chosen]
    # Name the split (e.g. mnist10k), not only the dataset: its errors are not full-MNIST errors.
    name, data_dir = recipe_data_source(args)  # no --data-dir: the embedded mnist10k
    local = data_dir and (Path(data_dir) / f"{name}.npz").is_file()
    split = Path(data_dir).name if local else name
    title = f"{split}, {args.per_class} labels per class"
    save_bars({r["method"]: r["test_error"] for r in rows}, f"{args.out}/test_error.png", "test error", title=title)
    save_bars({("from scratch" if r["pretraining"] == "none" else r["pretraining"]): r["test_error"] for r in per_kind},
              f"{args.out}/test_error_per_kind.png", "test error (validation-chosen)", title=title)
    write_results(args.out, {"split": describe_recipe_data(args), "scratch": scratch["method"],
                             "scratch_error": scratch["test_error"], "best_pretrained": best["method"],
                             "best_pretrained_error": best["test_error"], "ratio": best["ratio_to_scratch"],
                             "per_kind": per_kind,
                             "selection": f"validation subset, {args.val_per_class} per class",
                             "seconds": time.perf_counter() - start}, rows, args)
    print("\nValidation-chosen model of each kind:")
    print(format_table(per_kind))
    print(f"Chosen on validation: {best['method']}: test error {best['test_error']:.4f} = "
          f"{best['ratio_to_scratch']:.2f}x the test error of {scratch['method']} ({scratch['test_error']:.4f}), "
          f"{args.per_class} labels per class")


if __name__ == "__main__":
    main()
