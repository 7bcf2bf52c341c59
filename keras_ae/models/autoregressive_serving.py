"""``AutoregressiveServing``, the export signatures of
:class:`~keras_ae.models.autoregressive.AutoregressiveModel` (``log_likelihood`` and its
uint8 twin) and the facts recorded in an export's metadata."""

from __future__ import annotations

import math

from keras_ae.export.endpoints import ExportOptions, describe_data, image_endpoints
from keras_ae.graph_checks import assert_on_grid


class AutoregressiveServing:
    """Mixin of :class:`~keras_ae.models.autoregressive.AutoregressiveModel`: serving signatures.

    It uses the model's ``image_shape``, ``levels``, ``binary``, ``num_dims``, ``log_prob``
    and ``__call__``, and holds no state of its own.
    """

    def serving_endpoints(self, options: ExportOptions) -> list:
        """``log_likelihood`` (images -> exact ``log_likelihood`` in nats and ``bits_per_dim``)
        and its uint8 twin. Images must lie on the model's grid of levels (0/1 for a binary
        model), which the signature checks.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> [e.name for e in model.serving_endpoints(ExportOptions())]
            ['log_likelihood', 'log_likelihood_uint8']
        """
        hint = "for this model" + (" (binarize them first)" if self.binary else "")

        def log_likelihood(images):
            images = assert_on_grid(images, self.levels, "images", hint)
            log_p = self.log_prob(images, self(images, training=False))
            return {"log_likelihood": log_p, "bits_per_dim": -log_p / (self.num_dims * math.log(2.0))}

        functions = [("log_likelihood", log_likelihood, [], "images -> log_likelihood (nats), bits_per_dim")]
        return image_endpoints("images", self.image_shape, (0.0, 1.0), options, functions)

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: image shape, levels, dimensions."""
        return {"input": describe_data("images", self.image_shape, (0.0, 1.0)), "levels": self.levels,
                "num_dims": self.num_dims}
