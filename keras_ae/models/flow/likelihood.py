"""``RealNVPLikelihood``, the likelihood evaluation of :class:`~keras_ae.models.flow.model.RealNVP`:
the dequantization bound in nats per image and in bits per dimension (the model's module docstring
derives it), and the constants of 8-bit data the flow's modules share."""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from keras_ae.models.common import check_int, check_seed
from keras_ae.random import next_stateless_seed, stateless_pair
from keras_ae.training.batches import example_count, iterate_batches
from keras_ae.validation import check_verbose

BINS = 256  # 8-bit images
LOG2 = math.log(2.0)


class RealNVPLikelihood:
    """Mixin of :class:`~keras_ae.models.flow.model.RealNVP`: ``log_likelihood`` and ``bits_per_dim``.

    It uses the flow's ``log_prob``, ``validate_images``, ``_inference_spec``, ``_compiled_fn``,
    ``image_shape``, ``num_dims`` and ``seed_generator``, and holds no state of its own.

    Example:
        ```python
        (x_train, _), (x_test, _) = keras_ae.load_dataset("mnist")
        flow = build_realnvp((28, 28, 1), filters=64, blocks=1)
        flow.compile(optimizer=keras.optimizers.Adam(1e-3))
        flow.fit(x_train, epochs=20, batch_size=64)
        print(flow.bits_per_dim(x_test).mean())  # the dequantization bound, bits per dimension
        ```
    """

    def log_likelihood(self, x, num_samples: int = 1, seed: int = 0, batch_size: int = 256,
                       verbose: int = 0) -> np.ndarray:
        """The dequantization bound ``E_u log p_Y((k + u) / 256) - D log 256`` per image, in nats.

        A lower bound on the log-probability of the discrete image (module docstring),
        estimated with ``num_samples`` draws of ``u`` per image; the flow's density and
        the logit transform are exact.

        Args:
            x: 8-bit images (uint8, or floats ``k / 255``), or a ``tf.data.Dataset`` of
                them (``x`` or ``(x, y)``; labels ignored), read and checked batch by batch.
            num_samples: Dequantization draws averaged per image, an int >= 1.
            seed: Any int; the same seed and batch size reproduce the estimate exactly.
            batch_size: Images per compiled step.
            verbose: 1 shows a progress bar with the mean so far.

        Returns:
            float64 ``(n,)``; the test NLL is ``-log_likelihood(x).mean()``.

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> ll = flow.log_likelihood(np.round(x_digits_test * 255) / 255)
            >>> ll.shape, ll.dtype, bool(np.all(np.isfinite(ll)))
            ((64,), dtype('float64'), True)
        """
        num_samples = check_int(num_samples, "num_samples", minimum=1)
        seed = check_seed(seed)
        seed = int(next_stateless_seed(self.seed_generator)[0]) if seed is None else seed
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        if not isinstance(x, tf.data.Dataset):
            x = self.validate_images(x)
        spec = [tf.TensorSpec((None, *self.image_shape), tf.float32), tf.TensorSpec((2,), tf.int32)]
        fn = self._compiled_fn("log_prob", lambda b, s: self.log_prob(b, seed=s), spec)
        target = example_count(x)
        bar = keras.utils.Progbar(target, verbose=verbose, unit_name="image", stateful_metrics=["log_likelihood"])
        out, total, done = [], 0.0, 0
        for b, batch in enumerate(iterate_batches(x, batch_size, self._inference_spec(), "x", where="log_likelihood")):
            batch = tf.cast(batch, tf.float32)
            draws = [fn(batch, stateless_pair(seed, b * num_samples + s)).numpy()
                     for s in range(num_samples)]
            out.append(np.mean(np.asarray(draws, np.float64), axis=0))
            total, done = total + float(out[-1].sum()), done + len(out[-1])
            bar.update(done, values=[("log_likelihood", total / done)], finalize=False if target is None else None)
        if target is None and verbose:
            bar.update(done, values=[("log_likelihood", total / max(done, 1))], finalize=True)
        return np.concatenate(out) if out else np.zeros(0, np.float64)

    def bits_per_dim(self, x, num_samples: int = 1, seed: int = 0, batch_size: int = 256,
                     verbose: int = 0) -> np.ndarray:
        """``-log_likelihood(x) / (D log 2)`` per image: bits per dimension, dequantization included.

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> x = np.round(x_digits_test * 255) / 255
            >>> np.allclose(flow.bits_per_dim(x), -flow.log_likelihood(x) / (64 * np.log(2)))
            True
        """
        return -self.log_likelihood(x, num_samples, seed, batch_size, verbose) / (self.num_dims * LOG2)
