"""Unsupervised pretraining: auto-encoder on all training images, fine-tune with 100 labels per class.

Compares, with the same network: training from scratch (each learning rate tried),
pretraining (plain / denoising / contractive when available) then fine-tuning (one
stage, and probe-then-fine-tune), and a linear probe on the frozen pretrained codes.
Every choice (the scratch learning rate, the pretrained method) is made on a labelled
validation subset of the training split, disjoint from the training labels; the test
split is only used to report. Prints validation and test errors and the ratio of the
chosen pretrained model's test error to the chosen from-scratch model's; saves a bar chart.

Example:
    python recipes/app_pretraining.py --data-dir ../shared/data/mnist10k
"""

from __future__ import annotations

import time

from keras_ae.applications.pretraining import compare_pretraining, pretraining_kinds, select_by_validation
from keras_ae.experiment import load_recipe_data, recipe_parser, write_results
from keras_ae.plotting import save_bars


def main(argv=None):
    parser = recipe_parser("app_pretraining", __doc__.splitlines()[0], epochs=100)
    parser.add_argument("--per-class", type=int, default=100, help="labelled examples per class")
    parser.add_argument("--val-per-class", type=int, default=100,
                        help="labelled validation examples per class (choices are made on them, not on the test split)")
    parser.add_argument("--finetune-epochs", type=int, default=60, help="classifier epochs (same for every row)")
    parser.add_argument("--kinds", default=",".join(pretraining_kinds()), help="auto-encoders to pretrain")
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    start = time.perf_counter()
    rows = compare_pretraining(x_train, y_train, x_test, y_test, kinds=args.kinds.split(","),
                               per_class=args.per_class, pretrain_epochs=args.epochs,
                               finetune_epochs=args.finetune_epochs, val_per_class=args.val_per_class,
                               seed=args.seed, verbose=2)
    scratch = select_by_validation(rows, "none")  # chosen on validation labels, reported on test
    tuned = [r for r in rows if r["method"].endswith("fine-tune")]
    best = select_by_validation(tuned, "any")
    for row in rows:
        row["ratio_to_scratch"] = row["test_error"] / scratch["test_error"]
    save_bars({r["method"]: r["test_error"] for r in rows}, f"{args.out}/test_error.png", "test error",
              title=f"{args.dataset}, {args.per_class} labels per class")
    write_results(args.out, {"split": f"{args.dataset} ({args.data_dir})", "scratch": scratch["method"],
                             "scratch_error": scratch["test_error"], "best_pretrained": best["method"],
                             "best_pretrained_error": best["test_error"], "ratio": best["ratio_to_scratch"],
                             "selection": f"validation subset, {args.val_per_class} per class",
                             "seconds": time.perf_counter() - start}, rows, args)
    print(f"Chosen on validation: {best['method']}: test error {best['test_error']:.4f} = "
          f"{best['ratio_to_scratch']:.2f}x the test error of {scratch['method']} ({scratch['test_error']:.4f}), "
          f"{args.per_class} labels per class")


if __name__ == "__main__":
    main()
