"""``AutoregressiveServing``, the export signatures of
:class:`~keras_ae.models.autoregressive.AutoregressiveModel` (``log_likelihood`` and its
uint8 twin, ``sample``) and the facts recorded in an export's metadata."""

from __future__ import annotations

import math

import tensorflow as tf

from keras_ae.export.endpoints import MAX_SAMPLE_COUNT, ExportOptions, describe_data, image_endpoints, sample_endpoint
from keras_ae.graph_checks import assert_on_grid
from keras_ae.random import batch_seed


class AutoregressiveServing:
    """Mixin of :class:`~keras_ae.models.autoregressive.AutoregressiveModel`: serving signatures.

    It uses the model's ``image_shape``, ``levels``, ``binary``, ``num_dims``, ``log_prob``,
    ``_sample_loop`` and ``__call__``, and holds no state of its own.
    """

    def serving_endpoints(self, options: ExportOptions) -> list:
        """``log_likelihood`` (images -> exact ``log_likelihood`` in nats and ``bits_per_dim``)
        and its uint8 twin; ``sample`` (``count`` + ``seed`` -> images drawn pixel by pixel,
        the images of ``model.sample(count, seed)`` for ``count`` up to its ``batch_size``: both
        draw from :func:`keras_ae.random.batch_seed` ``(seed, 0)``). Images must lie on the
        model's grid of levels (0/1 for a binary model), which the signature checks.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> [e.name for e in model.serving_endpoints(ExportOptions())]
            ['log_likelihood', 'sample', 'log_likelihood_uint8']
        """
        hint = "for this model" + (" (binarize them first)" if self.binary else "")

        def log_likelihood(images):
            images = assert_on_grid(images, self.levels, "images", hint)
            log_p = self.log_prob(images, self(images, training=False))
            return {"log_likelihood": log_p, "bits_per_dim": -log_p / (self.num_dims * math.log(2.0))}

        def sample(count, seed):
            start = tf.zeros(tf.stack([count, *self.image_shape]), tf.float32)
            return {"images": self._sample_loop(start, tf.constant(0), batch_seed(seed, 0))}

        functions = [("log_likelihood", log_likelihood, [], "images -> log_likelihood (nats), bits_per_dim")]
        generative = [sample_endpoint(sample, "images", "pixel by pixel, as model.sample")]
        return image_endpoints("images", self.image_shape, (0.0, 1.0), options, functions, generative)

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: image shape, levels, dimensions."""
        return {"input": describe_data("images", self.image_shape, (0.0, 1.0)), "levels": self.levels,
                "num_dims": self.num_dims, "max_sample_count": MAX_SAMPLE_COUNT}
