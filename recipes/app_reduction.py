"""Dimensionality reduction in scikit-learn: an auto-encoder inside a Pipeline, code size chosen by GridSearchCV.

Pipeline(AutoEncoderTransformer -> LogisticRegression) and Pipeline(PCA -> LogisticRegression)
are tuned over the same code sizes with cross-validation on the training split; the best
of each is scored on the test split. Saves CV accuracy against code size.

Example:
    python recipes/app_reduction.py     # MNIST: the embedded mnist10k split, load_dataset("mnist10k")
"""

from __future__ import annotations

import time

from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from keras_ae.applications.reduction import AutoEncoderTransformer
from keras_ae.experiment import describe_recipe_data, load_recipe_data, recipe_parser, write_results
from keras_ae.plotting import save_curves



def main(argv=None):
    parser = recipe_parser("app_reduction", __doc__.splitlines()[0], epochs=10)
    parser.add_argument("--code-sizes", default="2,8,32", help="comma-separated code sizes to search")
    parser.add_argument("--cv", type=int, default=3, help="cross-validation folds")
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args, flatten=True)
    sizes = [int(s) for s in args.code_sizes.split(",")]
    classifier = LogisticRegression(max_iter=1000)
    searches = {
        "auto-encoder": GridSearchCV(
            Pipeline([("reduce", AutoEncoderTransformer(builder_kwargs={"hidden": (256, 128)}, epochs=args.epochs,
                                                        batch_size=128, random_state=args.seed)),
                      ("classify", classifier)]),
            {"reduce__code_dim": sizes}, cv=args.cv, verbose=1),
        "PCA": GridSearchCV(Pipeline([("reduce", PCA(random_state=args.seed)), ("classify", classifier)]),
                            {"reduce__n_components": sizes}, cv=args.cv, verbose=1),
    }
    rows, curves = [], {}
    for name, search in searches.items():
        start = time.perf_counter()
        search.fit(x_train, y_train)
        cv_scores = list(search.cv_results_["mean_test_score"])
        curves[name] = (sizes, cv_scores)
        rows.append({"reducer": name, "best_code_size": list(search.best_params_.values())[0],
                     "cv_accuracy": search.best_score_, "test_accuracy": search.score(x_test, y_test),
                     "seconds": time.perf_counter() - start,
                     **{f"cv@{s}": c for s, c in zip(sizes, cv_scores)}})
    save_curves(curves, f"{args.out}/cv_accuracy_vs_code_size.png", "code size", "CV accuracy (logistic regression)",
                title=f"{args.dataset}: reduce, then classify", logx=True)
    ae = rows[0]
    write_results(args.out, {"split": describe_recipe_data(args), "ae_best_code_size": ae["best_code_size"],
                             "ae_test_accuracy": ae["test_accuracy"], "pca_test_accuracy": rows[1]["test_accuracy"]},
                  rows, args)
    print(f"auto-encoder pipeline: code size {ae['best_code_size']} chosen by GridSearchCV, "
          f"test accuracy {ae['test_accuracy']:.3f} (PCA pipeline {rows[1]['test_accuracy']:.3f})")


if __name__ == "__main__":
    main()
