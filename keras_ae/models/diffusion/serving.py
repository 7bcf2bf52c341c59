"""``DiffusionServing``, the export signatures of :class:`~keras_ae.models.diffusion.model.DiffusionModel`."""

from __future__ import annotations

import math

import tensorflow as tf

from keras_ae.export.endpoints import (MAX_SAMPLE_COUNT, ExportOptions, describe_data, image_endpoints, make_endpoint,
                                       sample_endpoint, tensor_spec, uint8_endpoint)
from keras_ae.graph_checks import assert_on_grid
from keras_ae.random import batch_seed


class DiffusionServing:
    """Mixin of :class:`~keras_ae.models.diffusion.model.DiffusionModel`: ``serving_endpoints`` and
    ``serving_metadata``.

    It uses the model's ``sampling_network``, ``_plan``, ``_as_tensors``, ``_sample_loop``, ``_bound``,
    ``sample_steps``, ``timesteps``, ``schedule_name``, ``variance``, ``ema_network``, ``image_shape``,
    ``num_dims``, ``num_classes`` and ``guidance``, and holds no state of its own.

    Example:
        >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=20)
        >>> meta = model.serving_metadata()
        >>> meta["timesteps"], meta["schedule"], meta["sample_steps"] <= 20
        (20, 'cosine', True)
    """

    def serving_endpoints(self, options: ExportOptions) -> list:
        """``sample`` (``count``, ``seed`` -> images: ``sample_steps`` DDIM steps with the EMA
        weights, the images of ``DiffusionModel.sample(count, seed=seed)``), ``log_likelihood``
        (8-bit images -> the bound ``log_likelihood`` in nats and ``bits_per_dim``, all ``T``
        terms, seed 0) and its uint8 twin.

        A class-conditional model's ``sample`` also takes int32 ``labels`` (one per image, checked
        in the graph) and walks with the model's default ``guidance`` (fixed at export, recorded in
        the metadata): the images of ``sample(count, labels=labels, seed=seed)``. Its
        ``log_likelihood`` signatures take ``images`` and ``labels`` (the conditional bound).

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=20)
            >>> [e.name for e in model.serving_endpoints(ExportOptions())]
            ['sample', 'log_likelihood', 'log_likelihood_uint8']
        """
        network = self.sampling_network(True)
        plan = self._as_tensors(self._plan(self.sample_steps, "ddim", 0.0)[1])
        all_steps = tf.range(1, self.timesteps, dtype=tf.int32)

        def sample(count, seed, labels=None):
            # Batch 0's stream, as DiffusionModel.sample(n, seed) draws it.
            cond = () if labels is None else (labels, tf.constant(self.guidance, tf.float32))
            return {"images": self._sample_loop(network, count, plan, batch_seed(seed, 0), *cond)}

        def log_likelihood(images, labels=None):
            images = assert_on_grid(images, 256, "images")
            total = self._bound(network, images, tf.constant(0, tf.int64), all_steps, labels)["total"]
            return {"log_likelihood": -total, "bits_per_dim": total / (self.num_dims * math.log(2.0))}

        if self.num_classes is None:
            generative = sample_endpoint(sample, "images", f"{self.sample_steps} DDIM steps")
            functions = [("log_likelihood", log_likelihood, [], "images -> log_likelihood (bound, nats), bits_per_dim")]
            return [generative, *image_endpoints("images", self.image_shape, (0.0, 1.0), options, functions)]
        generative = sample_endpoint(sample, "images", f"{self.sample_steps} DDIM steps, guidance {self.guidance:g}",
                                     num_classes=self.num_classes)
        return [generative, *self._conditional_likelihood_endpoints(log_likelihood, options)]

    def _conditional_likelihood_endpoints(self, log_likelihood, options: ExportOptions) -> list:
        """``log_likelihood`` (``images``, ``labels``) and, for [0, 1] images, its uint8 twin."""
        inputs = {"images": tensor_spec(self.image_shape, "images"), "labels": tf.TensorSpec((None,), tf.int32)}
        ranges = {"images": (0.0, 1.0) if options.check_values else None, "labels": (0, self.num_classes - 1)}
        doc = "images, labels -> log_likelihood (conditional bound, nats), bits_per_dim"
        endpoints = [make_endpoint("log_likelihood", log_likelihood, inputs, doc, ranges,
                                   "Send 0-255 images to log_likelihood_uint8, or divide by 255.")]
        if options.uint8 is not False:

            def scored(images, labels):  # uint8_endpoint checks no ranges: the labels' range is checked here
                message = f"`labels` must lie in [0, {self.num_classes - 1}]."
                checks = [tf.debugging.assert_non_negative(labels, message=message),
                          tf.debugging.assert_less(labels, self.num_classes, message=message)]
                with tf.control_dependencies(checks):
                    return log_likelihood(images, tf.identity(labels))

            endpoints.append(uint8_endpoint("log_likelihood_uint8", scored, inputs, ["images"], [],
                                            f"{doc}; uint8 [0, 255] images in"))
        return endpoints

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata."""
        meta = {"input": describe_data("images", self.image_shape, (0.0, 1.0)), "timesteps": self.timesteps,
                "schedule": self.schedule_name, "variance": self.variance, "sample_steps": self.sample_steps,
                "num_dims": self.num_dims, "ema": self.ema_network is not None, "max_sample_count": MAX_SAMPLE_COUNT}
        if self.num_classes is not None:  # the exported sample walks with the guidance fixed at export
            meta.update(num_classes=self.num_classes, guidance=self.guidance, label_dropout=self.label_dropout)
        return meta
