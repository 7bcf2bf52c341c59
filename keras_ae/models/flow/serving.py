"""``RealNVPServing``, the export signatures of :class:`~keras_ae.models.flow.model.RealNVP`."""

from __future__ import annotations

import tensorflow as tf

from keras_ae.export.endpoints import (MAX_SAMPLE_COUNT, ExportOptions, describe_data, image_endpoints, make_endpoint,
                                       sample_endpoint, tensor_spec)
from keras_ae.graph_checks import assert_on_grid
from keras_ae.models.flow.likelihood import BINS, LOG2
from keras_ae.random import stateless_pair


class RealNVPServing:
    """Mixin of :class:`~keras_ae.models.flow.model.RealNVP`: ``serving_endpoints`` and ``serving_metadata``.

    It uses the flow's ``log_prob``, ``_latents_to_images``, ``image_shape``, ``num_dims``,
    ``scales`` and ``alpha``, and holds no state of its own.

    Example:
        >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
        >>> meta = flow.serving_metadata()
        >>> meta["num_dims"], meta["dequantization"]
        (64, 'uniform, (k + u) / 256')
    """

    def serving_endpoints(self, options: ExportOptions) -> list:
        """``log_likelihood`` (images -> the dequantization bound in nats, one draw of ``u``
        with seed (0, 0) per batch: ``log_likelihood(x, seed=0)`` for one batch, and
        ``bits_per_dim``), ``encode`` (images -> latents), ``decode`` (latents -> images),
        ``sample`` (``count``, ``seed`` -> images and latents, as ``sample(count, seed)``),
        and ``*_uint8`` twins of the image inputs.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> [e.name for e in flow.serving_endpoints(ExportOptions())]
            ['log_likelihood', 'encode', 'decode', 'sample', 'log_likelihood_uint8', 'encode_uint8']
        """
        def on_grid(images):
            return assert_on_grid(images, BINS, "images", "(8-bit images k / 255)")

        def log_likelihood(images):
            log_p = self.log_prob(on_grid(images), seed=(0, 0))
            return {"log_likelihood": log_p, "bits_per_dim": -log_p / (self.num_dims * LOG2)}

        def encode(images):
            return {"latents": self(on_grid(images))}

        def decode(latents):
            return {"images": self._latents_to_images(latents, True)}

        def sample(count, seed):
            z = tf.random.stateless_normal(tf.stack([count, self.num_dims]), seed=stateless_pair(seed))  # as sample()
            return {"images": self._latents_to_images(z, True), "latents": z}

        functions = [("log_likelihood", log_likelihood, [],
                      "images -> log_likelihood (nats, dequantized), bits_per_dim"),
                     ("encode", encode, [], "images -> latents (bin centres through the flow)")]
        generative = [make_endpoint("decode", decode, {"latents": tensor_spec((self.num_dims,), "latents")},
                                    "latents -> images (8-bit, k / 255)"),
                      sample_endpoint(sample, "images, latents", "z ~ N(0, I)")]
        return image_endpoints("images", self.image_shape, (0.0, 1.0), options, functions, generative)

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: input, dimensions, architecture, dequantization."""
        return {"input": describe_data("images", self.image_shape, (0.0, 1.0)), "num_dims": self.num_dims,
                "latent_dim": self.num_dims, "scales": self.scales, "alpha": self.alpha,
                "dequantization": "uniform, (k + u) / 256", "max_sample_count": MAX_SAMPLE_COUNT}
