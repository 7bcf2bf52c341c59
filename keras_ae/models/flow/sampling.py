"""``RealNVPSampling``, the bijection of :class:`~keras_ae.models.flow.model.RealNVP` on 8-bit images
and sampling: ``encode`` / ``codes`` / ``decode`` / ``sample``, each run batch by batch through one
compiled step."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.common import check_int, check_seed
from keras_ae.models.flow.likelihood import BINS
from keras_ae.random import next_stateless_seed, stateless_pair
from keras_ae.training.batches import run_batches
from keras_ae.validation import check_array, check_count, check_verbose


class RealNVPSampling:
    """Mixin of :class:`~keras_ae.models.flow.model.RealNVP`: images to latents and back, and sampling.

    It uses the flow's ``inverse``, ``validate_images``, ``_inference_spec``, ``_compiled_fn``,
    ``image_shape``, ``num_dims`` and ``seed_generator``, and holds no state of its own.

    Example:
        >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
        >>> flow.sample(4, seed=0).shape  # 8-bit images k / 255
        (4, 8, 8, 1)
    """

    def _latents_to_images(self, z, quantize: bool) -> tf.Tensor:
        y = tf.clip_by_value(self.inverse(z), 0.0, 1.0)
        if not quantize:
            return y
        k = tf.cast(tf.clip_by_value(tf.floor(y * BINS), 0.0, BINS - 1.0), tf.int32)
        # A lookup, not a division: graph rewrites of k / 255 could change the last bit.
        return tf.gather(np.arange(BINS, dtype=np.float32) / (BINS - 1), k)

    def _check_latents(self, z, name: str = "z") -> np.ndarray:
        z = check_array(z, name)
        if z.ndim != 2 or z.shape[1] != self.num_dims:
            raise InputValidationError(f"`{name}` has shape {z.shape}; the model's latents are (n, {self.num_dims}).")
        return z

    def _batched(self, key: str, fn, spec, data, batch_size: int, verbose: int, unit: str) -> np.ndarray:
        """``fn`` over a checked array, or over a ``tf.data`` dataset of images read batch by batch
        and checked like :meth:`log_likelihood`'s (``_inference_spec``, labels dropped)."""
        return run_batches(self._compiled_fn(key, fn, spec), data, batch_size, self._inference_spec(), key,
                           spec[0].dtype, verbose, unit)

    def encode(self, x, batch_size: int = 256) -> np.ndarray:
        """Latents ``z = f(y)`` of 8-bit images at the centres of their bins, ``y = (k + 0.5) / 256``.

        Args:
            x: 8-bit images (uint8, or floats ``k / 255``), or a ``tf.data.Dataset`` of them
                (``x`` or ``(x, y)``, labels ignored; batched or not), read one batch at a
                time and checked like arrays.
            batch_size: Images per compiled step (for arrays and unbatched datasets).

        Returns:
            float32 ``(n, D)``; :meth:`decode` maps it back to ``x`` exactly.

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> flow.encode(np.round(x_digits[:3] * 255) / 255).shape
            (3, 64)
        """
        if not isinstance(x, tf.data.Dataset):
            x = self.validate_images(x)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        spec = [tf.TensorSpec((None, *self.image_shape), tf.float32)]
        out = self._batched("encode", lambda b: self(b), spec, x, batch_size, 0, "image")
        return np.zeros((0, self.num_dims), np.float32) if out is None else out  # an empty dataset

    def codes(self, x, batch_size: int = 256) -> np.ndarray:
        """The code API of every family: the latents of :meth:`encode`.

        Args:
            x: 8-bit images, or a ``tf.data.Dataset`` of them (as for :meth:`encode`).
            batch_size: Images per compiled step (for arrays and unbatched datasets).

        Returns:
            float32 ``(n, D)``.

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> flow.codes(np.round(x_digits[:3] * 255) / 255).dtype
            dtype('float32')
        """
        return self.encode(x, batch_size)

    def decode(self, z, quantize: bool = True, batch_size: int = 256) -> np.ndarray:
        """Images of latents ``z``: ``y = f^-1(z)``, as 8-bit images ``floor(256 y) / 255`` or continuous ``y``.

        Args:
            z: Latents ``(n, D)``.
            quantize: Return 8-bit images ``k / 255`` (``False``: the continuous ``y`` in [0, 1]).
            batch_size: Latents per compiled step.

        Returns:
            float32 ``(n, h, w, c)``.

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> flow.decode(np.zeros((2, 64), "float32")).shape
            (2, 8, 8, 1)
        """
        z = self._check_latents(z)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        spec = [tf.TensorSpec((None, self.num_dims), tf.float32)]
        key = "decode" if quantize else "decode_continuous"
        out = self._batched(key, lambda b: self._latents_to_images(b, bool(quantize)), spec, z, batch_size, 0, "image")
        return np.zeros((0, *self.image_shape), np.float32) if out is None else out

    def sample(self, n: int, seed: int | None = 0, temperature: float = 1.0, quantize: bool = True,
               batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Draws ``n`` images: ``z ~ N(0, temperature^2 I)``, then ``f^-1(z)``.

        Args:
            n: Number of images, an int >= 0; decoded in batches, refused when the images
                and their latents would exceed :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            seed: Any int (equal seeds, equal images); ``None`` draws a fresh seed from the
                model's random stream.
            temperature: Scale of the latents, > 0 (below 1: smoother, more typical images).
            quantize: 8-bit images ``k / 255`` (``False``: continuous values in [0, 1]).
            batch_size: Images decoded per compiled step.
            verbose: 1 shows a progress bar.

        Returns:
            float32 ``(n, h, w, c)``.

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> images = flow.sample(4, seed=0, temperature=0.7)
            >>> images.shape, np.array_equal(images, flow.sample(4, seed=0, temperature=0.7))
            ((4, 8, 8, 1), True)
        """
        n = check_count(n, "n", 2 * 4 * self.num_dims)  # the latents are drawn at once, as big as the images
        seed = check_seed(seed)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating)) \
                or not 0 < temperature < math.inf:
            raise InputValidationError(f"`temperature` must be a finite number > 0, got {temperature!r}.")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        pair = next_stateless_seed(self.seed_generator) if seed is None else stateless_pair(seed)
        z = tf.random.stateless_normal((n, self.num_dims), seed=pair).numpy() * np.float32(temperature)
        spec = [tf.TensorSpec((None, self.num_dims), tf.float32)]
        key = "decode" if quantize else "decode_continuous"
        out = self._batched(key, lambda b: self._latents_to_images(b, bool(quantize)), spec, z, batch_size, verbose,
                            "image")
        return np.zeros((0, *self.image_shape), np.float32) if out is None else out
