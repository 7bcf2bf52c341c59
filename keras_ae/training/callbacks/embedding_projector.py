"""``EmbeddingProjector``: the test codes in TensorBoard's embedding projector at the end of training.

Follows the TF guide "Visualizing Data using the Embedding Projector in TensorBoard": the
codes are saved as a checkpoint variable, and ``projector_config.pbtxt`` (written by
``tensorboard.plugins.projector.visualize_embeddings``) points the projector at it, at
``metadata.tsv`` (one label per row, no header) and at ``sprite.png`` (the test images
tiled in a square, ``single_image_dim`` = one image's width and height).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ae.training.callbacks.image_summaries import as_images, tile
from keras_ae.validation import check_int, label_arguments

CHECKPOINT_PREFIX = "embedding.ckpt"
# The name a tf.train.Checkpoint gives the attribute `embedding` (what the projector reads).
TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
MAX_SPRITE_SIDE = 8192  # the projector's limit on the sprite's width and height


def model_codes(model: keras.Model, x: np.ndarray, batch_size: int = 256, labels: Any = None) -> np.ndarray:
    """Codes of ``x``, flattened to ``(n, d)`` float32: ``model.codes`` (one deterministic
    code per example in every family: an auto-encoder's code, a VAE's posterior mean or a flow
    posterior's flow of the base mean, a VQ-VAE's code indices, RealNVP's latent). A
    class-conditional model encodes ``x`` given ``labels``.

    Args:
        model: A keras_ae model with a ``codes(x, batch_size=...)`` method.
        x: Examples to encode.
        batch_size: Examples per ``codes`` call.
        labels: Class ids of ``x`` for a class-conditional model (ignored by other models).

    Returns:
        float32 ``(n, d)`` codes, one row per example.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> model_codes(vae, x_digits_test[:5]).shape
        (5, 2)
        >>> iaf = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), posterior_flow="iaf")
        >>> model_codes(iaf, x_digits_test[:5]).shape
        (5, 2)
    """
    codes = model.codes(x, batch_size=batch_size, **label_arguments(model, labels))
    return np.asarray(codes, dtype=np.float32).reshape(len(codes), -1)


def sprite(images: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """The projector's sprite: images tiled in a square, as uint8 ``(H, W, c)``, and one image's ``(w, h)``.

    Args:
        images: ``(n, h, w, c)`` images in [0, 1] (clipped to it).

    Returns:
        ``(sprite, (w, h))``: the uint8 grid of ``ceil(sqrt(n))`` images a side (blank cells
        black), and one image's width and height.

    Example:
        >>> grid, dim = sprite(np.ones((10, 8, 8, 1)))
        >>> grid.shape, dim
        ((32, 32, 1), (8, 8))
    """
    n, h, w, _ = images.shape
    side = math.ceil(math.sqrt(n))
    grid = tile(np.clip(images, 0.0, 1.0), cols=side)
    full = np.zeros((side * h, side * w, grid.shape[-1]), np.float32)  # the projector expects a square
    full[: grid.shape[0], : grid.shape[1]] = grid
    return (full * 255).round().astype(np.uint8), (w, h)


def write_projector(log_dir: str | os.PathLike, codes: np.ndarray, labels: Any = None,
                    images: np.ndarray | None = None) -> Path:
    """Writes codes (checkpoint), metadata, sprite and ``projector_config.pbtxt`` into ``log_dir``.

    Args:
        log_dir: The TensorBoard log folder (``tensorboard --logdir`` shows it).
        codes: ``(n, d)`` embedding.
        labels: ``n`` labels for ``metadata.tsv`` (``None``: no metadata).
        images: ``n`` images for ``sprite.png`` (``None`` or not images: no sprite).

    Returns:
        The path of ``projector_config.pbtxt``.

    Example:
        >>> path = write_projector(tmp_dir, np.zeros((4, 2)), labels=[0, 1, 2, 3], images=np.zeros((4, 8, 8, 1)))
        >>> sorted(p.name for p in tmp_dir.iterdir() if not p.name.startswith("embedding.ckpt"))
        ['checkpoint', 'metadata.tsv', 'projector_config.pbtxt', 'sprite.png']
    """
    from tensorboard.plugins import projector

    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    codes = np.asarray(codes, dtype=np.float32)
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    if labels is not None:
        labels = np.asarray(labels).reshape(len(codes), -1)[:, 0]
        # One column, hence no header row: one line per point.
        (log_dir / "metadata.tsv").write_text("".join(f"{label}\n" for label in labels))
        embedding.metadata_path = "metadata.tsv"
    pictures = as_images(images) if images is not None else None
    if pictures is not None:
        grid, (w, h) = sprite(pictures)
        if max(grid.shape[:2]) <= MAX_SPRITE_SIDE:
            tf.io.write_file(str(log_dir / "sprite.png"), tf.io.encode_png(grid))
            embedding.sprite.image_path = "sprite.png"
            embedding.sprite.single_image_dim.extend([w, h])
    tf.train.Checkpoint(embedding=tf.Variable(codes)).save(str(log_dir / CHECKPOINT_PREFIX))
    projector.visualize_embeddings(str(log_dir), config)
    return log_dir / "projector_config.pbtxt"


class EmbeddingProjector(keras.callbacks.Callback):
    """At the end of training, writes the codes of ``x`` for TensorBoard's embedding projector.

    Args:
        log_dir: TensorBoard log folder.
        x: Test examples (the first ``max_points`` are embedded).
        y: Their labels (``metadata.tsv``), or ``None``.
        max_points: Most points embedded (keeps the sprite below 8192 x 8192 pixels).

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> ae.compile()
        >>> _ = ae.fit(x_digits, epochs=1, batch_size=64, verbose=0,
        ...            callbacks=[EmbeddingProjector(tmp_dir, x_digits_test, y_digits_test)])
        >>> len((tmp_dir / "metadata.tsv").read_text().splitlines()) == len(x_digits_test)
        True
    """

    def __init__(self, log_dir: str | os.PathLike, x: np.ndarray, y: Any = None, max_points: int = 2048):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.max_points = check_int(max_points, "max_points", minimum=1)
        self.x = np.asarray(x)[: self.max_points]
        self.y = None if y is None else np.asarray(y)[: self.max_points]
        self.path: Path | None = None

    @staticmethod
    def applies(model, x: np.ndarray | None = None) -> bool:
        """Whether the model has codes to show (``codes``, not a GAN's generator)."""
        return x is not None and callable(getattr(model, "codes", None))

    def on_train_end(self, logs=None):
        codes = model_codes(self.model, self.x, labels=self.y)
        self.path = write_projector(self.log_dir, codes, self.y, self.x)
