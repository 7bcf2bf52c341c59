"""``AutoregressiveLikelihood``, the exact likelihoods of
:class:`~keras_ae.models.autoregressive.AutoregressiveModel` outside ``fit``:
``log_likelihood`` and ``bits_per_dim`` of arrays or datasets, batch by batch."""

from __future__ import annotations

import keras
import numpy as np

from keras_ae.errors import InputValidationError
import tensorflow as tf

from keras_ae.evaluation.likelihood import bits_per_dim
from keras_ae.models.common import check_int
from keras_ae.training import DataSpec
from keras_ae.training.batches import example_count, input_errors, iterate_batches
from keras_ae.training.data_checks import check_dataset
from keras_ae.validation import check_class_labels, check_verbose


class AutoregressiveLikelihood:
    """Mixin of :class:`~keras_ae.models.autoregressive.AutoregressiveModel`: likelihood evaluation.

    It uses the model's ``image_shape``, ``levels``, ``num_dims``, ``log_prob``,
    ``validate_images`` and ``__call__``; its state is the cached ``_compiled_log_prob``,
    which the model's ``__init__`` sets.

    Example:
        ```python
        model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
        x = keras_ae.data.binarize(x_digits_test, seed=0)
        nats = model.log_likelihood(x)  # float64 (64,): log p(x) of each image
        bits = model.bits_per_dim(x)  # -nats / (64 * log 2)
        ```
    """

    def _labelled_batches(self, x, labels, batch_size: int, spec: DataSpec):
        """``(images, labels)`` batches of a conditional model's arrays, or of a dataset of ``(x, y)``."""
        if not isinstance(x, tf.data.Dataset):
            for start in range(0, len(x), batch_size):
                yield x[start:start + batch_size], labels[start:start + batch_size]
            return
        if labels is not None:
            raise InputValidationError("`labels` must be None when `x` is a tf.data dataset: it yields "
                                       "(images, labels) pairs itself.")
        first = x.element_spec[0] if isinstance(x.element_spec, tuple) else x.element_spec
        if isinstance(first, tf.TensorSpec) and first.shape.rank == len(self.image_shape):
            x = x.batch(batch_size)  # one example per element
        iterator, index = iter(check_dataset(x, spec, "x").prefetch(2)), 0
        while True:
            index += 1
            with input_errors(f"log_likelihood (batch {index})"):
                try:
                    images, y = next(iterator)
                except StopIteration:
                    return
            yield images, y

    def log_likelihood(self, x, labels=None, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Exact ``log p(x)`` of each image, in nats (``log p(x | y)`` for a class-conditional model).

        Args:
            x: Images the model can score (binary for a binary model), or a
                ``tf.data.Dataset`` of them (``x`` or ``(x, y)``; unbatched datasets are
                batched with ``batch_size``), read one batch at a time and checked batch by
                batch (range, levels). An unconditional model ignores a dataset's labels; a
                class-conditional one needs ``(x, y)`` elements and scores each image under its ``y``.
            labels: A class-conditional model's classes for array ``x``: one int for every
                image or one per image (:func:`~keras_ae.validation.check_class_labels`);
                ``None`` for an unconditional model.
            batch_size: Images per forward pass, an int >= 1.
            verbose: 1 shows a progress bar with the mean log-likelihood of the images so far.

        Returns:
            float64 array ``(n,)``; the test NLL is ``-log_likelihood(x).mean()``.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> ll = model.log_likelihood(keras_ae.data.binarize(x_digits_test, seed=0))
            >>> ll.shape, ll.dtype, bool(np.all(ll < 0))
            ((64,), dtype('float64'), True)
            >>> conditional = build_pixelcnn((8, 8, 1), filters=8, blocks=1, num_classes=10)
            >>> conditional.log_likelihood(keras_ae.data.binarize(x_digits_test[:3], seed=0), labels=[0, 1, 2]).shape
            (3,)
        """
        if not isinstance(x, tf.data.Dataset):  # a dataset is checked batch by batch as it is read
            x = self.validate_images(x)
            labels = check_class_labels(labels, len(x), self.num_classes, name="labels")
        elif not self.conditional:
            check_class_labels(labels, 0, None, name="labels")  # refuses labels for an unconditional model
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        if self._compiled_log_prob is None:
            spec = [tf.TensorSpec((None, *self.image_shape), tf.float32)]
            if self.conditional:
                spec.append(tf.TensorSpec((None,), tf.int32))
            self._compiled_log_prob = tf.function(
                lambda b, *y: self.log_prob(b, self.logits(b, y[0] if y else None, training=False)),
                input_signature=spec)
        target = example_count(x)
        # Stateful: shown as given. Progbar's own average ends on the last batch's value.
        bar = keras.utils.Progbar(target, verbose=verbose, unit_name="image", stateful_metrics=["log_likelihood"])
        out = []
        total, done = 0.0, 0
        data_spec = DataSpec(self.image_shape, (0.0, 1.0), "Scale 8-bit images to [0, 1] with x / 255.",
                             targets="labels" if self.conditional else "ignored", num_classes=self.num_classes,
                             levels=self.levels)
        if self.conditional:
            batches = ((tf.cast(b, tf.float32), tf.cast(tf.reshape(y, [-1]), tf.int32))
                       for b, y in self._labelled_batches(x, labels, batch_size, data_spec))
        else:
            batches = ((tf.cast(b, tf.float32),) for b in iterate_batches(x, batch_size, data_spec, "x",
                                                                         where="log_likelihood"))
        for batch in batches:
            out.append(self._compiled_log_prob(*batch).numpy().astype(np.float64))
            total, done = total + float(out[-1].sum()), done + len(out[-1])
            bar.update(done, values=[("log_likelihood", total / done)], finalize=False if target is None else None)
        if target is None and verbose:
            # An open-ended bar prints its final line only when told the stream has ended.
            bar.update(done, values=[("log_likelihood", total / max(done, 1))], finalize=True)
        return np.concatenate(out) if out else np.zeros(0, np.float64)

    def bits_per_dim(self, x, labels=None, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Negative log-likelihood of each image in bits per dimension (pixel x channel).

        Args:
            x: Images the model can score, or a ``tf.data.Dataset`` of them (as for
                :meth:`log_likelihood`).
            labels: A class-conditional model's classes (as for :meth:`log_likelihood`).
            batch_size: Images per forward pass, an int >= 1.
            verbose: 1 shows a progress bar (with the running mean log-likelihood in nats).

        Returns:
            float64 array ``(n,)``.

        Example:
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> x = keras_ae.data.binarize(x_digits_test, seed=0)
            >>> np.allclose(model.bits_per_dim(x), -model.log_likelihood(x) / (64 * np.log(2)))
            True
        """
        return bits_per_dim(-self.log_likelihood(x, labels, batch_size=batch_size, verbose=verbose), self.num_dims)
