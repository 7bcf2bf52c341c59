"""``VQVAELikelihood``, the likelihood bound of :class:`~keras_ae.models.vqvae.model.VQVAE`:
``bound_terms`` (log p(x | z_q(x)) and log p_prior(z_q(x))) and ``log_likelihood``, their sum.

With a class-conditional prior the prior term is ``log p_prior(z_q(x) | y)`` and both
methods take the images' ``labels``."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_class_labels, check_int, check_verbose


class VQVAELikelihood:
    """Mixin of :class:`~keras_ae.models.vqvae.model.VQVAE`: the likelihood bound per image.

    It uses the model's ``encoder``, ``quantizer``, ``prior``, ``likelihood``, ``num_codes``,
    ``data_log_prob``, ``_decoder_output``, ``_require_prior``, ``_checked_images``,
    ``_image_spec`` and ``_batched``, and holds no state of its own.

    Example:
        ```python
        model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior_filters=4, prior_blocks=0)
        x = keras_ae.data.binarize(x_digits_test, seed=0)  # the bound is for binary data
        terms = model.bound_terms(x)  # {"log_px_given_z": (64,), "log_prior": (64,)}, float64 nats
        bound = model.log_likelihood(x)  # their sum, <= log p(x)
        ```
    """

    def _bound_terms(self, x):
        z_e = self.encoder(x, training=False)
        indices = self.quantizer.nearest(z_e)
        log_px = self.data_log_prob(self._decoder_output(self.quantizer.lookup(indices)), x)
        maps = tf.cast(indices, tf.float32)[..., None] / (self.num_codes - 1)
        log_prior = self.prior.log_prob(maps, self.prior(maps, training=False))
        return {"log_px_given_z": log_px, "log_prior": log_prior}

    def _data_term(self, x):
        z_e = self.encoder(x, training=False)
        return self.data_log_prob(self._decoder_output(self.quantizer.lookup(self.quantizer.nearest(z_e))), x)

    def bound_terms(self, x, labels=None, batch_size: int = 256, verbose: int = 0) -> dict[str, np.ndarray]:
        """The two terms of the bound per image, in nats: ``log_px_given_z`` = log p(x | z_q(x))
        (its negative is the reconstruction error) and ``log_prior`` = log p_prior(z_q(x)) <= 0
        (``log p_prior(z_q(x) | y)`` for a class-conditional prior, given ``labels``: one int or
        one per image, arrays only).

        Example:
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior_filters=4, prior_blocks=0)
            >>> terms = model.bound_terms(keras_ae.data.binarize(x_digits_test[:4], seed=0))
            >>> sorted(terms), bool(np.all(terms["log_prior"] <= 0))
            (['log_prior', 'log_px_given_z'], True)
        """
        self._require_prior("The likelihood bound")
        if self.likelihood != "bernoulli":
            raise InputValidationError("The bound is in nats for binary data: it needs likelihood='bernoulli'.")
        x = self._checked_images(x, "evaluate")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        if self.num_classes is not None:
            if isinstance(x, tf.data.Dataset):
                raise InputValidationError("The bound of a class-conditional prior takes arrays of images and "
                                           "`labels`; read the dataset into arrays first.")
            labels = check_class_labels(labels, len(x), self.num_classes, name="labels")
            log_px = self._batched("bound_data", self._data_term, self._image_spec(), x, batch_size, verbose,
                                   purpose="evaluate", where="log_likelihood")
            log_prior = self.prior.log_likelihood(self.code_maps(x, batch_size), labels, batch_size=batch_size)
            return {"log_px_given_z": np.zeros(0) if log_px is None else log_px.astype(np.float64),
                    "log_prior": log_prior}
        check_class_labels(labels, 0, None, name="labels")  # none for an unconditional prior
        out = self._batched("bound", self._bound_terms, self._image_spec(), x, batch_size, verbose,
                            purpose="evaluate", where="log_likelihood")
        if out is None:
            return {"log_px_given_z": np.zeros(0), "log_prior": np.zeros(0)}
        return {k: v.astype(np.float64) for k, v in out.items()}

    def log_likelihood(self, x, labels=None, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """The bound ``log p(x | z_q(x)) + log p_prior(z_q(x)) <= log p(x)`` per image, in nats.

        ``-log_likelihood(x).mean()`` enters the same NLL column as the VAE's IWAE bound and
        the PixelCNN's exact NLL (binary data: binarize test images once, seed 0).

        Example:
            ```python
            nll_bound = -model.log_likelihood(keras_ae.data.binarize(x_test, seed=0)).mean()
            ```
        """
        terms = self.bound_terms(x, labels, batch_size, verbose)
        return terms["log_px_given_z"] + terms["log_prior"]
