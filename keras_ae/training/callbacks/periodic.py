"""``PeriodicCallback``: the base of the callbacks that act every N epochs and once more after the last.

Image summaries, the posterior-collapse scalars and the GAN's sample grids all write after
every ``every``-th epoch, and after the final epoch when that one was not due, so the end of
training is always recorded. :class:`PeriodicSummaries` adds the TensorBoard writer that the
first two share (created on first use, flushed after each write, closed when training ends).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from keras_ae.validation import check_int


class PeriodicCallback(keras.callbacks.Callback):
    """Calls :meth:`act` after every ``every``-th epoch and after the last epoch if it was not due.

    Subclasses implement ``act(epoch)`` (``epoch`` 0-based, as Keras counts) and may override
    :meth:`finish`, called once when training ends.

    Args:
        every: Act after every ``every``-th epoch (>= 1).

    Example:
        >>> class Record(PeriodicCallback):
        ...     def __init__(self, every):
        ...         super().__init__(every)
        ...         self.epochs = []
        ...     def act(self, epoch):
        ...         self.epochs.append(epoch)
        >>> record = Record(every=2)
        >>> for epoch in range(5):
        ...     record.on_epoch_end(epoch)
        >>> record.on_train_end()
        >>> record.epochs  # epochs 2 and 4 (1-based), then the last one, 5
        [1, 3, 4]
    """

    def __init__(self, every: int = 1):
        super().__init__()
        self.every = check_int(every, "every", minimum=1)
        self._last_epoch: int | None = None  # the last epoch that ended
        self._last_acted: int | None = None  # the last epoch acted on

    def act(self, epoch: int) -> Any:
        """What the callback does for ``epoch`` (0-based)."""
        raise NotImplementedError(f"{type(self).__name__} must implement act(epoch).")

    def finish(self) -> None:
        """Called once when training ends, after the last :meth:`act`."""

    def _act(self, epoch: int) -> None:
        self.act(epoch)
        self._last_acted = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._last_epoch = epoch
        if (epoch + 1) % self.every == 0:
            self._act(epoch)

    def on_train_end(self, logs=None):
        if self._last_epoch is not None and self._last_acted != self._last_epoch:
            self._act(self._last_epoch)
        self.finish()


class PeriodicSummaries(PeriodicCallback):
    """A :class:`PeriodicCallback` that writes TensorBoard summaries to ``log_dir / run``.

    Subclasses write inside ``with self.summary_writer().as_default():``; :meth:`flush` after a
    write, and the writer is closed when training ends (a later write opens it again).

    Args:
        log_dir: The TensorBoard log folder (as given to ``keras.callbacks.TensorBoard``).
        run: The run folder under ``log_dir`` that TensorBoard shows as one run.
        every: Write after every ``every``-th epoch and after the last.

    Example:
        >>> import tempfile
        >>> class Constant(PeriodicSummaries):
        ...     def act(self, epoch):
        ...         with self.summary_writer().as_default():
        ...             tf.summary.scalar("one", 1.0, step=epoch)
        ...         self.flush()
        >>> with tempfile.TemporaryDirectory() as log_dir:
        ...     summaries = Constant(log_dir, "constant", every=1)
        ...     summaries.on_epoch_end(0)
        ...     summaries.on_train_end()
        ...     sorted(p.parent.name for p in Path(log_dir).rglob("events.out.tfevents.*"))
        ['constant']
    """

    def __init__(self, log_dir: str | os.PathLike, run: str, every: int = 1):
        super().__init__(every)
        self.log_dir = Path(log_dir)
        self.run = str(run)
        self._writer = None

    def summary_writer(self) -> tf.summary.SummaryWriter:
        """The run's file writer, created on first use."""
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.log_dir / self.run))
        return self._writer

    def flush(self) -> None:
        """Writes what is buffered to disk (TensorBoard shows it at once)."""
        if self._writer is not None:
            self._writer.flush()

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


__all__ = ["PeriodicCallback", "PeriodicSummaries"]
