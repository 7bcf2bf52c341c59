"""``AffineCoupling``: the invertible affine coupling layer of RealNVP (Dinh et al. 2017).

A binary mask ``b`` splits an image ``x`` in two parts. The kept part ``b * x`` passes
unchanged and conditions an affine map of the other part:

    y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x)),
    log |det dy/dx| = sum((1 - b) * s(b * x)).

``s`` and ``t`` come from one Keras network; the log-scale is bounded,
``s = scale * tanh(raw)`` with a learned per-channel ``scale`` (as in Dinh et al.), so a
step cannot blow the values up. The inverse needs no inverse of the network:
``x = b * y + (1 - b) * (y - t(b * y)) * exp(-s(b * y))``.

Two masks, as in the paper: ``"checkerboard"`` (pixels with ``(row + col + parity)``
even are kept; the mask is given to the network as an extra channel) and ``"channel"``
(the first half of the channels is kept for ``parity=0``, the second half for ``parity=1``).
``tfp.bijectors.RealNVP`` splits the last axis at a fixed index only (a channel mask),
hence this layer; the flow's logit transform and base distribution are TFP's.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError

COUPLING_MASKS = ("checkerboard", "channel")


def checkerboard_mask(height: int, width: int, parity: int = 0) -> np.ndarray:
    """The float32 ``(1, height, width, 1)`` checkerboard: 1 where ``(row + col + parity)`` is even.

    Args:
        height: Rows of the mask.
        width: Columns of the mask.
        parity: 0 keeps the top-left pixel (value 1 there), 1 swaps the ones and zeros.

    Returns:
        A float32 array ``(1, height, width, 1)`` of zeros and ones.

    Example:
        >>> checkerboard_mask(2, 3)[0, :, :, 0]
        array([[1., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return ((rows + cols + parity) % 2 == 0).astype(np.float32)[None, :, :, None]


@keras.saving.register_keras_serializable(package="keras_ae")
class AffineCoupling(keras.layers.Layer):
    """An invertible affine coupling layer with a checkerboard or a channel mask.

    Args:
        network: Keras model from the conditioning input to ``2 * k`` channels: raw
            log-scales, then shifts, of the ``k`` transformed channels. It takes
            ``(h, w, c + 1)`` (the masked image and the mask) for ``"checkerboard"``
            (``k = c``) and ``(h, w, c / 2)`` for ``"channel"`` (``k = c / 2``).
        mask: ``"checkerboard"`` or ``"channel"``.
        parity: 0 or 1, which half is kept (alternate it from layer to layer).

    ``forward(x)`` and ``inverse(y)`` return the transformed tensor and the float32 log
    |det| of that direction per example; ``call`` is ``forward``.

    Example:
        >>> net = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Conv2D(2, 3, padding="same")])
        >>> layer = AffineCoupling(net, mask="checkerboard")
        >>> x = tf.random.normal((3, 4, 4, 1))
        >>> y, log_det = layer.forward(x)
        >>> x_back, inverse_log_det = layer.inverse(y)
        >>> (bool(tf.reduce_max(tf.abs(x_back - x)) < 1e-5),
        ...  bool(tf.reduce_all(tf.abs(log_det + inverse_log_det) < 1e-5)))
        (True, True)
    """

    def __init__(self, network: keras.Model, mask: str = "checkerboard", parity: int = 0, **kwargs):
        super().__init__(**kwargs)
        if mask not in COUPLING_MASKS:
            raise InputValidationError(f"`mask` must be one of {COUPLING_MASKS}, got {mask!r}.")
        if parity not in (0, 1) or isinstance(parity, bool):
            raise InputValidationError(f"`parity` must be 0 or 1, got {parity!r}.")
        self.network = network
        self.mask = mask
        self.parity = int(parity)
        out = network.output_shape[-1]
        if out is None or out % 2:
            raise InputValidationError(
                f"The coupling network must output 2 * k channels (log-scales, shifts), got {out}.")
        self.transformed = out // 2
        # Bounds the log-scale: s = scale * tanh(raw); float32 whatever the dtype policy.
        self.scale = self.add_weight(shape=(self.transformed,), initializer="ones", name="log_scale_bound",
                                     dtype="float32")

    def build(self, input_shape=None):
        self.built = True  # the network is built; the scale weight exists

    def _check(self, x) -> None:
        c = x.shape[-1]
        expected = self.transformed * (1 if self.mask == "checkerboard" else 2)
        if c != expected:
            raise InputValidationError(
                f"This {self.mask} coupling transforms {expected}-channel images, got {c} channels.")

    def _split(self, x):
        """(conditioning input of the network, kept part, transformed part) of ``x``."""
        if self.mask == "checkerboard":
            b = tf.constant(checkerboard_mask(x.shape[1], x.shape[2], self.parity))
            kept = x * b
            cond = tf.concat([kept, tf.broadcast_to(b, tf.concat([tf.shape(x)[:3], [1]], 0))], axis=-1)
            return cond, b
        half = self.transformed
        kept = x[..., :half] if self.parity == 0 else x[..., half:]
        return kept, None

    def _log_scale_and_shift(self, cond):
        out = tf.cast(self.network(cond), tf.float32)  # float32 flow arithmetic under mixed precision
        raw, shift = out[..., : self.transformed], out[..., self.transformed:]
        return self.scale * tf.tanh(raw), shift

    def _join(self, kept, changed):
        return tf.concat([kept, changed] if self.parity == 0 else [changed, kept], axis=-1)

    def forward(self, x):
        """``(y, log |det dy/dx|)``, the log-det a float32 ``(batch,)`` tensor."""
        return self._couple(x, lambda z, log_s, shift: z * tf.exp(log_s) + shift, log_det_sign=1.0)

    def inverse(self, y):
        """``(x, log |det dx/dy|)``: undoes :meth:`forward` (its log-det is minus the forward's)."""
        return self._couple(y, lambda z, log_s, shift: (z - shift) * tf.exp(-log_s), log_det_sign=-1.0)

    def _couple(self, x, affine, log_det_sign: float):
        """Both directions: the kept part conditions the network and ``affine`` maps the other part."""
        x = tf.cast(x, tf.float32)
        self._check(x)
        cond, b = self._split(x)
        log_s, shift = self._log_scale_and_shift(cond)
        if b is not None:  # b is 0 or 1: (1 - b) * affine(x) is the masked affine map, exactly
            y = x * b + (1.0 - b) * affine(x, log_s, shift)
            return y, log_det_sign * tf.reduce_sum((1.0 - b) * log_s, axis=[1, 2, 3])
        half = self.transformed
        changed = affine(x[..., half:] if self.parity == 0 else x[..., :half], log_s, shift)
        return self._join(cond, changed), log_det_sign * tf.reduce_sum(log_s, axis=[1, 2, 3])

    def call(self, inputs):
        return self.forward(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "network": keras.saving.serialize_keras_object(self.network),
                "mask": self.mask, "parity": self.parity}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"])
        return cls(**config)


__all__ = ["AffineCoupling", "COUPLING_MASKS", "checkerboard_mask"]
