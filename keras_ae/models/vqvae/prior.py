"""``VQVAEPrior``, the prior of :class:`~keras_ae.models.vqvae.model.VQVAE`: ``fit_prior``
trains the PixelCNN over the model's code maps, ``sample_codes`` and ``sample`` draw from it."""

from __future__ import annotations

import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.models.autoregressive import AutoregressiveModel
from keras_ae.validation import check_count


class VQVAEPrior:
    """Mixin of :class:`~keras_ae.models.vqvae.model.VQVAE`: training of and sampling from the prior.

    It uses the model's ``prior``, ``num_codes``, ``example_shape``, ``code_maps`` and
    ``decode``, and holds no state of its own.
    """

    def _require_prior(self, what: str) -> AutoregressiveModel:
        if self.prior is None:
            raise InputValidationError(
                f"{what} needs a prior over the codes, and this VQ-VAE has none: build it with "
                "build_vqvae(..., prior=True) (a gated PixelCNN over the code maps).")
        return self.prior

    def fit_prior(self, x, epochs: int = 10, batch_size: int = 64, validation_data=None, optimizer="adam",
                  verbose="auto", **kwargs):
        """Trains the PixelCNN prior on the code maps of ``x`` (the auto-encoder stays fixed).

        Args:
            x: Images (encoded with :meth:`encode`; binarize grey images first if the
                bound will be evaluated on binarized data), or a ``tf.data.Dataset`` of them
                (as for :meth:`encode`): read once, and the prior trains on the code maps
                kept in memory (``h' * w'`` floats per image).
            epochs: Passes over the code maps.
            batch_size: Code maps per step.
            validation_data: Images (an array or a dataset) whose code maps are the validation set.
            optimizer: Optimizer of the prior's first ``fit_prior`` (later calls continue with it).
            verbose: Keras' progress bar setting.
            **kwargs: Other arguments of the prior's ``fit`` (callbacks, ...).

        Returns:
            The prior's ``History`` (``nll`` in nats per code map).

        Example:
            ```python
            history = model.fit_prior(keras_ae.data.binarize(x_train, seed=0), epochs=20)
            sorted(history.history)  # ['bits_per_dim', 'loss', 'nll']
            ```
        """
        prior = self._require_prior("fit_prior")
        maps = self.code_maps(x)
        val = None if validation_data is None else self.code_maps(validation_data)
        if not prior.compiled:
            prior.compile(optimizer=optimizer)
        return prior.fit(maps, epochs=epochs, batch_size=batch_size, validation_data=val, verbose=verbose, **kwargs)

    def sample_codes(self, n: int, seed: int | None = 0, batch_size: int = 256, verbose: int = 0,
                     jit_compile: bool = False) -> np.ndarray:
        """Code maps ``(n, h', w')`` drawn from the prior with its compiled sampler.

        Example:
            ```python
            model.sample_codes(2, seed=0).shape  # (2, 7, 7) for 28x28 images
            ```
        """
        prior = self._require_prior("sample")
        n = check_count(n, "n", 4 * int(np.prod(prior.image_shape)), "code maps")
        maps = prior.sample(n, seed=seed, batch_size=batch_size, verbose=verbose,
                                                     jit_compile=jit_compile)
        return np.round(maps[..., 0] * (self.num_codes - 1)).astype(np.int32)

    def sample(self, n: int, seed: int | None = 0, batch_size: int = 256, verbose: int = 0,
               jit_compile: bool = False) -> np.ndarray:
        """Draws ``n`` images: code maps from the prior, decoded (means of p(x | z_q)).

        Args:
            n: Number of images, an int >= 0; drawn and decoded in batches, refused when
                the result would exceed :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            seed: Any int; equal seeds give equal images. ``None``: a fresh seed.
            batch_size: Code maps sampled in parallel.
            verbose: 1 shows a progress bar.
            jit_compile: Compile the prior's sampling loop with XLA.

        Returns:
            Float32 images ``(n, *input_shape)``.

        Raises:
            InputValidationError: if the model has no prior, or for bad ``n`` / ``seed``.

        Example:
            ```python
            images = model.sample(100, seed=0)  # (100, 28, 28, 1); the same seed gives the same images
            ```
        """
        self._require_prior("sample")
        n = check_count(n, "n", 4 * int(np.prod(self.example_shape)))
        return self.decode(self.sample_codes(n, seed, batch_size, verbose, jit_compile))
