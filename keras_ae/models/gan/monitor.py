"""``GANMonitor``: a grid of samples from fixed latent vectors every N epochs, so the
grids of successive epochs are directly comparable.

A GAN's callback, beside the model it samples: it draws through :meth:`GAN.generate` and
saves through :mod:`keras_ae.plotting`, which ``keras_ae.training`` may not import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from keras_ae.training.callbacks.periodic import PeriodicCallback
from keras_ae.validation import check_int, check_seed


class GANMonitor(PeriodicCallback):
    """Saves a grid of samples from fixed latent vectors every ``every`` epochs.

    The same ``z`` (drawn once from ``seed``) is used at every epoch, so successive grids
    show how the generator's mapping evolves. Images come from the EMA generator when the
    GAN has one (what :meth:`GAN.sample` uses), mapped to [0, 1] for display.

    Args:
        out_dir: Folder for the PNG files ``epoch_001.png``, ...
        n: Number of samples in the grid.
        cols: Images per row.
        every: Save after every ``every``-th epoch (and after the last one).
        seed: Seed of the fixed latent vectors (the latents of ``GAN.sample(n, seed=seed)``).
        labels: Class ids for a conditional GAN (default cycles through the classes,
            so each column is one class with ``cols == num_classes``).
        use_ema: Sample from the EMA generator when available.

    Attributes:
        paths: The PNG files written so far.

    Example:
        >>> import tempfile
        >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
        >>> gan.compile(jit_compile=False)
        >>> with tempfile.TemporaryDirectory() as out:
        ...     monitor = GANMonitor(out, n=4, cols=2, every=2)
        ...     _ = gan.fit(x_digits[:32], epochs=3, batch_size=16, callbacks=[monitor], verbose=0)
        ...     [p.name for p in monitor.paths]  # every 2nd epoch and the last one
        ['epoch_002.png', 'epoch_003.png']
    """

    def __init__(self, out_dir: str | os.PathLike = "runs/gan/samples", n: int = 100, cols: int = 10, every: int = 1,
                 seed: int = 0, labels: Sequence[int] | None = None, use_ema: bool = True):
        super().__init__(every)
        self.out_dir = Path(out_dir)
        self.n = check_int(n, "n", minimum=1)
        self.cols = check_int(cols, "cols", minimum=1)
        self.seed = check_seed(seed)
        self.labels = None if labels is None else np.asarray(labels)
        self.use_ema = use_ema
        self.paths: list[Path] = []

    def on_train_begin(self, logs=None):
        self.z = self.model.latents(self.n, self.seed)  # the latents of model.sample(n, seed=seed)
        if self.model.conditional and self.labels is None:
            self.labels = np.arange(self.n) % self.model.num_classes

    def save(self, epoch: int) -> Path:
        """Writes the grid for ``epoch`` (1-based) and returns its path.

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
            >>> monitor = GANMonitor(str(tmp_dir), n=4, cols=2)
            >>> monitor.set_model(gan)
            >>> monitor.save(0).name  # the untrained generator
            'epoch_000.png'
        """
        # Imported here: matplotlib loads only when a grid is saved.
        from keras_ae.plotting import save_image_grid

        if not hasattr(self, "z"):
            self.on_train_begin()
        images = self.model.generate(self.z, self.labels, use_ema=self.use_ema, unit_range=True)
        path = save_image_grid(np.clip(images, 0.0, 1.0), self.out_dir / f"epoch_{epoch:03d}.png", cols=self.cols,
                               title=f"{self.model.name}: epoch {epoch}")
        self.paths.append(path)
        return path

    def act(self, epoch: int) -> None:
        self.save(epoch + 1)  # the files count epochs from 1
