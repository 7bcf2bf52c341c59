"""k-sparse activation (Makhzani & Frey 2014): keep the k largest units per example.

At test time the paper encodes with ``alpha * k`` units (``alpha`` of about 3): training
with exactly ``k`` makes the decoder's dictionary sparse-friendly, and a few more units at
encoding time give the classifier a richer (still sparse) feature vector.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_int


def check_alpha(alpha: float) -> float:
    """Validates a test-time multiplier of ``k``: a finite number >= 1.

    Args:
        alpha: The multiplier (an int or a float; not a bool).

    Returns:
        ``alpha`` as a float.

    Raises:
        InputValidationError: if ``alpha`` is not a finite number >= 1.

    Example:
        >>> check_alpha(3)
        3.0
    """
    is_number = isinstance(alpha, (int, float, np.integer, np.floating)) and not isinstance(alpha, bool)
    if not is_number or not np.isfinite(alpha) or alpha < 1:
        raise InputValidationError(
            f"`alpha` must be a finite number >= 1 (test-time units = alpha * k), got {alpha!r}.")
    return float(alpha)


@keras.saving.register_keras_serializable(package="keras_ae")
class KSparse(keras.layers.Layer):
    """Zeros all but the ``k`` largest values of each example (exactly ``k`` survive).

    Selection uses ``top_k`` indices, not a threshold, so ties never let more than
    ``k`` units through. Gradients flow only into the kept units.

    ``k`` is a plain attribute read when the layer is traced: a schedule that changes it
    (:class:`~keras_ae.training.callbacks.k_schedule.KSchedule`) rebuilds the train function.

    Args:
        k: Number of units kept per example during training.
        alpha: Outside training (``training=False``: ``predict``, ``encode``, ``evaluate``)
            keep ``min(round(alpha * k), units)`` units instead (Makhzani & Frey's test-time
            encoding). ``1.0`` (default): the same ``k`` everywhere.

    Example:
        >>> KSparse(2)(tf.constant([[0.1, 0.5, 0.3, 0.9]])).numpy()
        array([[0. , 0.5, 0. , 0.9]], dtype=float32)
        >>> layer = KSparse(1, alpha=3.0)
        >>> layer(tf.constant([[0.1, 0.5, 0.3, 0.9]]), training=True).numpy()  # k while training
        array([[0. , 0. , 0. , 0.9]], dtype=float32)
        >>> layer(tf.constant([[0.1, 0.5, 0.3, 0.9]])).numpy()  # alpha * k = 3 at test time
        array([[0. , 0.5, 0.3, 0.9]], dtype=float32)
    """

    # KSchedule finds the layers whose k it anneals by this attribute (training/ sits below
    # layers/ and imports none of them).
    schedulable_k = True

    def __init__(self, k: int, alpha: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.k = check_int(k, "k", minimum=1)
        self.alpha = check_alpha(alpha)

    def get_config(self) -> dict:
        config = {**super().get_config(), "k": self.k}
        # Only when set: configs (and .keras files) of plain k-sparse layers stay as they were.
        if self.alpha != 1.0:
            config["alpha"] = self.alpha
        return config

    def build(self, input_shape):
        if input_shape[-1] is not None and self.k > input_shape[-1]:
            raise ValueError(f"KSparse k={self.k} exceeds the code size {input_shape[-1]}.")
        self.built = True

    def kept_units(self, units: int | None, training: bool = False) -> int:
        """Units kept per example: ``k`` in training, ``min(round(alpha * k), units)`` otherwise.

        Example:
            >>> KSparse(25, alpha=3.0).kept_units(1000), KSparse(25, alpha=3.0).kept_units(1000, training=True)
            (75, 25)
        """
        if training or self.alpha == 1.0:
            return self.k
        kept = max(1, int(round(self.alpha * self.k)))
        return kept if units is None else min(kept, int(units))

    def call(self, inputs, training=False):
        k = self.kept_units(inputs.shape[-1], training=bool(training))
        _, idx = tf.math.top_k(inputs, k=k, sorted=False)
        mask = tf.reduce_sum(tf.one_hot(idx, tf.shape(inputs)[-1], dtype=inputs.dtype), axis=-2)
        return inputs * mask

    def compute_output_shape(self, input_shape):
        return input_shape
