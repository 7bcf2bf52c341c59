"""``VQVAEPrior``, the prior of :class:`~keras_ae.models.vqvae.model.VQVAE`: ``fit_prior``
trains the PixelCNN over the model's code maps, ``sample_codes`` and ``sample`` draw from it.

A class-conditional prior (``build_vqvae(..., num_classes=K)``) models ``p(codes | y)``:
``fit_prior(x, y)`` trains it on the code maps of ``x`` with their labels, and
``sample(n, labels=...)`` draws images of the chosen classes. The auto-encoder itself
stays unconditional."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.autoregressive import AutoregressiveModel
from keras_ae.validation import check_class_labels, check_count


class VQVAEPrior:
    """Mixin of :class:`~keras_ae.models.vqvae.model.VQVAE`: training of and sampling from the prior.

    It uses the model's ``prior``, ``num_codes``, ``num_classes``, ``example_shape``,
    ``code_maps`` and ``decode``, and holds no state of its own.

    Example:
        ```python
        model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior_filters=4, prior_blocks=0)
        model.fit_prior(keras_ae.data.binarize(x_digits, seed=0), epochs=1)  # the prior's History
        codes = model.sample_codes(4, seed=0)  # int32 (4, 4, 4) code maps
        images = model.sample(4, seed=0)  # float32 (4, 8, 8, 1): code maps drawn, then decoded
        ```
    """

    def _require_prior(self, what: str) -> AutoregressiveModel:
        if self.prior is None:
            raise InputValidationError(
                f"{what} needs a prior over the codes, and this VQ-VAE has none: build it with "
                "build_vqvae(..., prior=True) (a gated PixelCNN over the code maps).")
        return self.prior

    def labelled_code_maps(self, x, y=None, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray | None]:
        """The prior's training data: code maps of ``x`` (as :meth:`code_maps`) and, for a
        class-conditional prior, their labels (int32, checked).

        Args:
            x: Images, or a ``tf.data.Dataset`` of them (``(x, y)`` elements for a
                conditional prior, read once: the labels stay with their images).
            y: Labels of array ``x`` for a conditional prior (``None`` otherwise, and for datasets).
            batch_size: Images per encoder step.

        Returns:
            ``(maps, labels)``: float32 ``(n, h', w', 1)`` and int32 ``(n,)`` or ``None``.

        Example:
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior_filters=4, num_classes=10)
            >>> maps, labels = model.labelled_code_maps(x_digits[:3], [1, 2, 3])
            >>> maps.shape, labels.tolist()
            ((3, 4, 4, 1), [1, 2, 3])
        """
        if self.num_classes is None:
            if y is not None:
                raise InputValidationError(
                    "`y` given, but this VQ-VAE's prior is unconditional; build it with num_classes=K to "
                    "condition the prior on classes.")
            return self.code_maps(x, batch_size), None
        if not isinstance(x, tf.data.Dataset):
            maps = self.code_maps(x, batch_size)
            return maps, check_class_labels(y, len(maps), self.num_classes, name="y")
        if y is not None:
            raise InputValidationError("`y` must be None when `x` is a tf.data dataset: it yields (x, y) pairs itself.")
        if not (isinstance(x.element_spec, tuple) and len(x.element_spec) == 2):
            raise InputValidationError(
                f"`x` yields images only; this VQ-VAE's prior is class-conditional (num_classes={self.num_classes}) "
                "and trains on (images, labels) elements.")
        maps, labels = [], []
        for images, ids in x:  # one pass: each batch's labels stay with its code maps
            maps.append(self.code_maps(images.numpy(), batch_size))
            labels.append(check_class_labels(ids.numpy(), len(maps[-1]), self.num_classes, name="x labels"))
        if not maps:
            raise InputValidationError("`x` is an empty dataset; fit_prior needs at least one example.")
        return np.concatenate(maps), np.concatenate(labels)

    def fit_prior(self, x, y=None, epochs: int = 10, batch_size: int = 64, validation_data=None, optimizer="adam",
                  verbose="auto", **kwargs):
        """Trains the PixelCNN prior on the code maps of ``x`` (the auto-encoder stays fixed).

        Args:
            x: Images (encoded with :meth:`encode`; binarize grey images first if the
                bound will be evaluated on binarized data), or a ``tf.data.Dataset`` of them
                (as for :meth:`encode`; ``(x, y)`` elements for a class-conditional prior):
                read once, and the prior trains on the code maps kept in memory
                (``h' * w'`` floats per image).
            y: A class-conditional prior's labels for array ``x``, one class id per image;
                ``None`` for an unconditional prior.
            epochs: Passes over the code maps.
            batch_size: Code maps per step.
            validation_data: Images (an array, ``(x_val, y_val)`` for a conditional prior, or
                a dataset) whose code maps are the validation set.
            optimizer: Optimizer of the prior's first ``fit_prior`` (later calls continue with it).
            verbose: Keras' progress bar setting.
            **kwargs: Other arguments of the prior's ``fit`` (callbacks, ...).

        Returns:
            The prior's ``History`` (``nll`` in nats per code map).

        Example:
            ```python
            history = model.fit_prior(keras_ae.data.binarize(x_train, seed=0), epochs=20)
            sorted(history.history)  # ['bits_per_dim', 'loss', 'nll']
            conditional.fit_prior(keras_ae.data.binarize(x_train, seed=0), y_train, epochs=20)
            ```
        """
        prior = self._require_prior("fit_prior")
        maps, labels = self.labelled_code_maps(x, y)
        val = None
        if validation_data is not None:
            if self.num_classes is not None and isinstance(validation_data, (tuple, list)):
                val = self.labelled_code_maps(*validation_data)
            else:
                val = self.labelled_code_maps(validation_data)
            val = val if val[1] is not None else val[0]
        if not prior.compiled:
            prior.compile(optimizer=optimizer)
        return prior.fit(maps, labels, epochs=epochs, batch_size=batch_size, validation_data=val, verbose=verbose,
                         **kwargs)

    def sample_codes(self, n: int, seed: int | None = 0, labels=None, batch_size: int = 256, verbose: int = 0,
                     jit_compile: bool = False) -> np.ndarray:
        """Code maps ``(n, h', w')`` drawn from the prior with its compiled sampler.

        ``labels`` (one int or one per map) chooses the classes of a class-conditional prior.

        Example:
            ```python
            model.sample_codes(2, seed=0).shape  # (2, 7, 7) for 28x28 images
            ```
        """
        prior = self._require_prior("sample")
        n = check_count(n, "n", 4 * int(np.prod(prior.image_shape)), "code maps")
        maps = prior.sample(n, seed=seed, labels=labels, batch_size=batch_size, verbose=verbose,
                            jit_compile=jit_compile)
        return np.round(maps[..., 0] * (self.num_codes - 1)).astype(np.int32)

    def sample(self, n: int, seed: int | None = 0, labels=None, batch_size: int = 256, verbose: int = 0,
               jit_compile: bool = False) -> np.ndarray:
        """Draws ``n`` images: code maps from the prior, decoded (means of p(x | z_q)).

        Args:
            n: Number of images, an int >= 0; drawn and decoded in batches, refused when
                the result would exceed :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            seed: Any int; equal seeds give equal images. ``None``: a fresh seed.
            labels: The classes of a class-conditional prior: one int for all images or one
                per image (:func:`~keras_ae.validation.check_class_labels`); ``None`` otherwise.
            batch_size: Code maps sampled in parallel.
            verbose: 1 shows a progress bar.
            jit_compile: Compile the prior's sampling loop with XLA.

        Returns:
            Float32 images ``(n, *input_shape)``.

        Raises:
            InputValidationError: if the model has no prior, or for bad ``n`` / ``seed`` / ``labels``.

        Example:
            ```python
            images = model.sample(100, seed=0)  # (100, 28, 28, 1); the same seed gives the same images
            sevens = conditional.sample(10, seed=0, labels=7)  # a class-conditional prior
            ```
        """
        self._require_prior("sample")
        n = check_count(n, "n", 4 * int(np.prod(self.example_shape)))
        return self.decode(self.sample_codes(n, seed, labels, batch_size, verbose, jit_compile))
