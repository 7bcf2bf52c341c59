"""``VAEConditioning``, the class labels of a conditional VAE (Sohn et al. 2015).

A VAE built with ``num_classes=K`` models p(x|y): both networks take the class id, q(z|x, y)
and p(x|z, y), while the prior p(z) stays the same. Labels travel through the model as int32
columns ``(batch, 1)``; the public methods check the ones they are given with
:func:`~keras_ae.validation.check_class_labels`, the one contract of every conditional model.
An unconditional VAE (``num_classes=None``) takes no labels: every hook here hands its arguments
through unchanged.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.replicas import nonempty_batch
from keras_ae.validation import check_class_labels


class VAEConditioning:
    """Mixin of :class:`~keras_ae.models.vae.model.VAE`: labels, their checks and the labelled train step.

    It uses the VAE's ``num_classes``, ``example_shape``, ``compute_losses``, ``minimize`` and
    ``update_trackers``, and holds no state of its own.

    Example:
        >>> cvae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), num_classes=10)
        >>> cvae.conditional
        True
        >>> cvae.decode_mean(np.zeros((3, 2), "float32"), labels=[0, 1, 2]).shape  # p(x|z, y), one class per code
        TensorShape([3, 8, 8, 1])
    """

    num_classes: int | None

    @property
    def conditional(self) -> bool:
        """Whether the networks take class labels (built with ``num_classes``)."""
        return self.num_classes is not None

    def _labels(self, labels, n: int | None) -> tf.Tensor | None:
        """The labels as the networks take them: an int32 column ``(n, 1)``, or ``None`` (unconditional).

        Labels from a user (NumPy, lists, ints, eager tensors) are checked here; symbolic tensors
        inside a compiled step were checked where they entered (arrays in ``fit``, datasets in
        their pipeline), so they are only reshaped.
        """
        if self.conditional and tf.is_tensor(labels) and not tf.executing_eagerly():
            return tf.reshape(tf.cast(labels, tf.int32), [-1, 1])
        if tf.is_tensor(labels):
            labels = labels.numpy()
        y = check_class_labels(labels, -1 if n is None else int(n), self.num_classes, name="labels")
        return None if y is None else tf.constant(y.reshape(-1, 1))

    def _network_inputs(self, x, labels) -> object:
        """What a network takes: ``x`` (or ``z``), or ``[x, labels]`` for a conditional model."""
        # Keras refuses a list that mixes NumPy arrays and tensors, and the labels are a tensor.
        return x if labels is None else [tf.convert_to_tensor(x, tf.float32), labels]

    def _split_inputs(self, inputs) -> tuple:
        """``(x, labels)`` from what the model is called on: ``x``, or ``[x, labels]`` when conditional."""
        if not self.conditional:
            return inputs, None
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise InputValidationError(
                f"A conditional VAE (num_classes={self.num_classes}) is called on [x, labels], got "
                f"{type(inputs).__name__}.")
        return inputs[0], inputs[1]

    @staticmethod
    def _broadcast_labels(labels: tf.Tensor, lead) -> tf.Tensor:
        """Labels ``(batch, 1)`` repeated over the extra leading axes of the codes (e.g. ``(samples, batch)``)."""
        return tf.reshape(tf.broadcast_to(tf.reshape(labels, [-1]), lead), [-1, 1])

    def _refuse_dataset(self, x, method: str) -> None:
        """Conditional inference reads arrays with their ``labels``: a dataset's labels would be dropped."""
        if self.conditional and isinstance(x, tf.data.Dataset):
            raise InputValidationError(
                f"{method} of a conditional VAE (num_classes={self.num_classes}) takes an array x and its labels; "
                "a tf.data dataset is read without labels. Pass arrays: x and labels=y.")

    # -- labelled rows for the importance-sampling estimators -----------------------------
    def _pack_rows(self, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """``(n, D + 1)`` float32 rows: the flattened example, then its class id (exact in float32 below 2**24).

        :func:`~keras_ae.evaluation.likelihood.importance_weighted_bound` batches one array,
        so a conditional model's examples travel there with their labels in one row.
        """
        return np.concatenate([x.reshape(len(x), -1), labels.reshape(-1, 1).astype(np.float32)], axis=1)

    def _unpack_rows(self, rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        size = int(np.prod(self.example_shape))
        x = tf.reshape(rows[:, :size], [-1, *self.example_shape])
        return x, tf.reshape(tf.cast(tf.round(rows[:, size]), tf.int32), [-1, 1])

    def _packed_log_weights(self, rows: tf.Tensor, num_samples: int, seed: tf.Tensor) -> tf.Tensor:
        x, labels = self._unpack_rows(rows)
        return self.log_weights(x, num_samples, seed, labels=labels)

    def _packed_elbo_terms(self, rows: tf.Tensor, num_samples: int, seed: tf.Tensor) -> tf.Tensor:
        x, labels = self._unpack_rows(rows)
        return self.log_weights(x, num_samples, seed, analytic_kl=True, labels=labels)

    # -- training ---------------------------------------------------------------------------
    def train_step(self, data):
        if not self.conditional:
            return super().train_step(data)
        # Under tf.distribute an empty replica batch becomes one example weighted 0.
        x, labels, batch = nonempty_batch(*keras.utils.unpack_x_y_sample_weight(data)[:2])
        return self.minimize(lambda: self.compute_losses(x, training=True, labels=labels), batch)

    def test_step(self, data):
        if not self.conditional:
            return super().test_step(data)
        x, labels, batch = nonempty_batch(*keras.utils.unpack_x_y_sample_weight(data)[:2])
        return self.update_trackers(self.compute_losses(x, training=False, labels=labels), batch)

    def check_data(self, x, y, names, training: bool):
        """``fit``/``evaluate`` hook: ``x`` checked as the VAE trains on it, and for a conditional
        VAE its class labels (required, int32 ``(n,)``)."""
        if not self.conditional:
            return super().check_data(x, y, names, training)
        x = self.validate_inputs(x, names[0])
        return x, check_class_labels(y, len(x), self.num_classes, name=names[1])
