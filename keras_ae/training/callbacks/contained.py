"""``ContainedCallback``: a callback whose failure is kept instead of ending ``fit``.

A summary callback (TensorBoard scalars, images, the embedding projector) reports on
training; it should never cost the training itself. Keras lets an exception of any hook
propagate out of ``fit``, which drops the trained model and its history on the floor
(``fit`` never returns). Wrapped, the first exception is stored in ``error``, the wrapped
callback is switched off, and training carries on; the caller saves its results, then
reports ``error``.
"""

from __future__ import annotations

from typing import Sequence

import keras

# Every hook of keras.callbacks.Callback, forwarded to the wrapped callback.
HOOKS = tuple(name for name in dir(keras.callbacks.Callback) if name.startswith("on_"))


class ContainedCallback(keras.callbacks.Callback):
    """Runs ``inner``; its first exception is kept in :attr:`error` and ``inner`` stops.

    Args:
        inner: The callback to run.

    Example:
        >>> class Broken(keras.callbacks.Callback):
        ...     def on_train_end(self, logs=None):
        ...         raise NotImplementedError("no summary")
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> ae.compile()
        >>> guard = ContainedCallback(Broken())
        >>> len(ae.fit(x_digits, epochs=1, verbose=0, callbacks=[guard]).history["loss"])
        1
        >>> guard.describe()
        'Broken failed in on_train_end: NotImplementedError: no summary'
    """

    def __init__(self, inner: keras.callbacks.Callback):
        super().__init__()
        self.inner = inner
        self.error: BaseException | None = None
        self.failed_in: str | None = None

    def _forward(self, hook: str, *args, **kwargs) -> None:
        if self.error is not None:
            return
        try:
            getattr(self.inner, hook)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001  (any failure of a summary; KeyboardInterrupt still ends fit)
            self.error, self.failed_in = exc, hook

    def set_model(self, model) -> None:
        super().set_model(model)
        self._forward("set_model", model)

    def set_params(self, params) -> None:
        super().set_params(params)
        self._forward("set_params", params)

    def describe(self) -> str | None:
        """One line naming the wrapped callback, the hook and the error; ``None`` if nothing failed."""
        if self.error is None:
            return None
        return f"{type(self.inner).__name__} failed in {self.failed_in}: {type(self.error).__name__}: {self.error}"


def _make_hook(name: str):
    def hook(self, *args, **kwargs):
        self._forward(name, *args, **kwargs)

    hook.__name__ = name
    return hook


for _name in HOOKS:
    setattr(ContainedCallback, _name, _make_hook(_name))


def contained(callbacks: Sequence[keras.callbacks.Callback]) -> list[ContainedCallback]:
    """Each callback wrapped in a :class:`ContainedCallback`.

    Args:
        callbacks: The callbacks to wrap; one already a :class:`ContainedCallback` is kept as it is.

    Returns:
        A list of :class:`ContainedCallback` in the order given.

    Example:
        >>> [type(c).__name__ for c in contained([keras.callbacks.History()])]
        ['ContainedCallback']
    """
    return [c if isinstance(c, ContainedCallback) else ContainedCallback(c) for c in callbacks]


def failures(callbacks: Sequence[keras.callbacks.Callback]) -> list[str]:
    """The :meth:`ContainedCallback.describe` line of each wrapped callback that failed.

    Args:
        callbacks: The callbacks passed to ``fit``; those not wrapped in a :class:`ContainedCallback`
            are skipped.

    Returns:
        One line per failed callback, in the order given (empty when none failed).

    Example:
        >>> failures(contained([keras.callbacks.History()]))
        []
    """
    return [c.describe() for c in callbacks if isinstance(c, ContainedCallback) and c.error is not None]
