"""``VAEServing``, the export signatures of :class:`~keras_ae.models.vae.model.VAE` and the
facts recorded in an export's metadata."""

from __future__ import annotations

import tensorflow as tf

from keras_ae.export.endpoints import (MAX_SAMPLE_COUNT, ExportOptions, data_name, describe_data, image_endpoints,
                                       make_endpoint, sample_endpoint, tensor_spec)
from keras_ae.random import stateless_pair


class VAEServing:
    """Mixin of :class:`~keras_ae.models.vae.model.VAE`: ``serving_endpoints`` and ``serving_metadata``.

    It uses the VAE's ``posterior_params``, ``decode``, ``prior``, ``example_shape``,
    ``input_range``, ``latent_dim``, ``likelihood``, ``beta`` and ``prior_layer``, and holds no
    state of its own.
    """

    # -- serving: the export signatures of the family ----------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``reconstruct`` (mean of p(x|z) at the posterior mean), ``encode`` (posterior
        ``mean`` and ``stddev``), ``decode`` (latents -> mean of p(x|z)), ``sample``
        (``count`` + ``seed`` -> images and their latents, the same draws as
        ``VAE.sample(count, seed)``), and ``*_uint8`` variants of the image inputs.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(8,))
            >>> [e.name for e in vae.serving_endpoints(ExportOptions())]
            ['reconstruct', 'encode', 'decode', 'sample', 'reconstruct_uint8', 'encode_uint8']
        """
        x = data_name(self.example_shape)

        def reconstruct(**inputs):
            return {"reconstruction": self(inputs[x], training=False)}

        def encode(**inputs):
            mean, stddev = self.posterior_params(inputs[x])
            return {"mean": mean, "stddev": stddev}

        def decode(latents):
            return {x: self.decode(latents).mean()}

        def sample(count, seed):
            # VAE.sample's seeding: the pair of the int seed, split in two; the first half draws z.
            z = self.prior.sample(count, seed=tf.random.experimental.stateless_split(stateless_pair(seed), 2)[0])
            return {x: self.decode(z).mean(), "latents": z}

        functions = [("reconstruct", reconstruct, ["reconstruction"],
                      f"{x} -> reconstruction (decoded posterior mean)"),
                     ("encode", encode, [], f"{x} -> mean, stddev of q(z|x)")]
        generative = [make_endpoint("decode", decode, {"latents": tensor_spec((self.latent_dim,), "latents")},
                                    f"latents -> {x} (mean of p(x|z))"),
                      sample_endpoint(sample, f"{x}, latents", "z ~ prior")]
        return image_endpoints(x, self.example_shape, self.input_range, options, functions, generative)

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: input, latent size, likelihood, prior."""
        return {
            "input": describe_data(data_name(self.example_shape), self.example_shape, self.input_range),
            "code_size": self.latent_dim,
            "latent_dim": self.latent_dim,
            "likelihood": self.likelihood,
            "beta": self.beta,
            "prior": "standard_normal" if self.prior_layer is None else type(self.prior_layer).__name__,
            "max_sample_count": MAX_SAMPLE_COUNT,
        }
