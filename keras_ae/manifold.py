"""Manifold tools: encoder Jacobians, tangent planes, contraction ratios (their plots:
:mod:`keras_ae.plotting.manifold`).

An encoder ``f`` that has learned a data manifold is sensitive only to moves along it:
the top right singular vectors of its Jacobian ``J = df/dx`` at ``x`` span the
manifold's tangent plane there (Rifai et al. 2011, "the manifold tangent classifier"),
and the ratio ``||f(x + d) - f(x)|| / ||d||`` for small random ``d`` measures how much
the code contracts the space around the data ("contraction curves").

Example:
    >>> model = build_contractive_ae((8, 8, 1), code_dim=8)
    >>> planes = tangent_plane(model, x_digits_test[:5], k=4)
    >>> planes.vectors.shape, planes.singular_values.shape
    ((5, 4, 8, 8, 1), (5, 4))
    >>> from keras_ae.plotting import save_tangent_planes
    >>> save_tangent_planes(x_digits_test[:5], planes, f"{str(tmp_dir)}/tangents.png").name
    'tangents.png'
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.jacobian import DEFAULT_MEMORY_LIMIT, JacobianPenalty, check_jacobian_memory, tape_jacobian
from keras_ae.validation import check_array, check_int


def encoder_of(model: keras.Model) -> keras.Model:
    """The encoder of an auto-encoder (``model.encoder``), or ``model`` itself.

    Args:
        model: An auto-encoder or an encoder.

    Returns:
        ``model.encoder`` if the model has one, else ``model``.

    Example:
        >>> model = build_dense_ae((8, 8, 1), code_dim=4)
        >>> encoder_of(model) is model.encoder, encoder_of(model.encoder) is model.encoder
        (True, True)
    """
    return getattr(model, "encoder", model)


def _inputs(model: keras.Model, x) -> tuple[keras.Model, np.ndarray]:
    encoder = encoder_of(model)
    validate = getattr(model, "validate_inputs", None)
    x = validate(x) if validate is not None else check_array(x, "x", expected_shape=encoder.input_shape[1:])
    return encoder, x


def _batches(n: int, batch_size: int, verbose: int, name: str):
    progbar = keras.utils.Progbar(n, verbose=verbose, unit_name=name)
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))
        progbar.update(min(n, start + batch_size))


def encoder_jacobian(model: keras.Model, x: np.ndarray, batch_size: int = 64,
                     memory_limit: int | None = DEFAULT_MEMORY_LIMIT, verbose: int = 0) -> np.ndarray:
    """The encoder's Jacobian ``df(x)/dx`` at every example.

    Args:
        model: An auto-encoder (its ``encoder`` is used) or an encoder.
        x: Examples ``(n, ...)``.
        batch_size: Examples per vectorized ``batch_jacobian`` call.
        memory_limit: Bytes the result may take (``None``: no limit).
        verbose: Show a progress bar.

    Returns:
        Float32 array ``(n, code_size, input_size)`` (inputs flattened).

    Raises:
        JacobianTooLargeError: if ``n x code x input`` floats exceed ``memory_limit``.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> jac = encoder_jacobian(model, x_digits_test[:10])
        >>> jac.shape  # (examples, code, 8 * 8 inputs)
        (10, 4, 64)
    """
    encoder, x = _inputs(model, x)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    code_size = int(np.prod(encoder.output_shape[1:]))
    input_size = int(np.prod(x.shape[1:]))
    check_jacobian_memory(len(x), code_size, input_size, memory_limit)
    compute = tf.function(lambda xb: tape_jacobian(encoder, xb), reduce_retracing=True)
    out = np.empty((len(x), code_size, input_size), np.float32)
    for part in _batches(len(x), batch_size, verbose, "examples"):
        out[part] = compute(tf.constant(x[part])).numpy()
    return out


def jacobian_norm(model: keras.Model, x: np.ndarray, method: str = "exact", n_projections: int = 64,
                  batch_size: int = 128, seed: int = 0, verbose: int = 0) -> np.ndarray:
    """Frobenius norm ``||df(x)/dx||_F`` of the encoder's Jacobian at every example.

    Uses the fast paths of :mod:`keras_ae.jacobian` (closed form / layer propagation for
    dense encoders), so it is cheap enough to evaluate on a whole test set.

    Args:
        model: An auto-encoder or an encoder.
        x: Examples ``(n, ...)``.
        method: ``"exact"`` (default; the closed form for one dense layer, which is exact),
            ``"auto"``, ``"closed_form"`` or ``"stochastic"``.
        n_projections: Projections per example for ``"stochastic"``.
        batch_size: Examples per batch (bounds the exact Jacobian's memory).
        seed: Seed for ``"stochastic"``.
        verbose: Show a progress bar.

    Returns:
        Float64 array ``(n,)``.

    Example:
        >>> model = build_contractive_ae((8, 8, 1), code_dim=8)
        >>> norms = jacobian_norm(model, x_digits_test)
        >>> norms.shape, bool((norms > 0).all())
        ((64,), True)
    """
    encoder, x = _inputs(model, x)
    penalty = JacobianPenalty(encoder, method, n_projections)
    if penalty.method == "exact" and penalty.chain is not None and len(penalty.chain.denses) == 1:
        # One dense layer: the closed form is exact and needs no (batch, code, input) tensor.
        penalty = JacobianPenalty(encoder, "closed_form")
    penalty.check_memory(min(check_int(batch_size, "batch_size", minimum=1), len(x)))
    generator = keras.random.SeedGenerator(seed)
    compute = tf.function(lambda xb: penalty.squared_norms(xb, seed=generator), reduce_retracing=True)
    parts = _batches(len(x), batch_size, verbose, "examples")
    sq = np.concatenate([compute(tf.constant(x[part])).numpy() for part in parts])
    return np.sqrt(np.maximum(sq.astype(np.float64), 0.0))


class TangentPlane(NamedTuple):
    """Top-``k`` right singular vectors of the encoder Jacobian at each example.

    Attributes:
        vectors: ``(n, k, *example_shape)`` unit tangent directions, as images.
        singular_values: ``(n, k)``, descending: how strongly the code follows each one.

    Example:
        >>> planes = TangentPlane(np.zeros((2, 3, 8, 8, 1), "float32"), np.ones((2, 3), "float32"))
        >>> planes.vectors.shape, planes.singular_values.shape
        ((2, 3, 8, 8, 1), (2, 3))
        >>> vectors, singular_values = planes  # a named tuple: it unpacks
    """

    vectors: np.ndarray
    singular_values: np.ndarray


def tangent_plane(model: keras.Model, x: np.ndarray, k: int = 5, batch_size: int = 64,
                  verbose: int = 0) -> TangentPlane:
    """The manifold's tangent plane at each example: the Jacobian's top-k right singular vectors.

    Args:
        model: An auto-encoder or an encoder.
        x: Examples ``(n, ...)``.
        k: Number of tangent directions (at most ``min(code_size, input_size)``).
        batch_size: Examples per Jacobian batch.
        verbose: Show a progress bar.

    Returns:
        A :class:`TangentPlane`. Each vector's sign is fixed so its largest entry is positive.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=8)
        >>> vectors, singular_values = tangent_plane(model, x_digits_test[:4], k=5)
        >>> vectors.shape, singular_values.shape
        ((4, 5, 8, 8, 1), (4, 5))
        >>> bool(np.all(np.diff(singular_values, axis=1) <= 0))  # largest first
        True
    """
    encoder, x = _inputs(model, x)
    k = check_int(k, "k", minimum=1)
    jac = encoder_jacobian(encoder, x, batch_size=batch_size, verbose=verbose).astype(np.float64)
    if k > min(jac.shape[1:]):
        raise InputValidationError(f"k={k} exceeds the Jacobian's rank bound min(code, input) = {min(jac.shape[1:])}.")
    _, s, vt = np.linalg.svd(jac, full_matrices=False)
    vt = vt[:, :k]
    rows = np.arange(len(vt))[:, None]
    signs = np.sign(vt[rows, np.arange(k)[None, :], np.argmax(np.abs(vt), axis=2)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, :, None]
    return TangentPlane(vt.reshape(len(x), k, *x.shape[1:]).astype(np.float32), s[:, :k].astype(np.float32))


def contraction_ratio(model: keras.Model, x: np.ndarray, radius: float | Sequence[float], n_directions: int = 8,
                      seed: int = 0, batch_size: int = 1024) -> float | np.ndarray:
    """Mean ``||f(x + d) - f(x)|| / ||d||`` over random directions ``d`` of length ``radius``.

    Rifai et al. (2011)'s contraction curve: below 1 the code contracts the input space
    around the data; a contractive encoder is flat at small radii (it ignores noise)
    while still separating distant points.

    Args:
        model: An auto-encoder or an encoder.
        x: Examples ``(n, ...)``.
        radius: One perturbation length, or several (a curve).
        n_directions: Random directions (uniform on the sphere) per example.
        seed: Seed of the directions.
        batch_size: Encoder batch size.

    Returns:
        A float for one radius, else an array, one ratio per radius.

    Example:
        >>> model = build_contractive_ae((8, 8, 1), code_dim=8)
        >>> contraction_ratio(model, x_digits_test, [0.1, 1.0, 5.0]).shape
        (3,)
        >>> isinstance(contraction_ratio(model, x_digits_test, 0.1), float)
        True
    """
    encoder, x = _inputs(model, x)
    radii = np.atleast_1d(np.asarray(radius, dtype=np.float64))
    if radii.ndim != 1 or not np.all(np.isfinite(radii)) or np.any(radii <= 0):
        raise InputValidationError(f"radius must be positive and finite, got {radius!r}.")
    n_directions = check_int(n_directions, "n_directions", minimum=1)
    rng = np.random.default_rng(seed)
    flat = x.reshape(len(x), -1)
    code = encoder.predict(x, batch_size=batch_size, verbose=0).reshape(len(x), -1).astype(np.float64)
    d = rng.standard_normal((n_directions, *flat.shape))
    d /= np.linalg.norm(d, axis=2, keepdims=True)
    ratios = []
    for r in radii:
        moved = (flat[None] + r * d).reshape(-1, *x.shape[1:]).astype(np.float32)
        moved_code = encoder.predict(moved, batch_size=batch_size, verbose=0).reshape(n_directions, len(x), -1)
        ratios.append(float(np.mean(np.linalg.norm(moved_code - code[None], axis=2)) / r))
    return ratios[0] if np.ndim(radius) == 0 else np.asarray(ratios)


def rank_correlation(codes: np.ndarray, coordinate: np.ndarray, n_angles: int = 180) -> float:
    """Best absolute Spearman correlation between a 1-D projection of the codes and a coordinate.

    A 2-D code recovers an intrinsic coordinate (e.g. the swiss roll's angle) if some
    direction in code space orders the points like the coordinate does; searching the
    direction makes the score independent of how the code is rotated.

    Args:
        codes: ``(n, d)`` codes (``d = 1`` or ``2``; for ``d > 2`` each axis is tried).
        coordinate: ``(n,)`` the true coordinate.
        n_angles: Directions tried (2-D codes).

    Returns:
        A value in [0, 1]; 1 means a monotone function of the coordinate.

    Example:
        >>> rank_correlation(np.c_[np.arange(5.0), np.zeros(5)], np.arange(5.0))
        1.0
    """
    from scipy.stats import spearmanr

    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    coordinate = np.asarray(coordinate, dtype=np.float64).ravel()
    if len(codes) != len(coordinate):
        raise InputValidationError(f"codes have {len(codes)} rows but the coordinate has {len(coordinate)}.")
    if codes.shape[1] == 2:
        angles = np.linspace(0.0, np.pi, n_angles, endpoint=False)
        projections = codes @ np.stack([np.cos(angles), np.sin(angles)])
    else:
        projections = codes
    best = 0.0
    for column in projections.T:
        rho = spearmanr(column, coordinate)[0]
        best = max(best, abs(float(rho)) if np.isfinite(rho) else 0.0)
    return round(best, 12)


def coordinate_recovery(codes: np.ndarray, coordinates: np.ndarray, n_neighbors: int = 10,
                        folds: int = 5) -> np.ndarray:
    """How well each intrinsic coordinate can be read off the codes: cross-validated k-NN R^2.

    Unlike :func:`rank_correlation` it does not need the coordinate to follow a straight
    direction in code space, only to vary smoothly over it.

    Args:
        codes: ``(n, d)`` codes.
        coordinates: ``(n,)`` or ``(n, m)`` true intrinsic coordinates.
        n_neighbors: Neighbours of the k-NN regressor.
        folds: Cross-validation folds.

    Returns:
        ``(m,)`` R^2 values (1 = recovered exactly, 0 = no better than the mean).

    Example:
        >>> coordinate_recovery(np.c_[np.arange(200.0), np.zeros(200)], np.arange(200.0)) > 0.99
        array([ True])
    """
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neighbors import KNeighborsRegressor

    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    coordinates = np.asarray(coordinates, dtype=np.float64).reshape(len(codes), -1)
    splits = KFold(folds, shuffle=True, random_state=0)
    return np.array([cross_val_score(KNeighborsRegressor(n_neighbors), codes, c, cv=splits, scoring="r2").mean()
                     for c in coordinates.T])


__all__ = [
    "TangentPlane", "contraction_ratio", "coordinate_recovery", "encoder_jacobian", "encoder_of", "jacobian_norm",
    "rank_correlation", "tangent_plane",
]
