"""``tensorboard_callbacks``: every TensorBoard summary a keras_ae run writes, as one list."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_ae.training.callbacks.embedding_projector import EmbeddingProjector
from keras_ae.training.callbacks.image_summaries import ImageSummaries
from keras_ae.validation import check_int


def tensorboard_callbacks(log_dir: str | os.PathLike, model: keras.Model, x_test: np.ndarray | None = None,
                          y_test: Any = None, every: int = 5, images: int = 16) -> list[keras.callbacks.Callback]:
    """Keras' ``TensorBoard`` (scalars per epoch), plus image summaries and the embedding
    projector where the model has something to show.

    | callback | writes | when |
    | --- | --- | --- |
    | ``keras.callbacks.TensorBoard`` | ``epoch_loss``, ... in ``train/`` and ``validation/`` | every model |
    | :class:`ImageSummaries` | ``reconstructions`` / ``samples`` in ``images/`` | every ``every`` epochs |
    | :class:`EmbeddingProjector` | checkpoint, ``metadata.tsv``, ``sprite.png``, projector config | with ``encode`` |

    Args:
        log_dir: The folder for ``tensorboard --logdir``.
        model: The model about to be trained.
        x_test: Fixed test examples (reconstructions, projector points), or ``None``.
        y_test: Their labels (projector metadata; a class-conditional model's reconstructions
            and codes), or ``None``.
        every: Epochs between image summaries.
        images: Images per grid.

    Returns:
        The callbacks, to pass to ``fit``.

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> [type(c).__name__ for c in tensorboard_callbacks(tmp_dir, ae, x_digits_test, y_digits_test)]
        ['TensorBoard', 'ImageSummaries', 'EmbeddingProjector']
        >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
        >>> [type(c).__name__ for c in tensorboard_callbacks(tmp_dir, gan, x_digits_test)]
        ['TensorBoard', 'ImageSummaries']
    """
    log_dir = Path(log_dir)
    every = check_int(every, "every", minimum=1)
    # write_graph=False: keras_ae models train through custom train steps whose traced graph
    # says little, and tracing it would cost a second compilation.
    callbacks: list[keras.callbacks.Callback] = [keras.callbacks.TensorBoard(str(log_dir), write_graph=False)]
    if ImageSummaries.applies(model, x_test):
        callbacks.append(ImageSummaries(log_dir, x_test, n=images, every=every, y=y_test))
    # A class-conditional model encodes given the class: without labels it has no codes to show.
    if EmbeddingProjector.applies(model, x_test) and (y_test is not None or not getattr(model, "conditional", False)):
        callbacks.append(EmbeddingProjector(log_dir, x_test, y_test))
    return callbacks
