"""Dense (fully connected) auto-encoders: the Keras tutorial's deep auto-encoder.

Default: 784-128-64-32-64-128-784 with ReLU hidden units, a linear 32-unit code
(Hinton & Salakhutdinov 2006 use linear code units) and a sigmoid output trained with
cross-entropy. Images keep their shape: the encoder flattens, the decoder reshapes back.

Numeric tables (``load_dataset("csv:PATH")``) train with ``standardize=x_train``: the encoder
starts with a ``keras.layers.Normalization`` adapted on the raw training rows and the decoder
ends with its inverse, so the model, its ``.keras`` file and its exports take and return raw
rows while the loss compares standardized values.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np

from keras_ae.data.corruption import Corruption
from keras_ae.data.tables import column_statistics
from keras_ae.errors import InputValidationError
from keras_ae.layers.k_sparse import KSparse
from keras_ae.models.base import AutoEncoder
from keras_ae.models.reconstruction import STANDARDIZE, UNSTANDARDIZE
from keras_ae.models.common import (as_shape, as_units, check_int, check_nonnegative_float, check_parameter_budget,
                                    dense_parameter_count, output_activation_for)
from keras_ae.registry import register_builder
from keras_ae.validation import check_array, short_repr


def check_k(k: int | None, code_dim: int) -> int | None:
    """Validates a k-sparse ``k``: ``None`` (no k-sparsity) or an int in ``[1, code_dim]``.

    Args:
        k: The number of code units to keep per example, or ``None``.
        code_dim: Size of the code (the largest acceptable ``k``).

    Returns:
        ``k`` as an int, or ``None``.

    Raises:
        InputValidationError: If ``k`` is not an int in ``[1, code_dim]``.

    Example:
        >>> check_k(5, 32)
        5
    """
    if k is None:
        return None
    k = check_int(k, "k", minimum=1)
    if k > code_dim:
        raise InputValidationError(
            f"`k` must be an integer in [1, code_dim={code_dim}] (a k-sparse code keeps k of its code_dim units), "
            f"got {k}; choose k <= code_dim.")
    return k


def check_dense_arguments(input_shape: int | Sequence[int], hidden: Sequence[int],
                          code_dim: int) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """The example shape, hidden widths and code size of a dense auto-encoder builder, checked in that order.

    Args:
        input_shape: Shape of one example (an int or a sequence of ints).
        hidden: Widths of the hidden layers (may be empty).
        code_dim: Size of the code.

    Returns:
        ``(input_shape, hidden, code_dim)`` normalized: two tuples of ints and an int.

    Raises:
        InputValidationError: For the first invalid argument.

    Example:
        >>> check_dense_arguments(784, [64], 8)
        ((784,), (64,), 8)
    """
    return as_shape(input_shape), as_units(hidden, "hidden"), check_int(code_dim, "code_dim", minimum=1)


def check_standardize(rows: Any, input_shape: Sequence[int]) -> np.ndarray:
    """The raw training rows a ``standardize=`` argument gives, checked: float32 ``(n, columns)``.

    Args:
        rows: Raw training rows ``(n, *input_shape)`` (an array or nested lists); ``input_shape`` must be
            ``(columns,)``.
        input_shape: The model's example shape.

    Returns:
        The rows as float32.

    Raises:
        InputValidationError: for image shapes, a wrong shape, NaN or infinite values, or
            constant columns (standardizing would divide by zero), naming the columns.

    Example:
        >>> check_standardize([[1, 10], [3, 50]], (2,)).dtype
        dtype('float32')
    """
    shape = tuple(input_shape)
    if len(shape) != 1:
        raise InputValidationError(
            f"standardize= standardizes the columns of table rows, so input_shape must be (columns,), got {shape}; "
            "scale images to [0, 1] instead.")
    rows = check_array(rows, "standardize", expected_shape=shape)
    column_statistics(rows, source="standardize (the training rows)")
    return rows


def standardization_layer(rows: Any, invert: bool = False) -> keras.layers.Normalization:
    """A ``keras.layers.Normalization`` adapted on raw training rows (mean and variance per column).

    Args:
        rows: Raw rows ``(n, columns)`` (an array or nested lists, checked with ``check_array``).
        invert: ``False``: the encoder's first layer ``"standardize"``, ``(x - mean) / std``;
            ``True``: the decoder's last layer ``"unstandardize"``, ``mean + x * std``.

    Returns:
        The built, adapted layer (its statistics are non-trainable weights saved with the model).

    Example:
        >>> layer = standardization_layer(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> layer.name, layer(np.array([[2.0, 10.0]])).numpy().tolist()
        ('standardize', [[1.0, -1.0]])
    """
    rows = check_array(rows, "standardize", expected_shape=(None,))
    layer = keras.layers.Normalization(axis=-1, invert=invert, name=UNSTANDARDIZE if invert else STANDARDIZE)
    layer.build((None, rows.shape[1]))  # before adapt, so the saved build config has no row count
    layer.adapt(rows)
    return layer


def dense_ae_parameter_count(input_shape: Sequence[int], hidden: Sequence[int], code_dim: int) -> tuple[int, int]:
    """Parameters of the dense encoder and of its mirrored decoder, computed without building them.

    Args:
        input_shape: Shape of one example (flattened to ``prod(input_shape)`` inputs).
        hidden: Widths of the encoder's hidden layers (the decoder mirrors them).
        code_dim: Size of the code.

    Returns:
        ``(encoder_parameters, decoder_parameters)``.

    Example:
        >>> dense_ae_parameter_count((8, 8, 1), (32,), 4)  # (64*32+32 + 32*4+4, 4*32+32 + 32*64+64)
        (2212, 2272)
    """
    sizes = [int(np.prod(input_shape)), *hidden, code_dim]
    return dense_parameter_count(sizes), dense_parameter_count(sizes[::-1])


def get_dense_encoder(
    input_shape: int | Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (128, 64),
    code_dim: int = 32,
    activation: str = "relu",
    code_activation: str = "linear",
    k: int | None = None,
    name: str = "encoder",
    standardize: np.ndarray | None = None,
) -> keras.Model:
    """A dense encoder ``x -> h`` (flattens image inputs).

    Args:
        input_shape: Shape of one example.
        hidden: Widths of the hidden layers.
        code_dim: Size of the code.
        activation: Hidden activation.
        code_activation: Activation of the code layer.
        k: If set, keep only the k largest code units per example (k-sparse).
        name: Model name.
        standardize: Raw training rows ``(n, columns)``: the encoder starts with a
            ``"standardize"`` layer adapted on them (``input_shape`` must be ``(columns,)``).

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> get_dense_encoder((8, 8, 1), hidden=(32,), code_dim=4).output_shape
        (None, 4)
    """
    shape = as_shape(input_shape)
    code_dim = check_int(code_dim, "code_dim", minimum=1)
    hidden = as_units(hidden, "hidden")
    k = check_k(k, code_dim)
    check_parameter_budget(dense_ae_parameter_count(shape, hidden, code_dim)[0], "dense encoder")
    inputs = keras.Input(shape=shape, name="inputs")
    h = keras.layers.Flatten()(inputs) if len(shape) > 1 else inputs
    if standardize is not None:
        h = standardization_layer(check_standardize(standardize, shape))(h)
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation=activation, name=f"dense_{i}")(h)
    h = keras.layers.Dense(code_dim, activation=code_activation, name="code")(h)
    if k is not None:
        h = KSparse(k, name="k_sparse")(h)
    return keras.Model(inputs, h, name=name)


def get_dense_decoder(
    code_dim: int = 32,
    hidden: Sequence[int] = (64, 128),
    output_shape: int | Sequence[int] = (28, 28, 1),
    activation: str = "relu",
    output_activation: str = "sigmoid",
    name: str = "decoder",
    standardize: np.ndarray | None = None,
) -> keras.Model:
    """A dense decoder ``h -> x`` (reshapes to image outputs).

    Args:
        code_dim: Size of the code.
        hidden: Widths of the hidden layers, code side first.
        output_shape: Shape of one reconstructed example.
        activation: Hidden activation.
        output_activation: ``"sigmoid"`` for [0, 1] data, ``"linear"`` for real data.
        name: Model name.
        standardize: Raw training rows ``(n, columns)``: the decoder ends with an
            ``"unstandardize"`` layer (``Normalization(invert=True)`` adapted on them), so its
            outputs are in raw units.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> get_dense_decoder(4, hidden=(32,), output_shape=(8, 8, 1)).output_shape
        (None, 8, 8, 1)
    """
    shape = as_shape(output_shape, "output_shape")
    code_dim = check_int(code_dim, "code_dim", minimum=1)
    hidden = as_units(hidden, "hidden")
    # The count of the mirrored encoder read backwards is this decoder's count.
    check_parameter_budget(dense_ae_parameter_count(shape, hidden[::-1], code_dim)[1], "dense decoder")
    inputs = keras.Input(shape=(code_dim,), name="code")
    h = inputs
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(units, activation=activation, name=f"dense_{i}")(h)
    h = keras.layers.Dense(int(np.prod(shape)), activation=output_activation, name="output")(h)
    if len(shape) > 1:
        h = keras.layers.Reshape(shape)(h)
    if standardize is not None:
        h = standardization_layer(check_standardize(standardize, shape), invert=True)(h)
    return keras.Model(inputs, h, name=name)


@register_builder("dense")
def build_dense_ae(
    input_shape: int | Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (128, 64),
    code_dim: int = 32,
    activation: str = "relu",
    code_activation: str = "linear",
    loss: str = "bce",
    output_activation: str | None = None,
    corruption: Corruption | None = None,
    sparsity_l1: float = 0.0,
    k: int | None = None,
    name: str = "dense_ae",
    standardize: np.ndarray | None = None,
) -> AutoEncoder:
    """The deep dense auto-encoder (784-128-64-32-64-128-784 by default).

    Args:
        input_shape: Shape of one example, e.g. ``(28, 28, 1)`` or ``784``.
        hidden: Encoder hidden widths; the decoder mirrors them.
        code_dim: Size of the code.
        activation: Hidden activation.
        code_activation: Code activation (linear by default).
        loss: ``"bce"`` (sigmoid output, [0, 1] data) or ``"mse"`` (linear output).
        output_activation: Override the output activation implied by ``loss``.
        corruption: Training-time corruption layer (see ``build_denoising_ae``).
        sparsity_l1: L1 penalty weight on the code (see ``build_sparse_ae``).
        k: Keep the k largest code units (k-sparse).
        name: Model name.
        standardize: Raw training rows ``(n, columns)`` of a table (``None``: no
            standardization). The encoder starts with a ``keras.layers.Normalization``
            adapted on them and the decoder ends with its inverse, so ``fit``, ``predict``,
            ``.keras`` files and exports take raw rows and reconstruct in raw units, while
            the loss is the squared error of standardized values (every column counts
            equally; 1.0 is the error of predicting the column means). Needs
            ``loss="mse"``, a ``(columns,)`` ``input_shape``, finite rows and no constant column.

    Returns:
        An :class:`AutoEncoder` with ``.encoder`` and ``.decoder``.

    Raises:
        InputValidationError: for a malformed argument, or a model above
            :data:`~keras_ae.models.common.MAX_PARAMETERS` parameters (refused before building).

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)
        >>> model.compile(optimizer="adam")
        >>> history = model.fit(x_digits, epochs=2, batch_size=64, verbose=0)
        >>> sorted(history.history)
        ['loss', 'reconstruction']
        >>> model.reconstruct(x_digits_test).shape
        (64, 8, 8, 1)

        A table in raw units (columns of very different scales):

        >>> rows = np.random.default_rng(0).normal([0.0, 100.0, 1e4], [1.0, 10.0, 1e3], (256, 3))
        >>> model = build_dense_ae((3,), hidden=(8,), code_dim=2, loss="mse", standardize=rows)
        >>> model.compile(optimizer="adam")
        >>> history = model.fit(rows, epochs=1, verbose=0)
        >>> model.reconstruct(rows[:2]).shape, [layer.name for layer in model.encoder.layers][:2]
        ((2, 3), ['inputs', 'standardize'])

        The Keras tutorial's model on MNIST (minutes of training, so not run here):

        ```python
        (x_train, _), (x_test, _) = keras_ae.load_dataset("mnist")
        model = build_dense_ae((28, 28, 1))  # 784-128-64-32-64-128-784
        model.compile(optimizer="adam")
        model.fit(x_train, epochs=5, batch_size=256, validation_data=(x_test, x_test))
        ```
    """
    # Check everything before building anything: a refused decoder must not follow
    # a minute spent allocating the encoder.
    shape, hidden, code_dim = check_dense_arguments(input_shape, hidden, code_dim)
    k = check_k(k, code_dim)
    sparsity_l1 = check_nonnegative_float(sparsity_l1, "sparsity_l1")
    check_parameter_budget(sum(dense_ae_parameter_count(shape, hidden, code_dim)), "dense auto-encoder")
    out_act = output_activation_for(loss, output_activation)
    if standardize is not None:
        if loss != "mse":
            raise InputValidationError(
                f"standardize= trains on the squared error of standardized rows: pass loss='mse', got loss="
                f"{short_repr(loss)}.")
        standardize = check_standardize(standardize, shape)
    encoder = get_dense_encoder(shape, hidden, code_dim, activation, code_activation, k=k, standardize=standardize)
    decoder = get_dense_decoder(code_dim, hidden[::-1], shape, activation, out_act, standardize=standardize)
    return AutoEncoder(encoder, decoder, loss=loss, corruption=corruption, sparsity_l1=sparsity_l1, name=name)
