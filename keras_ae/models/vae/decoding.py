"""``VAEDecoding``, the likelihood side of :class:`~keras_ae.models.vae.model.VAE`: the decoder's
output for codes (and, for a conditional VAE, class labels), p(x|z[, y]) as a ``tfd`` distribution,
its mean and ``log p(x|z)`` of standardized table rows."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from keras_ae.models.reconstruction import standardization_moments
from keras_ae.validation import check_array


class VAEDecoding:
    """Mixin of :class:`~keras_ae.models.vae.model.VAE`: ``decode``, ``decoder_output``, ``decode_mean``
    and the standardized ``data_log_prob``.

    It uses the VAE's ``decoder``, ``latent_dim``, ``example_shape``, ``likelihood``,
    ``observation_stddev``, ``standardization``, ``standardized`` and ``_labels``, and holds no
    state of its own.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> z = np.zeros((3, 2), "float32")
        >>> vae.decode(z).event_shape, vae.decode_mean(z).shape
        (TensorShape([8, 8, 1]), TensorShape([3, 8, 8, 1]))
    """

    def decode(self, z, labels=None, training: bool = False) -> tfd.Distribution:
        """The likelihood p(x|z) (p(x|z, y) for a conditional VAE) with event shape ``input_shape``.

        ``z`` may have extra leading axes, e.g. ``(samples, batch, latent_dim)``; they
        become the distribution's batch shape (one decoder pass over all of them).

        Args:
            z: Codes ``(..., batch, latent_dim)``.
            labels: Class ids ``(batch,)`` (or one int) for a conditional VAE; ``None`` otherwise.
            training: Run the decoder in training mode.

        Returns:
            A ``tfd.Independent`` distribution with batch shape ``z.shape[:-1]``.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> p = vae.decode(np.zeros((4, vae.latent_dim), "float32"))
            >>> p.batch_shape, p.event_shape, p.mean().shape
            (TensorShape([4]), TensorShape([8, 8, 1]), TensorShape([4, 8, 8, 1]))
            >>> vae.decode(np.zeros((10, 4, vae.latent_dim), "float32")).batch_shape  # (samples, batch)
            TensorShape([10, 4])
        """
        out = self.decoder_output(z, labels, training=training)
        ndims = len(self.example_shape)
        if self.likelihood == "bernoulli":
            base = tfd.Bernoulli(logits=out, dtype=tf.float32)
        elif self.likelihood == "continuous_bernoulli":
            base = tfd.ContinuousBernoulli(logits=out)
        else:
            base = tfd.Normal(loc=out, scale=self.observation_stddev() * self._column_stddev())
        return tfd.Independent(base, reinterpreted_batch_ndims=ndims)

    def _column_stddev(self) -> tf.Tensor | float:
        """The raw units of one standardized unit, per data dimension (1 without standardization)."""
        layer = self.standardization
        return 1.0 if layer is None else tf.reshape(standardization_moments(layer)[1], self.example_shape)

    def data_log_prob(self, z: tf.Tensor, x: tf.Tensor, training: bool = False, labels=None) -> tf.Tensor:
        """``log p(x|z)`` summed over data dimensions, shape ``z.shape[:-1]`` (see
        :meth:`~keras_ae.models.vae.likelihood.VAELikelihood.data_log_prob`).

        A standardized VAE (``standardize=x_train``) scores the standardized row ``x`` against
        the standardized decoder mean: every column counts equally, and the loss and bounds
        are in nats of standardized rows (``decode(z).log_prob`` of the raw row is lower by
        ``sum(log std)``, the change of units).

        Args:
            z: Latents ``(..., latent_dim)``.
            x: Rows ``(batch, *input_shape)`` in raw units (broadcast against ``z``'s leading axes).
            training: Run the decoder in training mode.
            labels: Class ids of the rows (conditional VAE), else ``None``.

        Returns:
            A float32 tensor of shape ``z.shape[:-1]``.

        Example:
            >>> rows = np.random.default_rng(0).normal([0.0, 1e4], [1.0, 1e3], (64, 2)).astype("float32")
            >>> vae = build_vae((2,), latent_dim=1, hidden=(8,), likelihood="gaussian", standardize=rows)
            >>> z = vae.posterior(rows[:4]).mean()
            >>> log_std = float(tf.reduce_sum(tf.math.log(vae._column_stddev())))
            >>> np.allclose(vae.data_log_prob(z, rows[:4]) - log_std, vae.decode(z).log_prob(rows[:4]), atol=1e-3)
            True
        """
        if self.standardization is None:
            return super().data_log_prob(z, x, training=training, labels=labels)
        mean = self.standardized(self.decoder_output(z, labels, training=training))
        p = tfd.Independent(tfd.Normal(loc=mean, scale=self.observation_stddev()),
                            reinterpreted_batch_ndims=len(self.example_shape))
        return p.log_prob(self.standardized(x))

    def decoder_output(self, z, labels=None, training: bool = False) -> tf.Tensor:
        """The decoder's raw float32 output (logits or means), shape ``z.shape[:-1] + input_shape``.

        Args:
            z: Codes ``(..., batch, latent_dim)``.
            labels: Class ids ``(batch,)`` for a conditional VAE (repeated over ``z``'s extra
                leading axes), else ``None``.
            training: Run the decoder in training mode.

        Returns:
            A float32 tensor.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.decoder_output(tf.zeros((2, vae.latent_dim))).shape
            TensorShape([2, 8, 8, 1])
            >>> vae.decoder_output(tf.zeros((5, 2, vae.latent_dim))).shape
            TensorShape([5, 2, 8, 8, 1])
        """
        if not tf.is_tensor(z):
            z = check_array(z, "z", expected_shape=(None,) * (np.ndim(z) - 2) + (self.latent_dim,))
        z = tf.cast(z, tf.float32)
        labels = self._labels(labels, z.shape[-2] if z.shape.rank and z.shape.rank >= 2 else None)
        if z.shape.rank == 2:
            return tf.cast(self.decoder(self._network_inputs(z, labels), training=training), tf.float32)
        lead = z.shape[:-1]
        dims = lead.as_list() if lead.is_fully_defined() else tf.shape(z)[:-1]
        if labels is not None:  # one label per example of the batch axis, the same for every sample
            labels = self._broadcast_labels(labels, tf.shape(z)[:-1])
        flat = tf.reshape(z, [-1, self.latent_dim])
        out = tf.cast(self.decoder(self._network_inputs(flat, labels), training=training), tf.float32)
        shape = [*dims, *self.example_shape] if isinstance(dims, list) else tf.concat([dims, self.example_shape], 0)
        return tf.reshape(out, shape)

    def decode_mean(self, z, labels=None, training: bool = False) -> tf.Tensor:
        """Mean of p(x|z[, y]) as a float32 tensor (probabilities for a Bernoulli likelihood).

        Graph-friendly, for serving: ``decode_mean(prior.sample(n, seed=seed))`` samples images.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> images = vae.decode_mean(tf.zeros((4, vae.latent_dim)))
            >>> images.shape, bool(tf.reduce_all((images >= 0) & (images <= 1)))
            (TensorShape([4, 8, 8, 1]), True)
        """
        return self.decode(z, labels, training=training).mean()
