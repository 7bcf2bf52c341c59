"""Sparse auto-encoders: an L1 penalty on the code, or k-sparse codes.

``l1`` adds ``l1 * mean_i sum_j |h_ij|`` to the loss (reported as ``sparsity``) with
ReLU code units, so that most units are exactly zero. ``k`` keeps only the ``k``
largest (linear) code units of each example (Makhzani & Frey 2014): exactly ``k``
nonzeros per code, by construction; with ``alpha`` the codes outside training keep
``alpha * k`` units (the paper's test-time encoding), and :func:`encode_k_sparse` encodes
any k-sparse model with another ``alpha`` without changing it. The paper's ``k`` schedule
is :class:`keras_ae.training.callbacks.k_schedule.KSchedule`.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.layers.k_sparse import KSparse, check_alpha
from keras_ae.models.base import AutoEncoder
from keras_ae.models.common import check_int, check_nonnegative_float
from keras_ae.models.dense import build_dense_ae, check_k
from keras_ae.registry import register_builder


@register_builder("sparse")
def build_sparse_ae(
    input_shape: int | Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (128,),
    code_dim: int = 64,
    l1: float = 1e-3,
    k: int | None = None,
    alpha: float = 1.0,
    loss: str = "bce",
    name: str = "sparse_ae",
    **kwargs,
) -> AutoEncoder:
    """A dense auto-encoder with a sparse code.

    Args:
        input_shape: Shape of one example.
        hidden: Encoder hidden widths.
        code_dim: Code size (sparse codes are often overcomplete).
        l1: L1 penalty weight on the code, 0 for none (e.g. with a k-sparse code; with
            ``k`` and ``l1 > 0`` both apply).
        k: If set, a k-sparse code with exactly ``k`` nonzero units per example.
        alpha: k-sparse only: outside training (``encode``, ``predict``, ``evaluate``) keep
            ``min(round(alpha * k), code_dim)`` units (Makhzani & Frey use about 3 for
            classification features); ``1.0`` (default) keeps ``k`` everywhere.
        loss: ``"bce"`` or ``"mse"``.
        name: Model name.
        **kwargs: Passed to ``build_dense_ae`` (``activation``, ``corruption``, ...).

    Returns:
        An :class:`AutoEncoder` whose history reports ``sparsity`` when ``l1 > 0``.

    Raises:
        InputValidationError: if ``l1`` is not a finite number >= 0, ``k`` is not an
            int in ``[1, code_dim]``, or ``alpha`` is not >= 1 (or is set without ``k``).

    Example:
        >>> model = build_sparse_ae((8, 8, 1), hidden=(32,), code_dim=16, k=4, l1=0.0)
        >>> (model.encode(x_digits[:3]) != 0).sum(axis=1)  # exactly k nonzero code units
        array([4, 4, 4])
        >>> model = build_sparse_ae((8, 8, 1), hidden=(32,), code_dim=16, l1=1e-3)
        >>> model.compile(optimizer="adam")
        >>> sorted(model.fit(x_digits, epochs=1, batch_size=64, verbose=0).history)
        ['loss', 'reconstruction', 'sparsity']
        >>> model = build_sparse_ae((8, 8, 1), hidden=(32,), code_dim=16, k=2, alpha=3.0, l1=0.0)
        >>> (model.encode(x_digits[:3]) != 0).sum(axis=1)  # alpha * k at test time
        array([6, 6, 6])
    """
    # Checked here, not only in build_dense_ae: the error must name `l1`, not `sparsity_l1`,
    # and `k` decides the code activation below.
    l1 = check_nonnegative_float(l1, "l1")
    k = check_k(k, check_int(code_dim, "code_dim", minimum=1))
    alpha = check_alpha(alpha)
    if alpha != 1.0 and k is None:
        raise InputValidationError(f"`alpha` ({alpha}) multiplies a k-sparse code's k; pass `k` too.")
    code_activation = kwargs.pop("code_activation", "linear" if k is not None else "relu")
    model = build_dense_ae(
        input_shape, hidden=hidden, code_dim=code_dim, code_activation=code_activation,
        loss=loss, sparsity_l1=l1, k=k, name=name, **kwargs,
    )
    if k is not None:
        # Set before anything is traced; get_config carries it into .keras files.
        k_sparse_layer(model).alpha = alpha
    return model


def k_sparse_layer(model: keras.Model) -> KSparse:
    """The :class:`~keras_ae.layers.KSparse` layer of a k-sparse model (searched through sub-models).

    Args:
        model: A k-sparse model (``build_sparse_ae(..., k=...)``).

    Returns:
        Its only ``KSparse`` layer (the model's own layer object, not a copy).

    Raises:
        InputValidationError: the model has no (or more than one) KSparse layer.

    Example:
        >>> k_sparse_layer(build_sparse_ae((8, 8, 1), hidden=(16,), code_dim=8, k=2)).k
        2
    """
    found = [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, KSparse)]
    if len(found) != 1:
        raise InputValidationError(f"Expected one KSparse layer in {model.name!r}, found {len(found)}; "
                                   "build the model with build_sparse_ae(..., k=...).")
    return found[0]


def encode_k_sparse(model: keras.Model, x: np.ndarray, alpha: float | None = None, batch_size: int = 256) -> np.ndarray:
    """Codes of a k-sparse model keeping ``alpha * k`` units, without changing the model.

    Args:
        model: A k-sparse :class:`AutoEncoder` (``build_sparse_ae(..., k=...)``).
        x: Examples.
        alpha: Test-time multiplier of ``k`` (``None``: the model's own ``alpha``).
        batch_size: Examples per forward pass.

    Returns:
        Float32 codes with ``min(round(alpha * k), code_dim)`` nonzeros per row (fewer only
        where pre-activations are exactly 0).

    Example:
        >>> model = build_sparse_ae((8, 8, 1), hidden=(16,), code_dim=32, k=4, l1=0.0)
        >>> (encode_k_sparse(model, x_digits[:2], alpha=2.5) != 0).sum(axis=1)
        array([10, 10])
    """
    layer = k_sparse_layer(model)
    alpha = layer.alpha if alpha is None else check_alpha(alpha)
    # The code layer's output is the k-sparse layer's input: re-select its top units.
    dense_codes = keras.Model(model.encoder.inputs, layer.input).predict(model.validate_inputs(x),
                                                                         batch_size=batch_size, verbose=0)
    return keras.ops.convert_to_numpy(KSparse(layer.k, alpha=alpha)(dense_codes, training=False))
