"""``LatentSamplerServing``, the export signatures of :class:`~keras_ae.models.latent_sampler.model.LatentSampler`
and the facts recorded in an export's metadata."""

from __future__ import annotations

import tensorflow as tf

from keras_ae.export.endpoints import (MAX_SAMPLE_COUNT, ExportOptions, data_name, describe_data, make_endpoint,
                                       sample_endpoint, tensor_spec)
from keras_ae.random import stateless_pair
from keras_ae.registry import family_of


class LatentSamplerServing:
    """Mixin of :class:`~keras_ae.models.latent_sampler.model.LatentSampler`: ``serving_endpoints``
    and ``serving_metadata``.

    It uses the sampler's ``draw_codes``, ``decode_codes``, ``density``, ``autoencoder``,
    ``code_shape``, ``code_size``, ``example_shape``, ``output_range``, ``kind`` and ``info``,
    and holds no state of its own.

    Example:
        ```python
        from keras_ae.export import ExportOptions

        sampler = fit_latent_sampler(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2), x_digits, n_components=2)
        [e.name for e in sampler.serving_endpoints(ExportOptions())]  # ['sample', 'decode', 'log_prob']
        sampler.serving_metadata()["code_size"]  # 2
        ```
    """

    def serving_endpoints(self, options: ExportOptions) -> list:
        """``sample`` (``count``, ``seed`` -> examples and their codes: the draws of
        ``LatentSampler.sample(count, seed)``), ``decode`` (codes -> examples) and
        ``log_prob`` (codes -> the density's ``log p(z)``).

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> sampler = fit_latent_sampler(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2), x_digits,
            ...                              n_components=2)
            >>> [e.name for e in sampler.serving_endpoints(ExportOptions())]
            ['sample', 'decode', 'log_prob']
        """
        x = data_name(self.example_shape)

        def sample(count, seed):
            # LatentSampler.sample's draw (one shared function): the same seed gives the same codes.
            codes = self.draw_codes(count, stateless_pair(seed))
            return {x: self.decode_codes(codes), "codes": codes}

        def decode(codes):
            return {x: self.decode_codes(codes)}

        def log_prob(codes):
            return {"log_prob": self.density.log_prob(tf.reshape(codes, [-1, self.code_size]))}

        codes = {"codes": tensor_spec(self.code_shape, "codes")}
        return [sample_endpoint(sample, f"{x}, codes", f"codes ~ the {self.kind} density, decoded"),
                make_endpoint("decode", decode, codes, f"codes -> {x} (the auto-encoder's decoder)"),
                make_endpoint("log_prob", log_prob, codes, "codes -> log_prob (nats, the fitted density)")]

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: output, codes, the density and the auto-encoder's family."""
        family = family_of(self.autoencoder)
        return {
            "output": describe_data(data_name(self.example_shape), self.example_shape, self.output_range),
            "code_shape": [None, *self.code_shape],
            "code_size": self.code_size,
            "kind": self.kind,
            **self.density.describe(),
            "autoencoder_family": None if family is None else family.name,
            "max_sample_count": MAX_SAMPLE_COUNT,
        }
