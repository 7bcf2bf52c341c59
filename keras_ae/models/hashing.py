"""Semantic hashing auto-encoders (Salakhutdinov & Hinton 2009): a binary code layer.

The search side (packed codes, :class:`~keras_ae.applications.hashing.HammingIndex`,
baselines) lives in :mod:`keras_ae.applications.hashing`.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ae.data.corruption import Corruption
from keras_ae.export.endpoints import ExportOptions, data_name, image_endpoints
from keras_ae.layers.binary_code import BinaryCode
from keras_ae.models.base import AutoEncoder
from keras_ae.models.common import as_shape, as_units, output_activation_for
from keras_ae.models.conv import get_conv_decoder, get_conv_encoder
from keras_ae.models.dense import get_dense_decoder, get_dense_encoder
from keras_ae.registry import register_builder, register_family
from keras_ae.validation import check_choice, check_int


@register_family("hashing", serving_default="hash")
class SemanticHashingAE(AutoEncoder):
    """An auto-encoder with a binary code; ``hash(x)`` gives packed codes for search.

    Build it with :func:`build_hashing_ae`. Its ``encoder`` ends in a
    :class:`BinaryCode` layer, so ``encode(x)`` returns 0/1 codes.

    Example:
        >>> model = build_hashing_ae((8, 8, 1), n_bits=32, hidden=(16,))
        >>> model.compile()
        >>> history = model.fit(x_digits, epochs=1, verbose=0)  # on real data: tens of epochs
        >>> codes = model.hash(x_digits_test)
        >>> codes.shape, codes.dtype  # 32 bits = 4 bytes per example
        ((64, 4), dtype('uint8'))
    """

    @property
    def n_bits(self) -> int:
        """Code length in bits."""
        return int(self.code_shape[-1])

    def hash(self, x, batch_size: int = 256) -> np.ndarray:
        """Packed binary codes of ``x``: ``uint8`` ``(n, ceil(n_bits / 8))``.

        Example:
            >>> build_hashing_ae((8, 8, 1), n_bits=12, hidden=(16,)).hash(x_digits[:2]).shape
            (2, 2)
        """
        return np.packbits(self.encode(x, batch_size=batch_size) > 0.5, axis=1)

    def hash_tensor(self, x):
        """Graph-friendly ``hash``: packed ``uint8`` codes of a batch tensor (for serving).

        Example:
            >>> model = build_hashing_ae((8, 8, 1), n_bits=12, hidden=(16,))
            >>> serve = tf.function(model.hash_tensor)
            >>> serve(tf.constant(x_digits[:3])).dtype, serve(tf.constant(x_digits[:3])).shape
            (tf.uint8, TensorShape([3, 2]))
        """
        bits = ops.cast(self.encoder(x, training=False), "int32")
        pad = -self.n_bits % 8
        if pad:
            bits = ops.pad(bits, [[0, 0], [0, pad]])
        bits = ops.reshape(bits, (-1, (self.n_bits + pad) // 8, 8))
        weights = ops.convert_to_tensor(np.array([128, 64, 32, 16, 8, 4, 2, 1], dtype=np.int32))
        return ops.cast(ops.sum(bits * weights, axis=-1), "uint8")

    # -- serving: the export signatures of the family ----------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``hash`` (images -> packed ``hash`` bytes, the ``np.packbits`` layout of
        :meth:`hash`, and the 0/1 ``bits``), its uint8 twin, and every auto-encoder signature.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> model = build_hashing_ae((8, 8, 1), n_bits=12, hidden=(16,))
            >>> [e.name for e in model.serving_endpoints(ExportOptions())][:2]
            ['hash', 'hash_uint8']
        """
        x = data_name(self.example_shape)

        def hash_(**inputs):
            return {"hash": self.hash_tensor(inputs[x]),
                    "bits": tf.cast(self.encoder(inputs[x], training=False) > 0.5, tf.uint8)}

        functions = [("hash", hash_, [], f"{x} -> hash (packed uint8 bytes), bits (uint8 0/1)")]
        return [*image_endpoints(x, self.example_shape, self.input_range, options, functions),
                *super().serving_endpoints(options)]

    def serving_metadata(self) -> dict:
        """The auto-encoder facts plus the code length and hash size."""
        return {**super().serving_metadata(), "n_bits": self.n_bits, "hash_bytes": -(-self.n_bits // 8)}


@register_builder("hashing")
def build_hashing_ae(
    input_shape: int | Sequence[int] = (28, 28, 1),
    n_bits: int = 32,
    hidden: Sequence[int] = (512, 256),
    architecture: str = "dense",
    filters: Sequence[int] = (32, 64),
    binarization: str = "noise",
    noise_std: float = 4.0,
    activation: str = "relu",
    loss: str = "bce",
    corruption: Corruption | None = None,
    seed: int | None = None,
    name: str = "hashing_ae",
) -> SemanticHashingAE:
    """A semantic-hashing auto-encoder (dense 784-512-256-32 bits by default, or convolutional).

    Args:
        input_shape: Shape of one example.
        n_bits: Code length.
        hidden: Dense encoder hidden widths; the decoder mirrors them.
        architecture: ``"dense"`` or ``"conv"`` (stride-2 convolutions ``filters``, then the bits).
        filters: Convolution channels (``"conv"``).
        binarization: ``"noise"`` or ``"straight_through"`` (see :class:`BinaryCode`).
        noise_std: Training noise on the code logits (``"noise"`` only).
        activation: Hidden activation.
        loss: ``"bce"`` (sigmoid output, [0, 1] data) or ``"mse"``.
        corruption: Optional training-time input corruption (a denoising hashing model).
        seed: Seed of the code noise.
        name: Model name.

    Returns:
        A :class:`SemanticHashingAE`.

    Example:
        >>> model = build_hashing_ae((8, 8, 1), n_bits=16, hidden=(64,))
        >>> model.encoder.output_shape
        (None, 16)
    """
    check_choice(architecture, "architecture", ("dense", "conv"))
    shape = as_shape(input_shape)
    n_bits = check_int(n_bits, "n_bits", minimum=1)
    out_act = output_activation_for(loss, None)
    if architecture == "dense":
        hidden = as_units(hidden, "hidden")
        logits = get_dense_encoder(shape, hidden, n_bits, activation, "linear")
        decoder = get_dense_decoder(n_bits, tuple(reversed(hidden)), shape, activation, out_act)
    else:
        logits = get_conv_encoder(shape, filters, n_bits, activation=activation)
        decoder = get_conv_decoder(shape, tuple(reversed(as_units(filters, "filters"))), n_bits, activation=activation,
                                   output_activation=out_act)
    bits = BinaryCode(binarization, noise_std, seed=seed, name="binary_code")(logits.output)
    encoder = keras.Model(logits.input, bits, name="encoder")
    return SemanticHashingAE(encoder, decoder, loss=loss, corruption=corruption, name=name)
