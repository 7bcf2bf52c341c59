"""``VAEInference``, the part of :class:`~keras_ae.models.vae.model.VAE` that reads user data
outside the training loss: the data checks, :meth:`~VAEInference.codes`,
:meth:`~VAEInference.reconstruct` and the deterministic code of an example."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_ae.models.common import check_binary_data, check_int
from keras_ae.training import DataSpec
from keras_ae.training.batches import iterate_batches
from keras_ae.validation import check_array, check_class_labels


class VAEInference:
    """Mixin of :class:`~keras_ae.models.vae.model.VAE`: data checks, codes and reconstructions.

    It uses the VAE's ``example_shape``, ``input_range``, ``likelihood``, ``latent_dim``,
    ``dynamic_binarization``, ``posterior_params`` and ``_predict_stream``, and holds no
    state of its own.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> vae.codes(x_digits_test[:5]).shape, vae.reconstruct(x_digits_test[:5]).shape
        ((5, 2), (5, 8, 8, 1))
    """

    # -- validation at the boundary -------------------------------------------------
    _range_hint = "Scale images to [0, 1] (e.g. x / 255) or build the VAE with likelihood='gaussian'."

    def validate_inputs(self, x, name: str = "x", purpose: str = "fit") -> np.ndarray:
        """Checks shape, dtype, NaN/inf and range; for a Bernoulli likelihood also binarity.

        Args:
            x: Examples.
            name: Name used in error messages.
            purpose: ``"fit"`` (binary data required unless ``dynamic_binarization``),
                ``"evaluate"`` (likelihoods: binary data required for Bernoulli) or
                ``"encode"`` (any data in range).

        Returns:
            The data as float32.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.validate_inputs(keras_ae.data.binarize(x_digits_test, seed=0), purpose="evaluate").shape
            (64, 8, 8, 1)
            >>> vae.validate_inputs(x_digits_test, purpose="evaluate")
            Traceback (most recent call last):
            ...
            InputValidationError: `x` is not binary (...% of values are neither 0 nor 1) but the VAE has a
            Bernoulli likelihood; binarize it once with keras_ae.data.binarize(x, seed=0) (fixed evaluation ...
        """
        x = check_array(x, name, expected_shape=self.example_shape, value_range=self.input_range,
                        range_hint=self._range_hint)
        if self.likelihood == "bernoulli":
            check_binary_data(x, name, purpose, self.dynamic_binarization, "VAE",
                              other_fix="use likelihood='continuous_bernoulli'")
        return x

    def reconstruct(self, x, batch_size: int = 256, labels=None) -> np.ndarray:
        """Means of p(x|z) at the posterior means of ``x`` (deterministic); a conditional VAE
        encodes and decodes with the examples' class ``labels`` (one per example, or one int).

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> vae.reconstruct(x_digits_test[:10]).shape
            (10, 8, 8, 1)
            >>> vae.reconstruct(tf.data.Dataset.from_tensor_slices(x_digits_test[:10])).shape  # streamed
            (10, 8, 8, 1)
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        self._refuse_dataset(x, "reconstruct")
        if isinstance(x, tf.data.Dataset):
            check_class_labels(labels, 0, None)  # an unconditional VAE takes no labels
            return self._predict_stream(self, x, self._inference_spec("encode"), batch_size, "reconstruct")
        x = self.validate_inputs(x, purpose="encode")
        y = check_class_labels(labels, len(x), self.num_classes, name="labels")
        return self.predict(x if y is None else [x, y], batch_size=batch_size, verbose=0)

    def _inference_spec(self, purpose: str) -> DataSpec:
        """Dataset check of the inference methods: data in range; binary for Bernoulli likelihoods ("evaluate")."""
        binary = purpose == "evaluate" and self.likelihood == "bernoulli"
        return DataSpec(self.example_shape, self.input_range, self._range_hint, targets="ignored",
                        levels=2 if binary else None)

    def codes(self, x, batch_size: int = 256, labels=None) -> np.ndarray:
        """One deterministic code per example: :meth:`posterior_point`, the mean of q(z|x)
        (for a flow posterior the flow of the base Gaussian's mean), as a NumPy array.

        Args:
            x: Examples in range, or a ``tf.data.Dataset`` of them (``x`` or ``(x, y)``,
                labels ignored; batched or not), read one batch at a time and checked like arrays
                (arrays only for a conditional VAE).
            batch_size: Examples per encoder pass (for arrays and unbatched datasets).
            labels: Class ids of a conditional VAE (the codes of q(z|x, y)), one per example or
                one int; ``None`` otherwise.

        Returns:
            Float32 ``(n, latent_dim)``.

        Example:
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
            >>> codes = vae.codes(x_digits_test[:5])
            >>> codes.shape, codes.dtype, np.allclose(codes, vae.posterior(x_digits_test[:5]).mean())
            ((5, 2), dtype('float32'), True)
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        self._refuse_dataset(x, "codes")
        if self.conditional:
            x = self.validate_inputs(x, purpose="encode")
            y = check_class_labels(labels, len(x), self.num_classes, name="labels")
            parts = [self.posterior_point(tf.constant(x[i:i + batch_size]), y[i:i + batch_size]).numpy()
                     for i in range(0, len(x), batch_size)]
            return np.concatenate(parts) if parts else np.zeros((0, self.latent_dim), np.float32)
        check_class_labels(labels, 0, None)  # an unconditional VAE takes no labels
        batches = iterate_batches(x, batch_size, self._inference_spec("encode"), "x", where="codes",
                                  check=lambda a: self.validate_inputs(a, purpose="encode"))
        parts = [self.posterior_point(tf.cast(batch, tf.float32)).numpy() for batch in batches]
        return np.concatenate(parts) if parts else np.zeros((0, self.latent_dim), np.float32)

    def posterior_point(self, x, labels=None) -> tf.Tensor:
        """One deterministic code per example, ``(batch, latent_dim)``: the posterior mean."""
        return self.posterior_params(x, labels)[0]
