"""2-D visualization: PCA, an auto-encoder and a VAE side by side, with trustworthiness per method.

Each method is trained on the training split; the figure shows test codes coloured by
label and the table lists scikit-learn's trustworthiness (1.0 = 2-D neighbours are
true neighbours).

Example:
    python recipes/app_visualization.py     # MNIST: the embedded mnist10k split, load_dataset("mnist10k")
"""

from __future__ import annotations

from keras_ae.applications.visualization import METHODS, compare_embeddings
from keras_ae.experiment import describe_recipe_data, load_recipe_data, recipe_parser, write_results
from keras_ae.plotting import save_code_scatter

NAMES = {"pca": "PCA", "autoencoder": "auto-encoder", "vae": "VAE (posterior mean)"}


def main(argv=None):
    parser = recipe_parser("app_visualization", __doc__.splitlines()[0], epochs=30)
    parser.add_argument("--n-show", type=int, default=2000, help="test images shown and scored")
    parser.add_argument("--n-neighbors", type=int, default=12, help="trustworthiness neighbourhood")
    args = parser.parse_args(argv)
    (x_train, _), (x_test, y_test) = load_recipe_data(args)
    x_show, y_show = x_test[: args.n_show], y_test[: args.n_show]
    codes, scores = compare_embeddings(x_train, x_show, METHODS, epochs=args.epochs, n_neighbors=args.n_neighbors,
                                       verbose=2)
    save_code_scatter({NAMES[m]: c for m, c in codes.items()}, y_show, f"{args.out}/codes_2d.png",
                      title=f"{args.dataset}: 2-D codes of {len(x_show)} test images (trustworthiness)",
                      scores={NAMES[m]: s for m, s in scores.items()})
    rows = [{"method": NAMES[m], "trustworthiness": s, "n_neighbors": args.n_neighbors, "points": len(x_show)}
            for m, s in scores.items()]
    write_results(args.out, {"split": describe_recipe_data(args),
                             **{f"trustworthiness_{m}": s for m, s in scores.items()}}, rows, args)


if __name__ == "__main__":
    main()
