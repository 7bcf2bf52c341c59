"""Anomaly detection by reconstruction error: train on "normal" digits, flag the held-out class.

A dense auto-encoder is trained on the training images of every class but one. The
alarm threshold is the (1 - false-alarm rate) quantile of the scores on a normal
validation split; the test split (normal classes + the held-out class) gives ROC AUC,
precision and recall. Saves score histograms and the worst-reconstructed test images.

Example:
    python recipes/app_anomaly.py --data-dir ../shared/data/mnist10k --anomaly-class 7
"""

from __future__ import annotations

import keras
import numpy as np

from keras_ae.applications.anomaly import ReconstructionAnomalyDetector
from keras_ae.experiment import load_recipe_data, recipe_parser, write_results
from keras_ae.models.dense import build_dense_ae
from keras_ae.plotting import save_histograms, save_image_rows


def main(argv=None):
    parser = recipe_parser("app_anomaly", __doc__.splitlines()[0], epochs=30)
    parser.add_argument("--anomaly-class", type=int, default=7, help="class left out of training")
    parser.add_argument("--code-dim", type=int, default=16, help="code size")
    parser.add_argument("--false-positive-rate", type=float, default=0.05, help="target false-alarm rate")
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
    normal = x_train[y_train != args.anomaly_class]
    n_val = len(normal) // 10
    x_val, x_fit = normal[:n_val], normal[n_val:]
    keras.utils.set_random_seed(args.seed)
    model = build_dense_ae(x_train.shape[1:], hidden=(256, 64), code_dim=args.code_dim)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x_fit, epochs=args.epochs, batch_size=128, validation_data=x_val, verbose=2)

    detector = ReconstructionAnomalyDetector(model, args.false_positive_rate).fit_threshold(x_val)
    is_anomaly = (y_test == args.anomaly_class).astype(int)
    result = detector.evaluate(x_test, is_anomaly)
    scores = detector.score_samples(x_test)

    save_histograms({"normal classes": scores[is_anomaly == 0], f"class {args.anomaly_class} (anomaly)": scores[is_anomaly == 1]},
                    f"{args.out}/scores.png", "squared reconstruction error", threshold=detector.threshold_,
                    title=f"{args.dataset}: ROC AUC {result['roc_auc']:.3f}")
    worst = np.argsort(scores)[::-1][:10]
    save_image_rows({"input": x_test[worst], "reconstruction": model.reconstruct(x_test[worst])},
                    f"{args.out}/most_anomalous.png", title="highest anomaly scores")
    rows = [{"anomaly_class": args.anomaly_class, **result}]
    write_results(args.out, {"split": f"{args.dataset} ({args.data_dir})", **result}, rows, args)


if __name__ == "__main__":
    main()
