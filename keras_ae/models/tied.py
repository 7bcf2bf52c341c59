"""Tied-weight auto-encoders: every decoder kernel is the transpose of an encoder kernel.

One shared variable per encoder/decoder pair halves the weights and acts as a
regularizer (the classic RBM-style auto-encoder; for a linear model it ties the
solution to an orthogonal projection).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from keras_ae.layers.dense_transpose import DenseTranspose
from keras_ae.models.base import AutoEncoder
from keras_ae.errors import InputValidationError
from keras_ae.models.common import check_nonnegative_float, check_parameter_budget, output_activation_for
from keras_ae.models.dense import check_dense_arguments, dense_ae_parameter_count, get_dense_encoder
from keras_ae.registry import register_builder, register_family


def get_tied_decoder(encoder: keras.Model, activation: str = "relu", output_activation: str = "sigmoid",
                     name: str = "decoder") -> keras.Model:
    """A decoder that reuses the transposed kernels of ``encoder``'s Dense layers.

    Args:
        encoder: A dense encoder (e.g. from ``get_dense_encoder``).
        activation: Activation of the decoder's hidden layers.
        output_activation: Activation of the reconstruction.
        name: Model name.

    Returns:
        A functional ``keras.Model`` whose only own weights are biases.

    Example:
        >>> enc = get_dense_encoder(784, hidden=(64,), code_dim=8)
        >>> len(get_tied_decoder(enc).trainable_weights)  # two biases
        2
    """
    denses = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Dense)]
    if not denses:
        raise InputValidationError("The encoder has no Dense layers to tie the decoder to; pass a dense encoder "
                                   "(e.g. from get_dense_encoder).")
    inputs = keras.Input(shape=(denses[-1].units,), name="code")
    h = inputs
    for i, dense in enumerate(reversed(denses)):
        last = i == len(denses) - 1
        h = DenseTranspose(dense, activation=output_activation if last else activation, name=f"tied_{i}")(h)
    shape = tuple(encoder.input_shape[1:])
    if len(shape) > 1:
        h = keras.layers.Reshape(shape)(h)
    return keras.Model(inputs, h, name=name)


@register_family("tied")
class TiedAutoEncoder(AutoEncoder):
    """An :class:`AutoEncoder` whose decoder is rebuilt from the encoder's kernels.

    Args:
        encoder: A dense encoder.
        decoder_activation: Hidden activation of the decoder.
        output_activation: Output activation.
        **kwargs: Passed to :class:`AutoEncoder` (``loss``, ``corruption``, ...).

    Example:
        >>> model = build_tied_ae(784, hidden=(64,), code_dim=8)
        >>> type(model).__name__, model.decoder.count_params()  # the decoder's own weights: biases 64 + 784
        ('TiedAutoEncoder', 848)
    """

    def __init__(self, encoder: keras.Model, decoder_activation: str = "relu", output_activation: str = "sigmoid",
                 **kwargs):
        kwargs.pop("decoder", None)
        decoder = get_tied_decoder(encoder, decoder_activation, output_activation)
        super().__init__(encoder, decoder, **kwargs)
        self.decoder_activation = decoder_activation
        self.output_activation = output_activation

    def get_config(self) -> dict:
        config = super().get_config()
        # The decoder is rebuilt from the encoder's kernels: its key stays, holding None.
        config.update(decoder=None, decoder_activation=self.decoder_activation,
                      output_activation=self.output_activation)
        return config


@register_builder("tied")
def build_tied_ae(
    input_shape: int | Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (128, 64),
    code_dim: int = 32,
    activation: str = "relu",
    code_activation: str = "linear",
    loss: str = "bce",
    output_activation: str | None = None,
    name: str = "tied_ae",
    **kwargs,
) -> TiedAutoEncoder:
    """A dense auto-encoder with tied weights (decoder kernels = encoder kernels transposed).

    Args:
        input_shape: Shape of one example.
        hidden: Encoder hidden widths.
        code_dim: Code size.
        activation: Hidden activation (encoder and decoder).
        code_activation: Code activation.
        loss: ``"bce"`` or ``"mse"``.
        output_activation: Override the output activation implied by ``loss``.
        name: Model name.
        **kwargs: ``corruption``, ``sparsity_l1``.

    Returns:
        A :class:`TiedAutoEncoder`; it has one kernel variable per encoder/decoder pair.

    Raises:
        InputValidationError: for a malformed argument, or a model above
            :data:`~keras_ae.models.common.MAX_PARAMETERS` parameters (refused before building).

    Example:
        >>> model = build_tied_ae((8, 8, 1), hidden=(32,), code_dim=8)
        >>> count_kernels(model)  # 64->32 and 32->8, each shared with its transpose
        2
        >>> model.compile(optimizer="adam")
        >>> history = model.fit(x_digits, epochs=2, batch_size=64, verbose=0)
        >>> model.reconstruct(x_digits_test).shape
        (64, 8, 8, 1)
    """
    shape, hidden, code_dim = check_dense_arguments(input_shape, hidden, code_dim)
    if "sparsity_l1" in kwargs:
        kwargs["sparsity_l1"] = check_nonnegative_float(kwargs["sparsity_l1"], "sparsity_l1")
    # The decoder shares the encoder's kernels: its own weights are only biases.
    biases = sum(hidden) + int(np.prod(shape))
    check_parameter_budget(dense_ae_parameter_count(shape, hidden, code_dim)[0] + biases, "tied auto-encoder")
    encoder = get_dense_encoder(shape, hidden, code_dim, activation, code_activation)
    return TiedAutoEncoder(
        encoder, decoder_activation=activation, output_activation=output_activation_for(loss, output_activation),
        loss=loss, name=name, **kwargs,
    )


def count_kernels(model: keras.Model) -> int:
    """Number of distinct kernel variables in a model (tied pairs count once).

    Args:
        model: A built Keras model (e.g. from :func:`build_tied_ae`).

    Returns:
        The number of distinct variables whose path holds ``"kernel"`` (an int); a tied
        encoder/decoder pair shares one variable and counts once.

    Example:
        >>> count_kernels(build_tied_ae(784, hidden=(64,), code_dim=8))
        2
    """
    return len({id(v) for v in model.weights if "kernel" in v.path})


__all__ = ["TiedAutoEncoder", "build_tied_ae", "count_kernels", "get_tied_decoder"]
