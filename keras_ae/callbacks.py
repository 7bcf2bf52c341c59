"""Keras callbacks shared by keras_ae models.

* :class:`DivergenceGuard`: stops training at the first NaN/inf loss and restores the
  last weights (and optimizer state) that still produced finite losses.
* :class:`GANMonitor`: saves a grid of samples from a fixed set of latent vectors every
  N epochs, so the grids of successive epochs are directly comparable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from keras_ae.errors import TrainingDivergedError
from keras_ae.validation import check_positive_int


def _optimizers_of(model: keras.Model) -> list:
    """Every optimizer a model holds (``optimizer``, or ``d_optimizer``/``g_optimizer``...)."""
    found = []
    for value in list(vars(model).values()) + [getattr(model, "optimizer", None)]:
        if isinstance(value, keras.optimizers.Optimizer) and all(value is not f for f in found):
            found.append(value)
    return found


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training at the first NaN or infinite loss and rolls back to the last good state.

    Before each batch it copies the model's weights and optimizer variables; when a
    batch ends with a finite loss, that copy becomes the "last good" state (those weights
    produced finite losses). At the first non-finite value it restores the last good
    state, stops training and reports the epoch, batch and likely causes. ``GAN.fit``
    adds one automatically.

    Args:
        monitor: Log keys to check; ``None`` checks every loss-like key
            (names containing ``loss``).
        raise_error: Raise :class:`~keras_ae.errors.TrainingDivergedError` after
            restoring, instead of stopping quietly (history is then lost).
        verbose: Print the divergence message.

    Attributes:
        diverged: ``None``, or ``{"epoch", "batch", "key", "value"}`` of the divergence.

    Example:
        >>> guard = DivergenceGuard()
        >>> model.fit(x, epochs=10, callbacks=[guard])  # doctest: +SKIP
        >>> guard.diverged  # None if training stayed finite  # doctest: +SKIP
    """

    def __init__(self, monitor: Sequence[str] | None = None, raise_error: bool = False, verbose: int = 1):
        super().__init__()
        self.monitor = None if monitor is None else tuple(monitor)
        self.raise_error = raise_error
        self.verbose = verbose
        self.diverged: dict | None = None
        self._epoch = 0

    def _variables(self) -> list:
        variables = list(self.model.weights)
        for opt in _optimizers_of(self.model):
            variables += list(opt.variables)
        return variables

    def _snapshot(self) -> list[np.ndarray]:
        return [np.array(v.numpy(), copy=True) for v in self._variables()]

    def on_train_begin(self, logs=None):
        self.diverged = None
        self._good = self._snapshot()
        self._pending = self._good

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._pending = self._snapshot()

    def on_train_batch_end(self, batch, logs=None):
        for key, value in (logs or {}).items():
            if self.monitor is not None and key not in self.monitor:
                continue
            if self.monitor is None and "loss" not in key:
                continue
            value = float(np.asarray(value))
            if not np.isfinite(value):
                self._diverge(batch, key, value)
                return
        self._good = self._pending

    def _diverge(self, batch: int, key: str, value: float) -> None:
        for variable, saved in zip(self._variables(), self._good):
            variable.assign(saved)
        self.model.stop_training = True
        self.diverged = {"epoch": self._epoch + 1, "batch": batch + 1, "key": key, "value": value}
        message = (
            f"Training diverged: {key} = {value} at epoch {self._epoch + 1}, batch {batch + 1}. Stopped and restored "
            "the last weights that gave finite losses. Likely causes: a learning rate too high for this "
            "loss (try 10x lower), NaN/inf in the input pipeline, or for GANs a discriminator that "
            "overpowers the generator (try label_smoothing, instance_noise or loss='wasserstein_gp')."
        )
        if self.verbose:
            keras.utils.io_utils.print_msg("\n" + message)
        if self.raise_error:
            raise TrainingDivergedError(message)


class GANMonitor(keras.callbacks.Callback):
    """Saves a grid of samples from fixed latent vectors every ``every`` epochs.

    The same ``z`` (drawn once from ``seed``) is used at every epoch, so successive grids
    show how the generator's mapping evolves. Images come from the EMA generator when the
    GAN has one (what :meth:`GAN.sample` uses), mapped to [0, 1] for display.

    Args:
        out_dir: Folder for the PNG files ``epoch_001.png``, ...
        n: Number of samples in the grid.
        cols: Images per row.
        every: Save after every ``every``-th epoch (and after the last one).
        seed: Seed of the fixed latent vectors.
        labels: Class ids for a conditional GAN (default cycles through the classes,
            so each column is one class with ``cols == num_classes``).
        use_ema: Sample from the EMA generator when available.

    Attributes:
        paths: The PNG files written so far.

    Example:
        >>> gan.fit(x, epochs=20, callbacks=[GANMonitor("runs/gan/grids", every=5)])  # doctest: +SKIP
    """

    def __init__(self, out_dir: str | os.PathLike = "runs/gan/samples", n: int = 100, cols: int = 10, every: int = 1,
                 seed: int = 0, labels: Sequence[int] | None = None, use_ema: bool = True):
        super().__init__()
        self.out_dir = Path(out_dir)
        self.n = check_positive_int(n, "n")
        self.cols = check_positive_int(cols, "cols")
        self.every = check_positive_int(every, "every")
        self.seed = seed
        self.labels = None if labels is None else np.asarray(labels)
        self.use_ema = use_ema
        self.paths: list[Path] = []
        self._last_saved = None

    def on_train_begin(self, logs=None):
        self.z = np.random.default_rng(self.seed).standard_normal((self.n, self.model.latent_dim)).astype(np.float32)
        if self.model.conditional and self.labels is None:
            self.labels = np.arange(self.n) % self.model.num_classes

    def save(self, epoch: int) -> Path:
        """Writes the grid for ``epoch`` (1-based) and returns its path.

        Example:
            >>> monitor.save(0)  # the untrained generator  # doctest: +SKIP
        """
        from keras_ae.plotting import save_image_grid

        if not hasattr(self, "z"):
            self.on_train_begin()
        images = self.model.generate(self.z, self.labels, use_ema=self.use_ema, unit_range=True)
        path = save_image_grid(np.clip(images, 0.0, 1.0), self.out_dir / f"epoch_{epoch:03d}.png", cols=self.cols,
                               title=f"{self.model.name}: epoch {epoch}")
        self.paths.append(path)
        self._last_saved = epoch
        return path

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.save(epoch + 1)
        self._epoch = epoch + 1

    def on_train_end(self, logs=None):
        last = getattr(self, "_epoch", None)
        if last is not None and self._last_saved != last:
            self.save(last)
