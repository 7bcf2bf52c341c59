"""PCA as a linear auto-encoder.

For a linear encoder ``f(x) = W^T (x - mu)`` and decoder ``g(h) = W h + mu`` the
squared reconstruction error is minimised by the orthonormal top-M eigenvectors of the
data covariance, and the minimum mean squared error per example is the sum of the
discarded eigenvalues. :func:`fit_pca` writes that optimum into a Keras auto-encoder;
:func:`build_linear_ae` is the same architecture trained by gradient descent, which
reaches the same error and subspace (though not, in general, the same basis).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.models.base import AutoEncoder
from keras_ae.models.common import as_shape
from keras_ae.models.dense import get_dense_decoder, get_dense_encoder
from keras_ae.validation import check_array, check_int


def _linear_ae(shape: tuple[int, ...], code_dim: int, name: str) -> AutoEncoder:
    encoder = get_dense_encoder(shape, hidden=(), code_dim=code_dim, code_activation="linear")
    decoder = get_dense_decoder(code_dim, hidden=(), output_shape=shape, output_activation="linear")
    return AutoEncoder(encoder, decoder, loss="mse", name=name)


def fit_pca(x: np.ndarray, code_dim: int) -> AutoEncoder:
    """PCA with ``code_dim`` components, as a ready-made linear auto-encoder.

    Args:
        x: Training data ``(n, ...)``; images are flattened internally.
        code_dim: Number of principal components M.

    Returns:
        An :class:`AutoEncoder` (loss ``"mse"``) whose ``info`` holds ``eigenvalues``
        (all, descending, covariance normalised by n), ``explained_variance`` (top M),
        ``explained_variance_ratio`` and ``discarded_variance`` (the expected squared
        error per example).

    Example:
        >>> pca = fit_pca(x_digits, 10)
        >>> pca.encode(x_digits_test).shape
        (64, 10)
        >>> ratio = pca.info["explained_variance_ratio"]
        >>> ratio == sorted(ratio, reverse=True), 0 < sum(ratio) < 1
        (True, True)
    """
    x = check_array(x, "x")
    if len(x) < 2:
        raise InputValidationError(f"PCA needs at least two examples, got {len(x)}; pass more rows of `x`.")
    shape = x.shape[1:]
    flat = x.reshape(len(x), -1).astype(np.float64)
    dim = flat.shape[1]
    code_dim = check_int(code_dim, "code_dim", minimum=1)
    if code_dim > dim:
        raise InputValidationError(f"code_dim={code_dim} exceeds the data dimension {dim}; pass code_dim <= {dim}.")
    mean = flat.mean(axis=0)
    centred = flat - mean
    cov = centred.T @ centred / len(flat)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues = np.clip(eigenvalues[order], 0.0, None)
    w = eigenvectors[:, order[:code_dim]]
    # Deterministic signs (largest-magnitude entry positive), as scikit-learn does.
    w *= np.sign(w[np.argmax(np.abs(w), axis=0), np.arange(code_dim)])

    model = _linear_ae(shape, code_dim, name=f"pca_{code_dim}")
    model.encoder.get_layer("code").set_weights([w.astype(np.float32), (-(mean @ w)).astype(np.float32)])
    model.decoder.get_layer("output").set_weights([w.T.astype(np.float32), mean.astype(np.float32)])
    total = float(eigenvalues.sum())
    model.info.update({
        "method": "pca",
        "eigenvalues": eigenvalues.tolist(),
        "explained_variance": eigenvalues[:code_dim].tolist(),
        "explained_variance_ratio": (eigenvalues[:code_dim] / total).tolist() if total > 0 else [0.0] * code_dim,
        "discarded_variance": float(eigenvalues[code_dim:].sum()),
    })
    return model


def build_linear_ae(input_dim: int | Sequence[int], code_dim: int, name: str = "linear_ae") -> AutoEncoder:
    """A linear auto-encoder (linear code and output, squared error) to train with ``fit``.

    Args:
        input_dim: Data dimension (or per-example shape).
        code_dim: Code size M.
        name: Model name.

    Returns:
        An :class:`AutoEncoder`; trained to convergence it spans PCA's principal subspace.

    Example:
        >>> model = build_linear_ae((8, 8, 1), 10)
        >>> model.compile(optimizer="adam")
        >>> model.encoder.output_shape
        (None, 10)

        Trained long enough it matches :func:`fit_pca`'s squared error:

        ```python
        model.fit(x_train, epochs=100)
        ```
    """
    return _linear_ae(as_shape(input_dim, "input_dim"), check_int(code_dim, "code_dim", minimum=1), name)
