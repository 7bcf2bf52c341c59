"""Sparse auto-encoders: an L1 penalty on the code, or k-sparse codes.

``l1`` adds ``l1 * mean_i sum_j |h_ij|`` to the loss (reported as ``sparsity``) with
ReLU code units, so that most units are exactly zero. ``k`` keeps only the ``k``
largest (linear) code units of each example (Makhzani & Frey 2014): exactly ``k``
nonzeros per code, by construction.
"""

from __future__ import annotations

from typing import Sequence

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
        loss: ``"bce"`` or ``"mse"``.
        name: Model name.
        **kwargs: Passed to ``build_dense_ae`` (``activation``, ``corruption``, ...).

    Returns:
        An :class:`AutoEncoder` whose history reports ``sparsity`` when ``l1 > 0``.

    Raises:
        InputValidationError: if ``l1`` is not a finite number >= 0, or ``k`` is not an
            int in ``[1, code_dim]``.

    Example:
        >>> model = build_sparse_ae((8, 8, 1), hidden=(32,), code_dim=16, k=4, l1=0.0)
        >>> (model.encode(x_digits[:3]) != 0).sum(axis=1)  # exactly k nonzero code units
        array([4, 4, 4])
        >>> model = build_sparse_ae((8, 8, 1), hidden=(32,), code_dim=16, l1=1e-3)
        >>> model.compile(optimizer="adam")
        >>> sorted(model.fit(x_digits, epochs=1, batch_size=64, verbose=0).history)
        ['loss', 'reconstruction', 'sparsity']
    """
    # Checked here, not only in build_dense_ae: the error must name `l1`, not `sparsity_l1`,
    # and `k` decides the code activation below.
    l1 = check_nonnegative_float(l1, "l1")
    k = check_k(k, check_int(code_dim, "code_dim", minimum=1))
    code_activation = kwargs.pop("code_activation", "linear" if k is not None else "relu")
    return build_dense_ae(
        input_shape, hidden=hidden, code_dim=code_dim, code_activation=code_activation,
        loss=loss, sparsity_l1=l1, k=k, name=name, **kwargs,
    )
