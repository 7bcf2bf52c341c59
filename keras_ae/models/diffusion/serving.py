"""``DiffusionServing``, the export signatures of :class:`~keras_ae.models.diffusion.model.DiffusionModel`."""

from __future__ import annotations

import math

import tensorflow as tf

from keras_ae.export.endpoints import MAX_SAMPLE_COUNT, ExportOptions, describe_data, image_endpoints, sample_endpoint
from keras_ae.graph_checks import assert_on_grid
from keras_ae.random import batch_seed


class DiffusionServing:
    """Mixin of :class:`~keras_ae.models.diffusion.model.DiffusionModel`: ``serving_endpoints`` and
    ``serving_metadata``.

    It uses the model's ``sampling_network``, ``_plan``, ``_as_tensors``, ``_sample_loop``, ``_bound``,
    ``sample_steps``, ``timesteps``, ``schedule_name``, ``variance``, ``ema_network``, ``image_shape``
    and ``num_dims``, and holds no state of its own.
    """

    def serving_endpoints(self, options: ExportOptions) -> list:
        """``sample`` (``count``, ``seed`` -> images: ``sample_steps`` DDIM steps with the EMA
        weights, the images of ``DiffusionModel.sample(count, seed=seed)``), ``log_likelihood``
        (8-bit images -> the bound ``log_likelihood`` in nats and ``bits_per_dim``, all ``T``
        terms, seed 0) and its uint8 twin.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=20)
            >>> [e.name for e in model.serving_endpoints(ExportOptions())]
            ['sample', 'log_likelihood', 'log_likelihood_uint8']
        """
        network = self.sampling_network(True)
        plan = self._as_tensors(self._plan(self.sample_steps, "ddim", 0.0)[1])
        all_steps = tf.range(1, self.timesteps, dtype=tf.int32)

        def sample(count, seed):
            # Batch 0's stream, as DiffusionModel.sample(n, seed) draws it.
            return {"images": self._sample_loop(network, count, plan, batch_seed(seed, 0))}

        def log_likelihood(images):
            images = assert_on_grid(images, 256, "images")
            total = self._bound(network, images, tf.constant(0, tf.int64), all_steps)["total"]
            return {"log_likelihood": -total, "bits_per_dim": total / (self.num_dims * math.log(2.0))}

        generative = sample_endpoint(sample, "images", f"{self.sample_steps} DDIM steps")
        functions = [("log_likelihood", log_likelihood, [], "images -> log_likelihood (bound, nats), bits_per_dim")]
        return [generative, *image_endpoints("images", self.image_shape, (0.0, 1.0), options, functions)]

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata."""
        return {"input": describe_data("images", self.image_shape, (0.0, 1.0)), "timesteps": self.timesteps,
                "schedule": self.schedule_name, "variance": self.variance, "sample_steps": self.sample_steps,
                "num_dims": self.num_dims, "ema": self.ema_network is not None, "max_sample_count": MAX_SAMPLE_COUNT}
