"""``AutoregressiveServing``, the export signatures of
:class:`~keras_ae.models.autoregressive.AutoregressiveModel` (``log_likelihood`` and its
uint8 twin, ``sample``) and the facts recorded in an export's metadata."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import tensorflow as tf

from keras_ae.export.endpoints import (MAX_SAMPLE_COUNT, ExportOptions, describe_data, image_endpoints,
                                       make_endpoint, sample_endpoint, tensor_spec, uint8_endpoint)
from keras_ae.graph_checks import assert_on_grid
from keras_ae.random import batch_seed


def check_labels_in_graph(labels: tf.Tensor, num_classes: int) -> tf.Tensor:
    """``labels`` (int32 class ids) once the graph has checked they lie in ``[0, num_classes)``.

    Args:
        labels: int32 class ids.
        num_classes: The model's classes ``K``.

    Returns:
        ``labels``, with the check as a control dependency (an out-of-range id fails the call).

    Example:
        >>> check_labels_in_graph(tf.constant([0, 9]), 10).numpy().tolist()
        [0, 9]
    """
    check = tf.debugging.Assert(tf.reduce_all((labels >= 0) & (labels < num_classes)),
                                [f"`labels` must lie in [0, {num_classes - 1}] (num_classes={num_classes})."])
    with tf.control_dependencies([check]):
        return tf.identity(labels)


def conditional_likelihood_endpoints(log_likelihood: Callable, image_shape: Sequence[int], num_classes: int,
                                     options: ExportOptions, generative: list) -> list:
    """The ``log_likelihood`` signatures of a class-conditional model, ``images, labels -> log p(images | labels)``
    (and the ``_uint8`` twin), around ``generative`` (its ``sample``), in :func:`image_endpoints`' order.

    Args:
        log_likelihood: ``fn(images, labels) -> {"log_likelihood", "bits_per_dim"}``.
        image_shape: ``(h, w, c)`` of one image.
        num_classes: The model's classes ``K``; labels are checked in the graph.
        options: Export options (``uint8``, ``check_values``).
        generative: The signatures that take no images.

    Returns:
        The endpoints.

    Example:
        >>> from keras_ae.export import ExportOptions
        >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1, num_classes=10)
        >>> [e.name for e in model.serving_endpoints(ExportOptions())]
        ['log_likelihood', 'sample', 'log_likelihood_uint8']
    """
    specs = {"images": tensor_spec(image_shape, "images"), "labels": tf.TensorSpec((None,), tf.int32, name="labels")}
    ranges = {"images": (0.0, 1.0) if options.check_values else None, "labels": (0, num_classes - 1)}
    doc = "images, labels -> log_likelihood (nats) of p(images | labels), bits_per_dim"

    def scored(images, labels):
        return log_likelihood(images, check_labels_in_graph(labels, num_classes))

    endpoints = [make_endpoint("log_likelihood", scored, specs, doc, ranges,
                               "Send 0-255 images to log_likelihood_uint8, or divide by 255."), *generative]
    if options.uint8 is not False:
        endpoints.append(uint8_endpoint("log_likelihood_uint8", scored, specs, ["images"], [],
                                        f"{doc}; uint8 [0, 255] images in"))
    return endpoints


class AutoregressiveServing:
    """Mixin of :class:`~keras_ae.models.autoregressive.AutoregressiveModel`: serving signatures.

    It uses the model's ``image_shape``, ``levels``, ``binary``, ``num_dims``, ``log_prob``,
    ``_sample_loop`` and ``__call__``, and holds no state of its own.

    Example:
        >>> from keras_ae.export import ExportOptions
        >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
        >>> [e.name for e in model.serving_endpoints(ExportOptions())]
        ['log_likelihood', 'sample', 'log_likelihood_uint8']
        >>> model.serving_metadata()["num_dims"], model.serving_metadata()["levels"]
        (64, 2)
    """

    def serving_endpoints(self, options: ExportOptions) -> list:
        """``log_likelihood`` (images -> exact ``log_likelihood`` in nats and ``bits_per_dim``)
        and its uint8 twin; ``sample`` (``count`` + ``seed`` -> images drawn pixel by pixel,
        the images of ``model.sample(count, seed)`` for ``count`` up to its ``batch_size``: both
        draw from :func:`keras_ae.random.batch_seed` ``(seed, 0)``). Images must lie on the
        model's grid of levels (0/1 for a binary model), which the signature checks.

        A class-conditional model's signatures also take int32 ``labels``, one class id per
        image, checked in the graph (ids in ``[0, num_classes)``; ``sample``: ``count`` of them):
        ``log_likelihood`` gives ``log p(x | y)``, ``sample`` the images of
        ``model.sample(count, seed, labels=labels)``.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=1)
            >>> [e.name for e in model.serving_endpoints(ExportOptions())]
            ['log_likelihood', 'sample', 'log_likelihood_uint8']
        """
        hint = "for this model" + (" (binarize them first)" if self.binary else "")

        def log_likelihood(images, labels=None):
            images = assert_on_grid(images, self.levels, "images", hint)
            log_p = self.log_prob(images, self.logits(images, labels, training=False))
            return {"log_likelihood": log_p, "bits_per_dim": -log_p / (self.num_dims * math.log(2.0))}

        def sample(count, seed, labels=None):
            start = tf.zeros(tf.stack([count, *self.image_shape]), tf.float32)
            return {"images": self._sample_loop(start, tf.constant(0), batch_seed(seed, 0), labels)}

        generative = [sample_endpoint(sample, "images", "pixel by pixel, as model.sample",
                                      num_classes=self.num_classes)]
        if self.num_classes is None:
            functions = [("log_likelihood", log_likelihood, [], "images -> log_likelihood (nats), bits_per_dim")]
            return image_endpoints("images", self.image_shape, (0.0, 1.0), options, functions, generative)
        return conditional_likelihood_endpoints(log_likelihood, self.image_shape, self.num_classes, options,
                                                generative)

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: image shape, levels, dimensions, classes."""
        return {"input": describe_data("images", self.image_shape, (0.0, 1.0)), "levels": self.levels,
                "num_dims": self.num_dims, "max_sample_count": MAX_SAMPLE_COUNT, "num_classes": self.num_classes}
