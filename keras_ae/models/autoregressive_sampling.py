"""``AutoregressiveSampling``, the samplers of
:class:`~keras_ae.models.autoregressive.AutoregressiveModel`: the compiled pixel loop
(``sample``, ``complete``), the textbook ``sample_naive``, and the counter-based random
numbers (:func:`counter_uniform`) that make both draw the same images for a seed."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.export.endpoints import MAX_SAMPLE_COUNT
from keras_ae.models.common import check_int
from keras_ae.random import batch_seed, sampler_seed
from keras_ae.validation import check_class_labels, check_count, check_verbose


def _u32(value: int):
    return tf.constant(value, tf.uint32)


def _mix32(x):
    """The "lowbias32" integer hash (C. Wellons): a bijection of uint32 with good avalanche."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16))) * _u32(0x7FEB352D)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(15))) * _u32(0x846CA68B)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))


def counter_uniform(shape: tf.Tensor | Sequence[int], seed: int | tf.Tensor, index: int | tf.Tensor) -> tf.Tensor:
    """Uniform numbers in (0, 1) as a pure function of ``(seed, index, position)``.

    A counter-based generator made of integer ops only, so it returns the same bits
    eagerly, in ``tf.function`` and under XLA (TF's stateless Philox does not: XLA
    derives its key differently). The samplers draw pixel ``index`` with it, so the
    compiled and the naive sampler produce identical images.

    Args:
        shape: Output shape (an int32 tensor or a list of ints).
        seed: The seed, an int or an integer tensor (cast to uint64).
        index: The pixel index (raster order, colours innermost), an int or an integer tensor.

    Returns:
        float32 tensor of ``shape`` with values ``(k + 0.5) / 2**24``.

    Example:
        >>> float(counter_uniform([1], 0, 0)[0]) == float(counter_uniform([1], 0, 0)[0])
        True
    """
    seed = tf.cast(seed, tf.uint64)
    lo = tf.cast(tf.bitwise.bitwise_and(seed, tf.constant(0xFFFFFFFF, tf.uint64)), tf.uint32)
    hi = tf.cast(tf.bitwise.right_shift(seed, tf.constant(32, tf.uint64)), tf.uint32)
    key = _mix32(tf.bitwise.bitwise_xor(_mix32(tf.bitwise.bitwise_xor(lo, _mix32(hi))), tf.cast(index, tf.uint32)))
    ids = tf.cast(tf.range(tf.reduce_prod(shape)), tf.uint32) * _u32(0x9E3779B9)
    bits = tf.bitwise.right_shift(_mix32(tf.bitwise.bitwise_xor(ids, key)), _u32(8))
    return tf.reshape((tf.cast(bits, tf.float32) + 0.5) * (2.0 ** -24), shape)


class AutoregressiveSampling:
    """Mixin of :class:`~keras_ae.models.autoregressive.AutoregressiveModel`: its samplers.

    It uses the model's ``image_shape``, ``levels``, ``binary``, ``receptive_rows``,
    ``seed_generator`` and ``__call__``; its state is the cached ``_compiled_sampler``,
    which the model's ``__init__`` sets. The row hooks (``_begin_row``, ``_row_logits``,
    ``_initial_row_state``, ``_begin_row_with_state``, ``_end_row``) are what PixelCNN and
    PixelRNN override. Each hook takes the images' ``labels`` (int32 ``(n,)``) as a last
    argument, ``None`` for an unconditional model.

    Example:
        ```python
        model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
        images = model.sample(4, seed=0)  # float32 (4, 8, 8, 1) of 0s and 1s
        x = keras_ae.data.binarize(x_digits_test[:4], seed=0)
        filled = model.complete(x, rows_observed=6, seed=0)  # keeps the top 6 rows of x
        same = model.sample_naive(4, seed=0)  # the Python pixel loop: equal to `images`
        ```
    """

    def _draw(self, logit, seed, index):
        """Samples pixel values from ``logit`` ((n,) or (n, levels)) with a stateless seed.

        Keyed by ``(seed, index)``: the compiled and the naive samplers draw the same numbers.
        """
        logit = tf.cast(logit, tf.float32)
        u = counter_uniform(tf.shape(logit), seed, index)
        if self.binary:
            return tf.cast(u < tf.sigmoid(logit), tf.float32)
        level = tf.argmax(logit - tf.math.log(-tf.math.log(u)), axis=-1)  # Gumbel-max
        # A lookup, not a division: graph rewrites of x / 255 could change the last bit.
        return tf.gather(np.arange(self.levels, dtype=np.float32) / (self.levels - 1), level)

    def _put(self, x, value, index):
        """Writes ``value`` ((n,)) at flat raster position ``index`` of images ``x``."""
        h, w, c = self.image_shape
        at = tf.reshape(tf.equal(tf.range(h * w * c), index), (1, h, w, c))
        return tf.where(at, tf.cast(value, x.dtype)[:, None, None, None], x)

    def _band(self, x, row):
        """The band of rows the pixels of ``row`` can see, and ``row``'s index in it."""
        h = self.image_shape[0]
        height = h if self.receptive_rows is None else min(h, self.receptive_rows + 1)
        if height == h:
            return x, row
        start = tf.clip_by_value(row - self.receptive_rows, 0, h - height)
        band = tf.slice(x, tf.stack([0, start, 0, 0]), tf.stack([tf.shape(x)[0], height, -1, -1]))
        return band, row - start

    def _begin_row(self, x, row, labels=None):
        """Work shared by the pixels of ``row`` (nothing by default)."""
        return ()

    def _row_logits(self, x, row, cache, labels=None):
        """Logits of every pixel of ``row`` given the current images ``x``: ``(n, w, c[, levels])``."""
        band, r = self._band(x, row)
        return tf.gather(self.logits(band, labels, training=False), r, axis=1)

    # Recurrent models (PixelRNN's Row LSTM) carry a state from row to row instead of
    # recomputing the rows above: these three hooks do nothing for the others.
    def _initial_row_state(self, x, first_row, labels=None):
        """The state carried into row ``first_row`` (a nest of tensors; none by default)."""
        return ()

    def _begin_row_with_state(self, x, row, state, labels=None):
        """``_begin_row`` given the state carried from the row above (ignored by default)."""
        return self._begin_row(x, row, labels)

    def _end_row(self, x, row, cache, state, labels=None):
        """The state carried into the next row, once ``row`` is drawn (unchanged by default)."""
        return state

    def _sample_loop(self, x, first_row, seed, labels=None):
        h, w, c = self.image_shape

        def row_body(i, x, state):
            cache = self._begin_row_with_state(x, i, state, labels)

            def pixel_body(j, x):
                for k in range(c):  # colours of one pixel, one after another
                    logit = tf.gather(self._row_logits(x, i, cache, labels), j, axis=1)[:, k]
                    index = (i * w + j) * c + k
                    x = self._put(x, self._draw(logit, seed, index), index)
                return j + 1, x

            x = tf.while_loop(lambda j, _: j < w, pixel_body, (tf.constant(0), x))[1]
            return i + 1, x, self._end_row(x, i, cache, state, labels)

        state = self._initial_row_state(x, first_row, labels)
        return tf.while_loop(lambda i, *_: i < h, row_body, (first_row, x, state))[1]

    def _sampler_seed(self, seed: int | None) -> int:
        """A validated int seed; ``None`` takes a fresh one from the model's random stream (as the VAE does)."""
        return sampler_seed(seed, self.seed_generator)

    @staticmethod
    def _batch_seed(seed: int, batch: int) -> int:
        return batch_seed(seed, batch)

    def _run_sampler(self, x, first_row: int, seed: int, batch_size: int, verbose: int,
                     jit_compile: bool, labels: np.ndarray | None = None) -> np.ndarray:
        if len(x) == 0:  # nothing to draw: skip tracing the sampler
            return np.zeros((0, *self.image_shape), np.float32)
        if self._compiled_sampler is None or self._compiled_sampler[0] != jit_compile:
            spec = [tf.TensorSpec((None, *self.image_shape), tf.float32), tf.TensorSpec((), tf.int32),
                    tf.TensorSpec((), tf.int64)]
            if self.num_classes is not None:  # the class ids, one per image
                spec.append(tf.TensorSpec((None,), tf.int32))
            self._compiled_sampler = (jit_compile, tf.function(self._sample_loop, input_signature=spec,
                                                               jit_compile=jit_compile))
        fn = self._compiled_sampler[1]
        bar = keras.utils.Progbar(len(x), verbose=verbose, unit_name="image")
        out = []
        for b, start in enumerate(range(0, len(x), batch_size)):
            args = [tf.constant(x[start:start + batch_size]), tf.constant(first_row, tf.int32),
                    tf.constant(self._batch_seed(seed, b), tf.int64)]
            if labels is not None:
                args.append(tf.constant(labels[start:start + batch_size], tf.int32))
            out.append(fn(*args).numpy())
            bar.add(len(out[-1]))
        return np.concatenate(out)

    def sample(self, n: int, seed: int | None = 0, labels=None, batch_size: int = 256, verbose: int = 0,
               jit_compile: bool = True) -> np.ndarray:
        """Draws ``n`` images, one pixel (and colour) at a time, in one compiled loop.

        Args:
            n: Number of images, an int >= 0 (0 gives an empty ``(0, h, w, c)`` array); drawn
                in batches, refused when the result would exceed
                :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            seed: Any int; the same seed gives the same images. ``None`` draws a fresh
                seed from the model's random stream (new images on every call), as
                :meth:`VAE.sample <keras_ae.models.vae.VAE.sample>` does.
            labels: A class-conditional model's classes: one int for all ``n`` images or one
                per image (:func:`~keras_ae.validation.check_class_labels`); ``None`` for an
                unconditional model. Image ``i`` is the same for a seed whatever the other labels.
            batch_size: Images sampled in parallel, an int >= 1.
            verbose: 1 shows a progress bar over batches.
            jit_compile: Compile the loop with XLA.

        Returns:
            float32 images ``(n, h, w, c)`` with values ``level / (levels - 1)``.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> images = model.sample(4, seed=0, jit_compile=False)
            >>> images.shape, np.unique(images)
            ((4, 8, 8, 1), array([0., 1.], dtype=float32))
            >>> conditional = build_pixelcnn((8, 8, 1), filters=8, blocks=1, num_classes=10)
            >>> conditional.sample(3, seed=0, labels=[1, 2, 3], jit_compile=False).shape  # a digit class per image
            (3, 8, 8, 1)
        """
        # The starting images and the drawn ones: twice the result.
        n = check_count(n, "n", 2 * 4 * int(np.prod(self.image_shape)))
        labels = check_class_labels(labels, n, self.num_classes, name="labels")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        seed = self._sampler_seed(seed)
        x = np.zeros((n, *self.image_shape), np.float32)
        return self._run_sampler(x, 0, seed, batch_size, verbose, jit_compile, labels)

    def complete(self, x, rows_observed: int, seed: int | None = 0, labels=None, batch_size: int = 256,
                 verbose: int = 0, jit_compile: bool = True) -> np.ndarray:
        """Image completion: keeps the top ``rows_observed`` rows and samples the rest.

        Args:
            x: Images ``(n, h, w, c)`` (rows from ``rows_observed`` on are ignored) or just
                their top rows ``(n, rows_observed, w, c)``.
            rows_observed: Number of observed rows, ``1 <= rows_observed <= h``.
            seed: Any int, or ``None`` for a fresh seed from the model's random stream.
            labels: A class-conditional model's classes (one int or one per image), else ``None``.
            batch_size: Images completed in parallel, an int >= 1.
            verbose: 1 shows a progress bar.
            jit_compile: Compile the loop with XLA.

        Returns:
            float32 completed images ``(n, h, w, c)``.

        Raises:
            InputValidationError: if no pixel is observed (``rows_observed < 1``), for too
                many rows, or for images the model cannot score.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> x = keras_ae.data.binarize(x_digits_test[:4], seed=0)
            >>> filled = model.complete(x, rows_observed=6, seed=0, jit_compile=False)
            >>> filled.shape, np.array_equal(filled[:, :6], x[:, :6])  # the observed rows are kept
            ((4, 8, 8, 1), True)
        """
        h = self.image_shape[0]
        rows_observed = check_int(rows_observed, "rows_observed")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        seed = self._sampler_seed(seed)
        if rows_observed < 1:
            raise InputValidationError(
                f"rows_observed={rows_observed}: a completion needs at least one observed row; "
                "use sample(n) to draw images from scratch."
            )
        if rows_observed > h:
            raise InputValidationError(f"rows_observed={rows_observed} exceeds the image height {h}.")
        arr = np.asarray(x)
        if arr.ndim >= 2 and rows_observed <= arr.shape[1] <= h:
            arr = arr[:, :rows_observed]  # the unobserved rows are ignored
        top = self.validate_images(arr, "x", rows=rows_observed)
        labels = check_class_labels(labels, len(top), self.num_classes, name="labels")
        start = np.zeros((len(top), *self.image_shape), np.float32)
        start[:, :rows_observed] = top
        return self._run_sampler(start, rows_observed, seed, batch_size, verbose, jit_compile, labels)

    def sample_naive(self, n: int, seed: int | None = 0, verbose: int = 0,
                     compiled_forward: bool = False, labels=None) -> np.ndarray:
        """The baseline sampler: a Python loop over pixels calling the full model each time.

        Draws the same random numbers as :meth:`sample` (for one batch), so it returns the
        same images for the same seed; only slower. Kept for benchmarks and tests.

        Args:
            n: Number of images (one batch), an int in [0, 10,000] (:meth:`sample` draws more).
            seed: Any int, or ``None`` for a fresh seed from the model's random stream.
            verbose: 1 shows a progress bar over pixels.
            compiled_forward: Wrap the model call in ``tf.function`` (the loop stays in Python).
            labels: A class-conditional model's classes (one int or one per image), else ``None``.

        Returns:
            float32 images ``(n, h, w, c)``.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> slow = model.sample_naive(2, seed=0, compiled_forward=True)
            >>> np.array_equal(slow, model.sample(2, seed=0, jit_compile=False))
            True
        """
        n = check_count(n, "n", 4 * int(np.prod(self.image_shape)), maximum=MAX_SAMPLE_COUNT,
                        advice="sample_naive runs the whole network on one batch; sample() draws more in batches")
        labels = check_class_labels(labels, n, self.num_classes, name="labels")
        verbose = check_verbose(verbose)
        seed = self._sampler_seed(seed)
        h, w, c = self.image_shape
        if n == 0:
            return np.zeros((0, h, w, c), np.float32)
        labels = None if labels is None else tf.constant(labels, tf.int32)

        def forward(images):  # the full model on the full images
            return self.logits(images, labels, training=False)

        if compiled_forward:
            forward = tf.function(forward)
        x = tf.zeros((n, h, w, c))
        seed = tf.constant(self._batch_seed(seed, 0), tf.int64)  # batch 0's stream in sample()
        bar = keras.utils.Progbar(h * w * c, verbose=verbose, unit_name="pixel")
        for index in range(h * w * c):
            i, j, k = index // (w * c), (index // c) % w, index % c
            logit = forward(x)[:, i, j, k]
            x = self._put(x, self._draw(logit, seed, index), index)
            bar.add(1)
        return x.numpy()
