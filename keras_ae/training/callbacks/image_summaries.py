"""``ImageSummaries``: TensorBoard image summaries of what a model draws, every N epochs.

What to draw is asked of the model by duck typing (this package imports no model
module): a ``tensorboard_images(n, seed)`` hook if the model has one, else

| model has | tag | image |
| --- | --- | --- |
| ``generate`` and ``latent_dim`` (GANs) | ``samples`` | ``G(z)`` for a fixed ``z`` |
| ``reconstruct`` (auto-encoders, VAEs) | ``reconstructions`` | fixed test images, each as input \\| reconstruction |
| ``sample`` and ``latent_dim`` (VAEs) | ``samples`` | ``model.sample(n, seed)``: the same ``z`` every time |
| ``sample`` (PixelCNN, PixelRNN) | ``samples`` | ``model.sample(n, seed=seed)`` |

A class-conditional model (``conditional`` true, ``num_classes`` K) draws its samples as
one row per class (the first :data:`MAX_CLASS_ROWS` classes), ``ceil(n / rows)`` images a row.

Each tag is one tiled grid image, written with ``tf.summary.image`` into
``<log_dir>/images`` (a run next to the ``train`` / ``validation`` runs of
``keras.callbacks.TensorBoard``), at step = epoch index as Keras' scalars.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from keras_ae.training.callbacks.periodic import PeriodicSummaries
from keras_ae.validation import check_int, label_arguments

IMAGES_RUN = "images"  # sub-folder of the log dir (a TensorBoard run)
HOOK = "tensorboard_images"  # optional model method: (n, seed) -> {tag: images (k, h, w, c) in [0, 1]}


def as_images(x: Any) -> np.ndarray | None:
    """``x`` as float32 images ``(n, h, w, c)`` with 1, 3 or 4 channels, or ``None``.

    Flat square vectors (``(n, 64)`` from 8 x 8 digits) are shown as grey squares; other
    data (e.g. 3-D manifold points) has no picture.

    Args:
        x: Data of any array-like form: ``(n, d)`` vectors, ``(n, h, w)`` or ``(n, h, w, c)`` images.

    Returns:
        float32 ``(n, h, w, c)`` images (channel axis added to grey ones), or ``None`` when ``x``
        is not images with 1, 3 or 4 channels nor square vectors of at least 2 x 2.

    Example:
        >>> as_images(np.zeros((2, 64))).shape, as_images(np.zeros((2, 3)))
        ((2, 8, 8, 1), None)
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        side = math.isqrt(x.shape[1])
        if side < 2 or side * side != x.shape[1]:
            return None
        x = x.reshape(-1, side, side, 1)
    elif x.ndim == 3:  # (n, h, w) grey images
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        return None
    return x


def tile(images: np.ndarray, cols: int) -> np.ndarray:
    """Tiles ``(n, h, w, c)`` images into one ``(rows * h, cols * w, c)`` grid (blank cells last).

    Args:
        images: ``(n, h, w, c)`` images.
        cols: Images per row (at most ``n``); ``rows = ceil(n / cols)``.

    Returns:
        The grid, in the dtype of ``images``, with zeros in the blank cells.

    Example:
        >>> tile(np.ones((5, 8, 8, 1)), cols=4).shape
        (16, 32, 1)
    """
    n, h, w, c = images.shape
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    grid = np.zeros((rows * cols, h, w, c), images.dtype)
    grid[:n] = images
    return grid.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def side_by_side(inputs: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Pairs ``input | output`` along the width: ``(n, h, 2 * w, c)``.

    Args:
        inputs: ``(n, h, w, c)`` images, shown on the left.
        outputs: ``(n, h, w, c)`` images, shown on the right.

    Returns:
        ``(n, h, 2 * w, c)`` pairs.

    Example:
        >>> side_by_side(np.zeros((3, 8, 8, 1)), np.ones((3, 8, 8, 1))).shape
        (3, 8, 16, 1)
    """
    return np.concatenate([inputs, outputs], axis=2)


MAX_CLASS_ROWS = 16  # a grid of a 1000-class model shows its first classes, not 1000 rows


def class_rows(model: keras.Model, n: int) -> tuple[np.ndarray | None, int | None]:
    """The labels of a grid with one row per class, and the images per row.

    Args:
        model: Any keras_ae model; class-conditional ones have ``conditional`` true and ``num_classes``.
        n: Images wanted in the grid (at least one a row).

    Returns:
        ``(labels, per_row)``: int32 labels ``0, 0, ..., 1, 1, ...`` for a conditional model,
        ``(None, None)`` for an unconditional one.

    Example:
        >>> cgan = build_conditional_gan((8, 8, 1), num_classes=3, latent_dim=4, architecture="mlp")
        >>> labels, per_row = class_rows(cgan, 5)
        >>> labels.tolist(), per_row
        ([0, 0, 1, 1, 2, 2], 2)
    """
    if not getattr(model, "conditional", False):
        return None, None
    rows = min(int(model.num_classes), MAX_CLASS_ROWS)
    per_row = max(1, math.ceil(n / rows))
    return np.repeat(np.arange(rows, dtype=np.int32), per_row), per_row


def model_images(model: keras.Model, x: np.ndarray | None, n: int = 16, seed: int = 0, z: np.ndarray | None = None,
                 labels: np.ndarray | None = None, y: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """What a model draws for TensorBoard: tag -> images ``(k, h, w, c)`` in [0, 1].

    Args:
        model: A keras_ae model (any family; dispatch by duck typing, see the module doc).
        x: Fixed test examples for reconstructions (``None``: no reconstructions).
        n: Images per tag.
        seed: Seed of the samples (fixed: the same seed draws the same ``z``).
        z: GANs: the fixed latent vectors ``(n, latent_dim)`` (default: drawn from ``seed``).
        labels: Class-conditional models: class ids of the samples (default: :func:`class_rows`,
            one row per class; their count replaces ``n``).
        y: Class ids of ``x``: a class-conditional model reconstructs ``x`` given them (without
            them it draws no reconstructions).

    Returns:
        A dict, empty when the model draws nothing.

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> {k: v.shape for k, v in model_images(ae, x_digits_test, n=4).items()}
        {'reconstructions': (4, 8, 16, 1)}
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> sorted(model_images(vae, x_digits_test, n=4))
        ['reconstructions', 'samples']
    """
    hook: Callable | None = getattr(model, HOOK, None)
    if labels is None:
        labels, _ = class_rows(model, n)
    if callable(hook):
        drawn = hook(n, seed)
    else:
        drawn = {}
        if callable(getattr(model, "generate", None)) and hasattr(model, "latent_dim"):  # GAN
            if z is None:
                count = n if labels is None else len(labels)
                z = np.random.default_rng(seed).standard_normal((count, model.latent_dim)).astype(np.float32)
            drawn["samples"] = model.generate(z, labels, unit_range=True)
        else:
            conditional = getattr(model, "conditional", False)
            if callable(getattr(model, "reconstruct", None)) and x is not None and (y is not None or not conditional):
                inputs = np.asarray(x[:n], dtype=np.float32)
                given = label_arguments(model, None if y is None else np.asarray(y)[:n])
                recon = np.asarray(model.reconstruct(inputs, **given), dtype=np.float32)
                a, b = as_images(inputs), as_images(recon.reshape(inputs.shape))
                if a is not None and b is not None:
                    drawn["reconstructions"] = side_by_side(a, b)
            if callable(getattr(model, "sample", None)):  # VAE (seeded z), PixelCNN / PixelRNN, ...
                if labels is None:
                    drawn["samples"] = model.sample(n, seed=seed)
                else:
                    drawn["samples"] = model.sample(len(labels), seed=seed, labels=labels)
    images = {tag: as_images(value) for tag, value in drawn.items()}
    return {tag: np.clip(value, 0.0, 1.0) for tag, value in images.items() if value is not None}


class ImageSummaries(PeriodicSummaries):
    """Writes image summaries of the model's drawings every ``every`` epochs (and after the last).

    Args:
        log_dir: TensorBoard log folder (the one given to ``keras.callbacks.TensorBoard``);
            images go to its ``images`` run.
        x: Fixed test examples for reconstructions (the first ``n`` are used).
        n: Images per grid.
        cols: Images (for reconstructions: pairs) per grid row (a class-conditional model's
            samples: one row per class, whatever ``cols``).
        every: Write after every ``every``-th epoch and after the last one.
        seed: Seed of the fixed latent vectors / samples.
        y: Class ids of ``x`` (a class-conditional model's reconstructions need them).

    Attributes:
        written: ``(tag, epoch)`` pairs written so far.

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> ae.compile()
        >>> images = ImageSummaries(tmp_dir, x_digits_test, n=4, every=2)
        >>> _ = ae.fit(x_digits, epochs=3, batch_size=64, callbacks=[images], verbose=0)
        >>> images.written  # epochs are 0-based, as Keras' epoch_* scalars
        [('reconstructions', 1), ('reconstructions', 2)]
    """

    def __init__(self, log_dir: str | os.PathLike, x: np.ndarray | None = None, n: int = 16, cols: int | None = None,
                 every: int = 5, seed: int = 0, y: np.ndarray | None = None):
        super().__init__(log_dir, IMAGES_RUN, every)
        self.x = None if x is None else np.asarray(x[: check_int(n, "n", minimum=1)])
        self.y = None if y is None else np.asarray(y)[: self.x.shape[0] if self.x is not None else 0]
        self.n = check_int(n, "n", minimum=1)
        self.cols = check_int(cols, "cols", minimum=1) if cols is not None else max(1, math.isqrt(self.n))
        self.seed = int(seed)
        self.written: list[tuple[str, int]] = []
        self._z = self._labels = self._per_row = None

    @staticmethod
    def applies(model, x: np.ndarray | None = None) -> bool:
        """Whether the model draws anything (a hook, a generator, a sampler or a reconstruction)."""
        if callable(getattr(model, HOOK, None)) or callable(getattr(model, "sample", None)):
            return True
        if callable(getattr(model, "generate", None)) and hasattr(model, "latent_dim"):
            return True
        return callable(getattr(model, "reconstruct", None)) and x is not None and as_images(x[:1]) is not None

    def on_train_begin(self, logs=None):
        model = self.model
        self._labels, self._per_row = class_rows(model, self.n)
        if callable(getattr(model, "generate", None)) and hasattr(model, "latent_dim"):
            # Drawn once: the same z at every epoch makes successive grids comparable.
            count = self.n if self._labels is None else len(self._labels)
            self._z = np.random.default_rng(self.seed).standard_normal((count, model.latent_dim)).astype(np.float32)

    def write(self, epoch: int) -> dict[str, np.ndarray]:
        """Writes every grid for ``epoch`` (0-based step); returns tag -> grid ``(H, W, c)``."""
        if self._per_row is None:  # written before fit (no on_train_begin)
            self._labels, self._per_row = class_rows(self.model, self.n)
        drawn = model_images(self.model, self.x, n=self.n, seed=self.seed, z=self._z, labels=self._labels, y=self.y)
        grids = {}
        with self.summary_writer().as_default():
            for tag, images in drawn.items():
                per_row = self._per_row if tag == "samples" and self._per_row else self.cols
                grids[tag] = tile(images, per_row)
                tf.summary.image(tag, grids[tag][None], step=epoch, max_outputs=1)
                self.written.append((tag, epoch))
        self.flush()
        return grids

    def act(self, epoch: int) -> None:
        self.write(epoch)
