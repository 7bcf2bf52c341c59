"""2-D pictures of data: PCA, an auto-encoder and a VAE side by side, scored by trustworthiness.

Each method maps test images to two numbers; the figure colours them by label and the
title of each panel carries scikit-learn's trustworthiness (the fraction of 2-D
neighbourhoods that are real neighbourhoods in pixel space, 1.0 = perfect).
Every panel shows the model's ``codes(x)``: for the VAE, the posterior means.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.random import seeded
from keras_ae.models.dense import build_dense_ae
from keras_ae.models.pca import fit_pca
from keras_ae.models.vae import build_vae
from keras_ae.validation import check_array, check_choice

#: The embedding methods of :func:`fit_embedding` and :func:`compare_embeddings`.
METHODS = ("pca", "autoencoder", "vae")


def fit_embedding(method: str, x_train: np.ndarray, epochs: int = 20, hidden: Sequence[int] = (256, 64),
                  batch_size: int = 128, verbose: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """Fits one 2-D embedding method on ``x_train``; returns ``embed(x) -> (n, 2)``.

    Args:
        method: ``"pca"``, ``"autoencoder"`` (dense, linear 2-unit code) or ``"vae"`` (tanh units, posterior
            means as codes).
        x_train: Training images in [0, 1].
        epochs: Training epochs (auto-encoder and VAE).
        hidden: Encoder hidden widths (auto-encoder and VAE).
        batch_size: Batch size.
        verbose: Keras verbosity.

    Returns:
        A function mapping images to 2-D codes.

    Example:
        >>> embed = fit_embedding("pca", x_digits)
        >>> embed(x_digits_test).shape
        (64, 2)
    """
    check_choice(method, "embedding method", METHODS)
    x_train = check_array(x_train, "x_train")
    if method == "pca":
        pca = fit_pca(x_train, 2)
        return pca.codes
    if method == "autoencoder":
        model = build_dense_ae(x_train.shape[1:], hidden=hidden, code_dim=2, name="ae_2d")
    else:
        # Grey [0, 1] images with a Bernoulli likelihood: re-binarize every step. tanh units, not build_vae's
        # dense default (ELU): on mnist10k (30 epochs, 2,000 test codes) the 2-D posterior means score a
        # trustworthiness of 0.848 / 0.869 / 0.853 with tanh against 0.817 / 0.814 / 0.825 with ELU (seeds 0 / 1 / 2).
        model = build_vae(x_train.shape[1:], latent_dim=2, hidden=hidden, dynamic_binarization=True,
                          activation="tanh")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(x_train, epochs=epochs, batch_size=batch_size, verbose=verbose)
    return model.codes  # the VAE's: posterior means


def trustworthiness_scores(x: np.ndarray, embeddings: Mapping[str, np.ndarray],
                           n_neighbors: int = 12) -> dict[str, float]:
    """scikit-learn's trustworthiness of each embedding of ``x``.

    Args:
        x: The data in the original space ``(n, ...)`` (flattened internally).
        embeddings: Method name -> ``(n, 2)`` codes of the same rows.
        n_neighbors: Neighbourhood size.

    Returns:
        Method name -> trustworthiness in [0, 1].

    Example:
        >>> codes = fit_embedding("pca", x_digits)(x_digits_test)
        >>> scores = trustworthiness_scores(x_digits_test, {"pca": codes})
        >>> list(scores), 0.5 < scores["pca"] <= 1
        (['pca'], True)
    """
    from sklearn.manifold import trustworthiness

    flat = check_array(x, "x").reshape(len(x), -1)
    scores = {}
    for name, codes in embeddings.items():
        if len(codes) != len(flat):
            raise InputValidationError(f"The {name} embedding has {len(codes)} rows, but x has {len(flat)}.")
        scores[name] = float(trustworthiness(flat, np.asarray(codes), n_neighbors=n_neighbors))
    return scores


def compare_embeddings(
    x_train: np.ndarray, x_test: np.ndarray, methods: Sequence[str] | None = None, epochs: int = 20,
    n_neighbors: int = 12, verbose: int = 0,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Fits every method on ``x_train`` and embeds ``x_test`` in 2-D; scores trustworthiness.

    Args:
        x_train: Training images.
        x_test: Images to show (keep it to a few thousand: trustworthiness is O(n^2)).
        methods: Subset of :data:`METHODS` (default: all of them).
        epochs: Training epochs of the neural methods.
        n_neighbors: Trustworthiness neighbourhood size.
        verbose: Keras verbosity.

    Returns:
        ``(codes, scores)``: method -> ``(n, 2)`` codes, method -> trustworthiness.

    Example:
        >>> codes, scores = compare_embeddings(x_digits, x_digits_test, methods=("pca",))
        >>> codes["pca"].shape, list(scores)
        ((64, 2), ['pca'])

        All methods on MNIST, plotted (trains an auto-encoder and a VAE: minutes):

        ```python
        from keras_ae.plotting import save_code_scatter
        codes, scores = compare_embeddings(x_train, x_test[:2000])
        save_code_scatter(codes, y_test[:2000], "codes.png", scores=scores)
        ```
    """
    methods = tuple(methods) if methods is not None else METHODS
    codes = {}
    for method in methods:
        with seeded(0):  # every method starts from the same seed; the caller's seeds are restored
            codes[method] = fit_embedding(method, x_train, epochs=epochs, verbose=verbose)(x_test)
    return codes, trustworthiness_scores(x_test, codes, n_neighbors)
