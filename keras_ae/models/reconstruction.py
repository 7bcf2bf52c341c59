"""What every auto-encoder's loss is made of: the reconstruction losses, the table standardization
layers, and the base settings a likelihood fixes.

Pure functions of tensors and sub-models, beside :mod:`keras_ae.models.base` (which trains
with them) so the model class keeps to the model.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.validation import short_repr

RECONSTRUCTION_LOSSES = ("mse", "bce")
# Names of the keras.layers.Normalization layers of a model that takes raw table rows: the
# encoder's first layer standardizes them, the decoder's last one maps back to raw units.
STANDARDIZE, UNSTANDARDIZE = "standardize", "unstandardize"


def standardization_of(network: keras.Model, name: str = STANDARDIZE) -> keras.layers.Normalization | None:
    """The ``Normalization`` layer called ``name`` among a sub-model's layers, or ``None``.

    ``"standardize"`` is the encoder's first layer and ``"unstandardize"`` (``invert=True``)
    the decoder's last one in the models built with ``standardize=x_train``
    (:func:`~keras_ae.models.dense.standardization_layer`).

    Args:
        network: An encoder or decoder.
        name: ``"standardize"`` or ``"unstandardize"``.

    Returns:
        The layer, or ``None``.

    Example:
        >>> model = build_dense_ae((3,), hidden=(4,), code_dim=2, loss="mse", standardize=np.eye(3))
        >>> standardization_of(model.encoder).name, standardization_of(model.decoder, "unstandardize").invert
        ('standardize', True)
    """
    for layer in network.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.name == name:
            return layer
    return None


def standardization_moments(layer: keras.layers.Normalization) -> tuple[tf.Tensor, tf.Tensor]:
    """Float32 mean and standard deviation ``(columns,)`` of a standardization layer, as it divides.

    Keras' ``Normalization`` divides by ``max(sqrt(variance), epsilon)``; so do the losses.

    Args:
        layer: A built ``Normalization`` layer (adapted, or given its mean and variance).

    Returns:
        ``(mean, stddev)``, float32 tensors of shape ``(columns,)``.

    Example:
        >>> layer = build_dense_ae((2,), hidden=(4,), code_dim=1, loss="mse",
        ...                        standardize=np.array([[0.0, 1.0], [2.0, 5.0]])).encoder.get_layer("standardize")
        >>> [t.numpy().tolist() for t in standardization_moments(layer)]
        [[1.0, 3.0], [1.0, 2.0]]
    """
    mean = tf.reshape(tf.cast(layer.mean, tf.float32), [-1])
    variance = tf.reshape(tf.cast(layer.variance, tf.float32), [-1])
    return mean, tf.maximum(tf.sqrt(variance), keras.config.epsilon())


def reconstruction_loss(target: tf.Tensor, output: tf.Tensor, kind: str) -> tf.Tensor:
    """Per-example reconstruction loss, averaged over all non-batch axes, in float32.

    Args:
        target: Clean data, shape ``(batch, ...)``.
        output: The decoder's output (probabilities for ``"bce"``).
        kind: ``"mse"`` (squared error, for real-valued data with a linear output) or
            ``"bce"`` (cross-entropy, for [0, 1] data with a sigmoid output).

    Returns:
        A float32 tensor of shape ``(batch,)``.

    Example:
        >>> reconstruction_loss(tf.zeros((2, 3)), tf.zeros((2, 3)), "mse").shape
        TensorShape([2])
    """
    target = tf.cast(target, tf.float32)
    output = tf.cast(output, tf.float32)  # losses in float32 under mixed precision
    axes = list(range(1, len(target.shape)))
    if kind == "mse":
        return tf.reduce_mean(tf.square(target - output), axis=axes)
    eps = keras.backend.epsilon()
    output = tf.clip_by_value(output, eps, 1.0 - eps)
    bce = -(target * tf.math.log(output) + (1.0 - target) * tf.math.log1p(-output))
    return tf.reduce_mean(bce, axis=axes)


def take_fixed_settings(kwargs: dict, loss: str, family: str) -> None:
    """Takes the :class:`AutoEncoder` keys ``loss``, ``corruption`` and ``sparsity_l1`` out of
    ``kwargs`` for a family whose likelihood fixes them (the VAE, the VQ-VAE).

    Their configs keep every base key (``super().get_config()``), so ``from_config`` passes
    them back; a value the family would silently ignore is refused instead.

    Args:
        kwargs: The family's ``__init__`` keyword arguments (changed in place).
        loss: The reconstruction loss the family's likelihood implies (``"bce"`` or ``"mse"``).
        family: The family's name, for messages.

    Example:
        >>> kwargs = {"loss": "bce", "corruption": None, "sparsity_l1": 0.0, "name": "vae"}
        >>> take_fixed_settings(kwargs, "bce", "VAE")
        >>> kwargs
        {'name': 'vae'}
    """
    given = kwargs.pop("loss", loss)
    if given != loss:
        raise InputValidationError(f"The {family}'s reconstruction loss follows its likelihood ({loss!r}), "
                                   f"got loss={short_repr(given)}; choose the likelihood instead.")
    if kwargs.pop("corruption", None) is not None:
        raise InputValidationError(f"The {family} takes no corruption layer; corrupt the data before fit instead.")
    sparsity = kwargs.pop("sparsity_l1", 0.0)
    if sparsity != 0:
        raise InputValidationError(f"The {family} takes no sparsity_l1 penalty, got {short_repr(sparsity)}.")


__all__ = ["RECONSTRUCTION_LOSSES", "STANDARDIZE", "UNSTANDARDIZE", "reconstruction_loss", "standardization_moments",
           "standardization_of", "take_fixed_settings"]
