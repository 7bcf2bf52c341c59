"""``DiffusionLikelihood``, the variational bound of :class:`~keras_ae.models.diffusion.model.DiffusionModel`
(Ho et al. Eq. 5 with the discretized Gaussian decoder): ``log_likelihood`` in nats and ``bits_per_dim``.
A class-conditional model scores ``log p(x | label)`` (the conditional network, no guidance)."""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.evaluation.likelihood import bits_per_dim
from keras_ae.models.common import check_int, check_seed
from keras_ae.models.diffusion.schedules import variational_bound
from keras_ae.random import wrap_int
from keras_ae.training import DataSpec
from keras_ae.training.batches import example_count, input_errors, iterate_batches
from keras_ae.training.data_checks import check_dataset
from keras_ae.validation import check_class_labels, check_verbose

_RANGE_HINT = "Scale 8-bit images to [0, 1] with x.astype('float32') / 255."


class DiffusionLikelihood:
    """Mixin of :class:`~keras_ae.models.diffusion.model.DiffusionModel`: the bound per image.

    It uses the model's ``predict_noise``, ``sampling_network``, ``validate_images``,
    ``schedule``, ``timesteps``, ``ema_network``, ``image_shape``, ``num_dims``, ``num_classes``,
    ``_batch_seed`` and ``_compiled`` cache, and holds no state of its own.

    Example:
        ```python
        (x_train, _), (x_test, _) = keras_ae.load_dataset("mnist10k")
        model = build_diffusion((28, 28, 1))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x_train, epochs=20, batch_size=128)
        bpd = model.bits_per_dim(x_test[:500], timesteps=100)  # a bound per image, from 100 of the T terms
        print(bpd.mean())
        ```
    """

    def _bound(self, network, x, seed, timesteps=None, labels=None) -> dict[str, tf.Tensor]:
        """Ho et al.'s Eq. 5 terms of images ``x`` in [0, 1] (nats per image); conditioned on ``labels``
        (int32, a conditional model) without guidance."""
        x0 = 2.0 * tf.cast(x, tf.float32) - 1.0

        def eps_fn(x_t, t):
            return self.predict_noise(network, x_t, t, labels=labels)

        return variational_bound(self.schedule, eps_fn, x0, seed, decoder="discretized", timesteps=timesteps)

    def _compiled_bound(self, use_ema: bool):
        key = ("bound", use_ema and self.ema_network is not None)
        if key not in self._compiled:
            network = self.sampling_network(use_ema)
            signature = [tf.TensorSpec((None, *self.image_shape), tf.float32), tf.TensorSpec((), tf.int64),
                         tf.TensorSpec([None], tf.int32)]
            if self.num_classes is not None:
                signature.append(tf.TensorSpec([None], tf.int32))
            self._compiled[key] = tf.function(
                lambda x, seed, ts, *labels: self._bound(network, x, seed, ts, *labels), autograph=False,
                input_signature=signature)
        return self._compiled[key]

    def _labelled_batches(self, x, labels, batch_size: int, spec: DataSpec):
        """``(images, labels)`` batches of a conditional model: an array with its checked labels, or a
        dataset of ``(images, labels)`` checked batch by batch."""
        if not isinstance(x, tf.data.Dataset):
            labels = check_class_labels(labels, len(x), self.num_classes, name="labels")
            yield from ((x[i:i + batch_size], labels[i:i + batch_size]) for i in range(0, len(x), batch_size))
            return
        if labels is not None:
            raise InputValidationError("`labels` must be None when `x` is a tf.data dataset: it yields "
                                       "(images, labels) pairs itself.")
        element = x.element_spec[0] if isinstance(x.element_spec, tuple) else x.element_spec
        if element.shape.rank == len(self.image_shape):  # one example per element
            x = x.batch(batch_size)
        iterator = iter(check_dataset(x, spec, "x"))
        for index in itertools.count(1):
            with input_errors(f"log_likelihood (batch {index})"):
                try:
                    images, y = next(iterator)
                except StopIteration:
                    return
            yield images, tf.reshape(tf.cast(y, tf.int32), [-1])

    def log_likelihood(self, x, labels=None, batch_size: int = 100, timesteps: int | None = None, seed: int = 0,
                       use_ema: bool = True, verbose: int = 0, return_terms: bool = False):
        """The variational lower bound on ``log p(x)`` of each 8-bit image, in nats (Ho et al. Eq. 5).

        ``-log_likelihood(x)`` is ``L_T + sum_{t>1} L_{t-1} + L_0`` with the discretized
        Gaussian decoder ``L_0``: an upper bound on the NLL of the 8-bit image (one draw
        of ``x_t`` per term).

        Args:
            x: Images in [0, 1] on the 8-bit grid (``k / 255``), or a ``tf.data.Dataset``
                of them (``x`` or ``(x, y)``; labels ignored by an unconditional model, required
                by a conditional one), checked batch by batch.
            labels: Class-conditional models only (required with an array ``x``): one class
                id per image or one for all; the bound of ``log p(x | label)``, no guidance.
            batch_size: Images per compiled pass, an int >= 1.
            timesteps: ``None`` sums all ``T - 1`` terms ``L_{t-1}`` (``T`` network calls
                per batch); an int ``k`` estimates their sum from ``k`` distinct timesteps
                drawn uniformly per batch (unbiased, ``k + 1`` calls).
            seed: Int seed of the draws of ``x_t`` (and of the timesteps).
            use_ema: Score with the EMA weights (what :meth:`sample` uses).
            verbose: 1 shows a progress bar with the mean bits/dim so far.
            return_terms: Also return the mean of each term ``{"prior", "diffusion", "decoder"}`` (nats).

        Returns:
            float64 array ``(n,)`` (and the terms dict with ``return_terms``).

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=10)
            >>> ll = model.log_likelihood(np.round(x_digits_test[:4] * 255) / 255)
            >>> ll.shape, bool(np.all(ll < 0))
            ((4,), True)
        """
        if not isinstance(x, tf.data.Dataset):
            x = self.validate_images(x, on_grid=True)
            if self.num_classes is not None:
                check_class_labels(labels, len(x), self.num_classes, name="labels")
        if self.num_classes is None:
            check_class_labels(labels, 0, None, name="labels")
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        seed = check_seed(seed)
        seed = 0 if seed is None else seed
        if timesteps is not None:
            timesteps = check_int(timesteps, "timesteps", minimum=1, maximum=self.timesteps - 1)
        fn = self._compiled_bound(use_ema)
        rng = np.random.default_rng(wrap_int(seed, 63) % 2**63)
        spec = DataSpec(self.image_shape, (0.0, 1.0), _RANGE_HINT, targets="ignored", levels=256)
        if self.num_classes is None:
            batches = ((batch, ()) for batch in iterate_batches(x, batch_size, spec, "x", where="log_likelihood"))
        else:
            spec = DataSpec(self.image_shape, (0.0, 1.0), _RANGE_HINT, targets="labels", num_classes=self.num_classes,
                            levels=256)
            batches = ((batch, (tf.constant(y, tf.int32),)) for batch, y in
                       self._labelled_batches(x, labels, batch_size, spec))
        target = example_count(x)
        bar = keras.utils.Progbar(target, verbose=verbose, unit_name="image", stateful_metrics=["bits_per_dim"])
        out, sums, done = [], {"prior": 0.0, "diffusion": 0.0, "decoder": 0.0}, 0
        for b, (batch, cond) in enumerate(batches):
            if timesteps is None:
                ts = np.arange(1, self.timesteps, dtype=np.int32)
            else:  # k distinct timesteps drawn uniformly: the scaled sum is unbiased
                ts = np.sort(rng.choice(np.arange(1, self.timesteps, dtype=np.int32), timesteps, replace=False))
            terms = fn(tf.cast(batch, tf.float32), tf.constant(self._batch_seed(seed, b), tf.int64), tf.constant(ts),
                       *cond)
            out.append(-terms["total"].numpy().astype(np.float64))
            for key in sums:
                sums[key] += float(tf.reduce_sum(terms[key]))
            done += len(out[-1])
            mean_bpd = -float(np.concatenate(out).mean()) / (self.num_dims * math.log(2.0))
            bar.update(done, values=[("bits_per_dim", mean_bpd)], finalize=False if target is None else None)
        if target is None and verbose:
            bar.update(done, values=[("bits_per_dim", mean_bpd if done else float("nan"))], finalize=True)
        ll = np.concatenate(out) if out else np.zeros(0, np.float64)
        if return_terms:
            return ll, {k: v / max(done, 1) for k, v in sums.items()}
        return ll

    def bits_per_dim(self, x, labels=None, batch_size: int = 100, timesteps: int | None = None, seed: int = 0,
                     use_ema: bool = True, verbose: int = 0) -> np.ndarray:
        """The bound on the NLL of each 8-bit image in bits per dimension (see :meth:`log_likelihood`;
        ``labels`` for a conditional model).

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=10)
            >>> x = np.round(x_digits_test[:4] * 255) / 255
            >>> np.allclose(model.bits_per_dim(x), -model.log_likelihood(x) / (64 * np.log(2)))
            True
        """
        ll = self.log_likelihood(x, labels=labels, batch_size=batch_size, timesteps=timesteps, seed=seed,
                                 use_ema=use_ema, verbose=verbose)
        return bits_per_dim(-ll, self.num_dims)
