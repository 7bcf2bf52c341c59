"""``GANInference``, the part of :class:`~keras_ae.models.gan.model.GAN` used outside ``fit``:
checks of user data against the generator's range, ``generate``/``sample``, and the export signatures."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_ae.export.endpoints import (ExportOptions, describe_data, make_endpoint,
                                       sample_endpoint, tensor_spec)
from keras_ae.random import next_stateless_seed, stateless_pair
from keras_ae.validation import check_array, check_class_labels, check_count, check_int, check_seed


class GANInference:
    """Mixin of :class:`~keras_ae.models.gan.model.GAN`: data checks, sampling and serving.

    It uses the GAN's ``generator``, ``ema_generator``, ``data_range``, ``num_classes``,
    ``latent_dim``, ``example_shape``, ``conditional`` and ``_generate``, and holds no
    state of its own.

    Example:
        >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
        >>> images = gan.generate(gan.latents(3, seed=0), unit_range=True)
        >>> images.shape, bool(images.min() >= 0.0 and images.max() <= 1.0)
        ((3, 8, 8, 1), True)
    """

    # -- validation at the boundary -------------------------------------------------
    def _range_hint(self) -> str:
        if self.data_range == (-1.0, 1.0):
            return "This generator ends in tanh: scale [0, 1] images with x * 2 - 1 (or gan.from_unit_range(x))."
        if self.data_range == (0.0, 1.0):
            return "This generator ends in sigmoid: scale 8-bit images with x / 255."
        return ""

    def validate_inputs(self, x, name: str = "x") -> np.ndarray:
        """Checks shape, dtype, NaN/inf and the data range of NumPy data; returns float32.

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
            >>> gan.validate_inputs(x_digits).dtype
            dtype('float32')
            >>> gan.validate_inputs(x_digits * 255)
            Traceback (most recent call last):
            ...
            keras_ae.errors.InputValidationError: `x` has values in [0, 255], outside ...
        """
        hint = self._range_hint()
        x = check_array(x, name, expected_shape=self.example_shape, value_range=self.data_range, range_hint=hint)
        if self.data_range == (-1.0, 1.0) and x.size and x.min() >= 0.0:
            warnings.warn(f"`{name}` lies in [0, 1] but the generator outputs [-1, 1] (tanh): {hint}", stacklevel=3)
        return x

    def validate_labels(self, y, n: int, name: str = "y") -> np.ndarray:
        """Checks integer class labels ``(n,)`` in ``[0, num_classes)``; returns int32.

        Example:
            >>> cgan = build_conditional_gan((8, 8, 1), num_classes=10, latent_dim=4, architecture="mlp")
            >>> cgan.validate_labels([0, 3], 2)
            array([0, 3], dtype=int32)
        """
        return check_class_labels(y, n, self.num_classes if self.conditional else None, name)

    # -- sampling --------------------------------------------------------------------
    @property
    def sampling_generator(self) -> keras.Model:
        """The network :meth:`sample` uses: the EMA generator if enabled, else ``generator``."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def to_unit_range(self, x) -> np.ndarray:
        """Maps data from the model's range to [0, 1] (for plots and sample metrics).

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,),
            ...                 data_range=(-1, 1))
            >>> gan.to_unit_range(np.array([-1.0, 1.0]))  # tanh model
            array([0., 1.], dtype=float32)
        """
        lo, hi = self.data_range or (0.0, 1.0)
        return (np.asarray(x, np.float32) - lo) / (hi - lo)

    def from_unit_range(self, x) -> np.ndarray:
        """Maps [0, 1] data (what ``load_dataset`` returns) to the generator's range.

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,),
            ...                 data_range=(-1, 1))
            >>> x = gan.from_unit_range(x_digits)  # what gan.fit takes
            >>> float(x.min()), float(x.max())
            (-1.0, 1.0)
        """
        lo, hi = self.data_range or (0.0, 1.0)
        return (np.asarray(x, np.float32) * (hi - lo) + lo).astype(np.float32)

    def generate(self, z, labels=None, use_ema: bool = True, batch_size: int = 256, unit_range: bool = False,
                 verbose: int = 0) -> np.ndarray:
        """Generator outputs for given latent vectors (inference mode).

        Args:
            z: Latent vectors ``(n, latent_dim)``.
            labels: Class ids ``(n,)`` for a conditional GAN.
            use_ema: Use the EMA generator (when the model has one).
            batch_size: Examples per forward pass (an integer >= 1).
            unit_range: Return images mapped to [0, 1] instead of the model's range.
            verbose: Show a progress bar (when there is more than one batch).

        Returns:
            A float32 array ``(n, *example_shape)``.

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
            >>> gan.generate(np.zeros((4, gan.latent_dim))).shape
            (4, 8, 8, 1)
        """
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        z = check_array(z, "z", expected_shape=(self.latent_dim,))
        network = self.sampling_generator if use_ema else self.generator
        labels = self.validate_labels(labels, len(z), "labels")
        if labels is not None:
            labels = labels.reshape(-1, 1)
        out = []
        progbar = keras.utils.Progbar(len(z), verbose=verbose if len(z) > batch_size else 0, unit_name="sample")
        for start in range(0, len(z), batch_size):
            zb = tf.constant(z[start:start + batch_size])
            lb = None if labels is None else tf.constant(labels[start:start + batch_size])
            out.append(np.asarray(self._generate(zb, lb, training=False, generator=network)))
            progbar.update(min(start + batch_size, len(z)))
        images = np.concatenate(out).astype(np.float32)
        return self.to_unit_range(images) if unit_range else images

    def latents(self, n: int, seed: int | None = None) -> np.ndarray:
        """The latent vectors ``z ~ N(0, I)`` that :meth:`sample` decodes for ``(n, seed)``.

        Drawn with ``tf.random.stateless_normal`` from :func:`keras_ae.random.stateless_pair`,
        as the exported ``sample`` signature draws them, so one seed gives the same images in
        Python and in TF Serving.

        Args:
            n: Number of latent vectors, an int >= 0.
            seed: Any int (same seed, same latents); ``None`` takes a fresh seed from the
                model's seed generator.

        Returns:
            float32 ``(n, latent_dim)``.

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
            >>> gan.latents(3, seed=0).shape, bool(np.array_equal(gan.latents(3, seed=0), gan.latents(3, seed=0)))
            ((3, 4), True)
        """
        n = check_int(n, "n", minimum=0)
        seed = check_seed(seed)
        pair = next_stateless_seed(self.seed_generator) if seed is None else stateless_pair(seed)
        return tf.random.stateless_normal((n, self.latent_dim), seed=pair).numpy()

    def sample(self, n: int, seed: int | None = None, labels=None, use_ema: bool = True,
               batch_size: int = 256, unit_range: bool = False, verbose: int = 1) -> np.ndarray:
        """Draws ``n`` samples ``G(z)``, ``z ~ N(0, I)``, with the EMA generator by default.

        Args:
            n: Number of samples, an int >= 0 (0: an empty array, as every family's ``sample``);
                generated in batches, refused when the result would exceed
                :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            seed: Any int seeding the latent draw (:meth:`latents`; same seed, same samples, also
                through the exported ``sample`` signature); ``None``: fresh noise.
            labels: Conditional GAN: one class id for all, or one per sample ``(n,)`` (required;
                :func:`~keras_ae.validation.check_class_labels`); an unconditional GAN takes none.
            use_ema, batch_size, unit_range, verbose: As for :meth:`generate`.

        Returns:
            ``generate(z, labels, ...)`` of the drawn ``z``: float32 ``(n, *example_shape)``.

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
            >>> grid = gan.sample(16, seed=0, unit_range=True)
            >>> grid.shape, bool(np.array_equal(grid, gan.sample(16, seed=0, unit_range=True)))
            ((16, 8, 8, 1), True)
        """
        # The latents are drawn at once, then the images generated batch by batch.
        n = check_count(n, "n", 4 * (int(np.prod(self.example_shape)) + self.latent_dim), "samples")
        z = self.latents(n, seed)
        if n == 0:  # generate() refuses an empty batch of latents; no samples asked for is a valid request
            check_int(batch_size, "batch_size", minimum=1)
            self.validate_labels(labels, 0, "labels")
            return np.zeros((0, *self.example_shape), np.float32)
        return self.generate(z, labels, use_ema=use_ema, batch_size=batch_size, unit_range=unit_range, verbose=verbose)

    # -- serving: the export signatures of the family ----------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``generate``: latents (and ``labels`` for a conditional GAN) -> images in the
        model's data range; ``sample``: ``count``, ``seed`` (and ``labels``) -> images and
        latents, the images of ``sample(count, seed=seed)`` (the latents of :meth:`latents`).
        Both use the generator :meth:`sample` uses (the EMA generator when there is one).
        The discriminator is not exported.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
            >>> [e.name for e in gan.serving_endpoints(ExportOptions())]
            ['generate', 'sample']
        """
        network = self.sampling_generator
        inputs = {"latents": tensor_spec((self.latent_dim,), "latents")}
        ranges = {}
        if self.conditional:
            inputs["labels"] = tf.TensorSpec((None,), tf.int32, name="labels")
            ranges["labels"] = (0, self.num_classes - 1)

        def generate(latents, labels=None):
            if labels is None:
                return {"images": network(latents, training=False)}
            return {"images": network([latents, tf.reshape(labels, [-1, 1])], training=False)}

        def draw(count, seed):
            return tf.random.stateless_normal(tf.stack([count, self.latent_dim]), seed=stateless_pair(seed))

        doc = "latents" + (", labels" if self.conditional else "") + " -> images"

        def sample(count, seed, labels=None):
            z = draw(count, seed)
            return {**generate(z, labels), "latents": z}

        return [make_endpoint("generate", generate, inputs, doc, ranges),
                sample_endpoint(sample, "images, latents", "z ~ N(0, I), as GAN.sample",
                                num_classes=self.num_classes if self.conditional else None)]

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: latents, output range, conditioning."""
        return {
            "input": describe_data("latents", (self.latent_dim,), None),
            "code_size": self.latent_dim,
            "latent_dim": self.latent_dim,
            "output": describe_data("images", self.example_shape, self.data_range),
            "conditional": self.conditional,
            "num_classes": self.num_classes,
            "generator": "ema_generator" if self.ema_generator is not None else "generator",
        }
