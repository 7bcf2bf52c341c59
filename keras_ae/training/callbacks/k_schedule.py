"""Makhzani & Frey (2014)'s k schedule for k-sparse auto-encoders, as a Keras callback.

Training with the target ``k`` from the first step lets a few hidden units win every
example while the rest die (they never get a gradient). The paper starts with a large
``k`` (every unit gets gradients) and lowers it linearly to the target during the first
epochs.
"""

from __future__ import annotations

import keras

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_int


def scheduled_k(epoch: int, target_k: int, initial_k: int, anneal_epochs: int) -> int:
    """The k of ``epoch`` (0-based): linear from ``initial_k`` at epoch 0 to ``target_k`` at ``anneal_epochs``.

    ``k(e) = round(initial_k + (target_k - initial_k) * min(e / anneal_epochs, 1))``.

    Args:
        epoch: The epoch index (0-based; negative counts as 0).
        target_k: k at and after ``anneal_epochs``.
        initial_k: k at epoch 0.
        anneal_epochs: Epochs of the linear schedule (0 or less: ``target_k`` from the start).

    Returns:
        The k of ``epoch``, rounded to an int.

    Example:
        >>> [scheduled_k(e, 10, 100, 4) for e in range(6)]
        [100, 78, 55, 32, 10, 10]
    """
    if anneal_epochs <= 0:
        return int(target_k)
    fraction = min(max(epoch, 0) / anneal_epochs, 1.0)
    return int(round(initial_k + (target_k - initial_k) * fraction))


class KSchedule(keras.callbacks.Callback):
    """Sets the k of every :class:`~keras_ae.layers.KSparse` layer of the model at the start of each epoch.

    A layer takes part when its class sets ``schedulable_k = True`` and it holds an int ``k``
    (as ``KSparse`` does), so this callback needs no import of ``keras_ae.layers``.

    k follows :func:`scheduled_k`; when it changes, the train function is rebuilt (``k`` is
    read when the graph is traced), so each epoch trains with its own k. After the
    schedule ends the layers hold ``target_k``, so the trained (and saved) model encodes
    with the target. The value is logged as ``k`` in the history.

    Args:
        target_k: Final k (the layers' own ``k`` if ``None``, read when training starts).
        initial_k: k of the first epoch (capped at the code size).
        anneal_epochs: Epochs to reach ``target_k`` (0: target from the start).

    Example:
        >>> model = keras_ae.models.build_sparse_ae((8, 8, 1), hidden=(16,), code_dim=32, k=4, l1=0.0)
        >>> model.compile()
        >>> history = model.fit(x_digits, epochs=3, batch_size=64, verbose=0,
        ...                     callbacks=[KSchedule(initial_k=32, anneal_epochs=2)])
        >>> history.history["k"]
        [32.0, 18.0, 4.0]
    """

    def __init__(self, target_k: int | None = None, initial_k: int = 100, anneal_epochs: int = 5):
        super().__init__()
        self.target_k = None if target_k is None else check_int(target_k, "target_k", minimum=1)
        self.initial_k = check_int(initial_k, "initial_k", minimum=1)
        self.anneal_epochs = check_int(anneal_epochs, "anneal_epochs", minimum=0)
        self.current_k: int | None = None

    def layers(self) -> list[keras.layers.Layer]:
        """The model's layers with a schedulable ``k`` (searched through its sub-models)."""
        found = [layer for layer in self.model._flatten_layers(include_self=False)
                 if getattr(layer, "schedulable_k", False) is True]
        if not found:
            raise InputValidationError("KSchedule needs a model with a KSparse layer (build_sparse_ae(..., k=...)).")
        return found

    def on_train_begin(self, logs=None):
        if self.target_k is None:
            self.target_k = self.layers()[0].k

    def k_at(self, epoch: int) -> int:
        """This schedule's k at ``epoch``, capped at each layer's code size.

        Example:
            >>> KSchedule(10, initial_k=100, anneal_epochs=4).k_at(1)
            78
        """
        return scheduled_k(epoch, self.target_k, max(self.initial_k, self.target_k), self.anneal_epochs)

    def on_epoch_begin(self, epoch, logs=None):
        k = self.k_at(epoch)
        changed = False
        for layer in self.layers():
            units = layer.input.shape[-1] if layer._inbound_nodes else None
            k_layer = min(k, units) if units else k
            if layer.k != k_layer:
                layer.k, changed = k_layer, True
        self.current_k = k
        if changed and getattr(self.model, "train_function", None) is not None:
            # The graph captured the old k: trace a new one for this epoch.
            self.model.make_train_function(force=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.current_k is not None:
            logs["k"] = float(self.current_k)


__all__ = ["KSchedule", "scheduled_k"]
