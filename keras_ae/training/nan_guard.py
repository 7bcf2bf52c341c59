"""NaN safety: stop at the first non-finite loss and keep the last finite weights.

Keras' own ``TerminateOnNaN`` stops training but leaves the NaN weights in the model,
so the user loses the run. ``NaNGuard`` snapshots the weights *and the optimizer state*
at every finite epoch end, and on a NaN/inf loss stops, restores that snapshot and
records a message naming the epoch, the step and the likely causes. The optimizer state
matters: one NaN gradient makes Adam's moment estimates NaN, and restored weights with
NaN moments turn NaN again at the next step of the next ``fit``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import keras


class NaNGuard(keras.callbacks.Callback):
    """Stops training on a NaN/inf loss and restores the last finite weights and optimizer state.

    Args:
        monitor: Log keys to check after every batch (those present are checked).
        snapshot_every: Also snapshot the weights every this many batches (0: only at
            epoch ends; snapshots copy all weights, so keep this sparse for big models).

    Example:
        >>> guard = NaNGuard()
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> history = model.fit(np.zeros((8, 8, 8, 1)), epochs=2, callbacks=[guard], verbose=0)
        >>> guard.message is None  # None unless training diverged
        True
    """

    def __init__(self, monitor: Sequence[str] = ("loss", "d_loss", "g_loss"), snapshot_every: int = 0):
        super().__init__()
        self.monitor = tuple(monitor)
        self.snapshot_every = int(snapshot_every)
        self.message: str | None = None
        self._snapshot = None
        self._snapshot_at = "the start of training"
        self._epoch = 0

    def _state_variables(self) -> list:
        """The model's weights and the variables of each of its optimizers (a GAN has two)."""
        optimizers = []
        for value in (getattr(self.model, "optimizer", None), *vars(self.model).values()):
            if isinstance(value, keras.optimizers.Optimizer) and not any(value is o for o in optimizers):
                optimizers.append(value)
        variables = list(self.model.weights)
        for optimizer in optimizers:
            variables.extend(optimizer.variables)
        return variables

    def _take_snapshot(self, where: str) -> None:
        # Keyed by variable: an optimizer may create variables after the snapshot (they
        # are then left as they are).
        self._snapshot = [(v, v.numpy()) for v in self._state_variables()]
        self._snapshot_at = where

    def on_train_begin(self, logs=None):
        self.message = None
        self._take_snapshot("the start of training")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _bad_value(self, logs) -> tuple[str, float] | None:
        for key in self.monitor:
            if logs and key in logs:
                value = float(logs[key])
                if not math.isfinite(value):
                    return key, value
        return None

    def on_train_batch_end(self, batch, logs=None):
        bad = self._bad_value(logs)
        if bad is not None:
            self._diverge(bad, f"epoch {self._epoch + 1}, step {batch + 1}")
        elif self.snapshot_every and (batch + 1) % self.snapshot_every == 0:
            self._take_snapshot(f"epoch {self._epoch + 1}, step {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        if self.message is not None:
            return
        bad = self._bad_value(logs)
        if bad is not None:
            self._diverge(bad, f"the end of epoch {epoch + 1}")
        else:
            self._take_snapshot(f"the end of epoch {epoch + 1}")

    @property
    def epoch(self) -> int:
        """The epoch (0-based) training is in, or stopped in."""
        return self._epoch

    @property
    def restored_from(self) -> str:
        """Where the snapshot :meth:`restore` goes back to was taken ("the end of epoch 3")."""
        return self._snapshot_at

    def restore(self) -> None:
        """Puts back the weights and optimizer state of the last snapshot (no-op before training)."""
        for variable, saved in self._snapshot or ():
            variable.assign(saved)

    def _diverge(self, bad: tuple[str, float], where: str) -> None:
        if self.message is not None:
            return
        key, value = bad
        self.restore()
        self.model.stop_training = True
        self.message = (
            f"Training diverged: `{key}` became {value} at {where}. Likely causes: a learning rate "
            "too high (try 10x smaller), inputs that are not scaled (e.g. [0, 255] instead of [0, 1]) "
            "or contain extreme values, or an unstable custom loss (log of 0). The finite weights from "
            f"{self._snapshot_at} (and the optimizer's state) were restored."
        )


def raise_if_diverged(guard: NaNGuard, history: keras.callbacks.History | None) -> keras.callbacks.History | None:
    """Returns ``history``, or raises ``TrainingDivergedError`` (history attached) if ``guard`` fired.

    Args:
        guard: The :class:`NaNGuard` that ran in the ``fit`` call.
        history: What that ``fit`` call returned.

    Returns:
        ``history`` itself, when ``guard`` recorded no divergence.

    Raises:
        TrainingDivergedError: ``guard`` fired; its message says where, and the exception's
            ``history`` attribute holds ``history``.

    Example:
        >>> raise_if_diverged(NaNGuard(), None) is None
        True
    """
    from keras_ae.errors import TrainingDivergedError

    if guard.message is not None:
        error = TrainingDivergedError(guard.message)
        error.history = history
        raise error
    return history


def fit_with_nan_guard(fit: Callable[..., keras.callbacks.History],
                       callbacks: Sequence[keras.callbacks.Callback] | None = None,
                       **kwargs: Any) -> keras.callbacks.History:
    """Calls ``fit`` with a :class:`NaNGuard`; raises ``TrainingDivergedError`` if it fired.

    keras_ae models' own ``fit`` already runs a guard (:class:`keras_ae.training.Trainer`);
    this is for any other Keras model. The weights are restored before raising, so the
    model keeps the last finite state; the partial history is on the exception.

    Args:
        fit: A ``fit`` method (e.g. ``model.fit``), called with ``callbacks=`` and ``**kwargs``.
        callbacks: Callbacks for ``fit``; a :class:`NaNGuard` is appended unless one is among them.
        **kwargs: The other arguments of ``fit`` (``x``, ``y``, ``epochs``, ...).

    Returns:
        The ``History`` that ``fit`` returned.

    Raises:
        TrainingDivergedError: the loss became NaN or infinite (the partial history is its
            ``history`` attribute).

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> history = fit_with_nan_guard(model.fit, x=np.ones((4, 2)), y=np.ones((4, 1)), verbose=0)
        >>> len(history.history["loss"])
        1
    """
    callbacks = list(callbacks or [])
    guard = next((c for c in callbacks if isinstance(c, NaNGuard)), None)
    if guard is None:
        guard = NaNGuard()
        callbacks.append(guard)
    return raise_if_diverged(guard, fit(callbacks=callbacks, **kwargs))
