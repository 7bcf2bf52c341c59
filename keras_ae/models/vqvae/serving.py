"""``VQVAEServing``, the export signatures of :class:`~keras_ae.models.vqvae.model.VQVAE`
(``reconstruct``, ``encode``, ``decode``, ``sample`` with a prior, uint8 twins) and the facts
recorded in an export's metadata."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_ae.export.endpoints import (MAX_SAMPLE_COUNT, ExportOptions, data_name, describe_data, image_endpoints,
                                       make_endpoint, sample_endpoint, tensor_spec)
from keras_ae.random import batch_seed


class VQVAEServing:
    """Mixin of :class:`~keras_ae.models.vqvae.model.VQVAE`: serving signatures and metadata.

    It uses the model's ``encoder``, ``quantizer``, ``prior``, ``example_shape``,
    ``input_range``, ``code_map_shape``, ``num_codes``, ``likelihood``, ``_decode_indices``
    and ``__call__``, and holds no state of its own.

    Example:
        >>> from keras_ae.export import ExportOptions
        >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior_filters=4, prior_blocks=0)
        >>> [e.name for e in model.serving_endpoints(ExportOptions())]
        ['reconstruct', 'encode', 'decode', 'sample', 'reconstruct_uint8', 'encode_uint8']
        >>> model.serving_metadata()["code_map_shape"], model.serving_metadata()["num_codes"]
        ([4, 4], 8)
    """

    def serving_endpoints(self, options: ExportOptions) -> list:
        """``reconstruct``, ``encode`` (images -> int32 ``indices``), ``decode`` (``indices``
        -> images), ``sample`` (``count``, ``seed`` -> images and their code maps, the draws
        of ``VQVAE.sample(count, seed)`` for ``count <= batch_size``; only with a prior) and
        ``*_uint8`` twins of the image inputs. With a class-conditional prior ``sample`` also
        takes int32 ``labels``, one class id per image, checked in the graph.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior=False)
            >>> [e.name for e in model.serving_endpoints(ExportOptions())]  # no prior: no `sample`
            ['reconstruct', 'encode', 'decode', 'reconstruct_uint8', 'encode_uint8']
        """
        x = data_name(self.example_shape)

        def reconstruct(**inputs):
            return {"reconstruction": self(inputs[x], training=False)}

        def encode(**inputs):
            return {"indices": self.quantizer.nearest(self.encoder(inputs[x], training=False))}

        def decode(indices):
            return {x: self._decode_indices(indices)}

        def sample(count, seed, labels=None):
            # Batch 0's stream, as VQVAE.sample -> AutoregressiveModel.sample draws it.
            start = tf.zeros(tf.stack([count, *self.prior.image_shape]), tf.float32)
            maps = self.prior._sample_loop(start, tf.constant(0), batch_seed(seed, 0), labels)
            indices = tf.cast(tf.round(maps[..., 0] * (self.num_codes - 1)), tf.int32)
            return {x: self._decode_indices(indices), "indices": indices}

        functions = [("reconstruct", reconstruct, ["reconstruction"], f"{x} -> reconstruction through the code"),
                     ("encode", encode, [], f"{x} -> indices (code maps)")]
        indices_spec = {"indices": tensor_spec(self.code_map_shape, "indices", tf.int32)}
        generative = [make_endpoint("decode", decode, indices_spec,
                                    f"indices -> {x} (mean of p(x|z_q))", {"indices": (0, self.num_codes - 1)})]
        if self.prior is not None:
            generative.append(sample_endpoint(sample, f"{x}, indices", "codes ~ PixelCNN prior",
                                              num_classes=self.num_classes))
        return image_endpoints(x, self.example_shape, self.input_range, options, functions, generative)

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: input, code maps, codebook, likelihood, prior."""
        return {
            "input": describe_data(data_name(self.example_shape), self.example_shape, self.input_range),
            "code_map_shape": list(self.code_map_shape),
            "code_size": int(np.prod(self.code_map_shape)),
            "num_codes": self.num_codes,
            "code_dim": self.quantizer.code_dim,
            "likelihood": self.likelihood,
            "codebook_update": self.quantizer.codebook_update,
            "prior": None if self.prior is None else type(self.prior).__name__,
            "num_classes": self.num_classes,
            "max_sample_count": MAX_SAMPLE_COUNT,
        }
