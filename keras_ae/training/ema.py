"""The weight averages of an optimizer with ``use_ema=True``, swapped in for a while.

Keras keeps the averages in the optimizer and writes them into the model when ``fit``
ends (``finalize_variable_values``); ``keras.callbacks.SwapEMAWeights`` swaps them in for
``evaluate`` during ``fit``. :func:`ema_weights` is the same swap for any other code
(a scoring callback, a sampler) while training is under way. :class:`AveragingAdam` (the
default optimizer of the families that average) also keeps the weights it trained, and
:func:`resume_training_weights` puts them back when the next ``fit`` starts, so ``fit``
called again and again trains on as one long ``fit`` would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras
import numpy as np

from keras_ae.errors import InputValidationError


def _ema_optimizer(model: keras.Model):
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    if not getattr(optimizer, "use_ema", False) or not getattr(optimizer, "_model_variables_moving_average", None):
        return None  # no averaging, or not built yet (no step taken): the weights are the averages
    return optimizer


def _averaged_variables(model: keras.Model, optimizer) -> list[tuple]:
    """(variable, average) pairs, paired as the optimizer pairs them: by the variable list it was
    built with, not by ``model.trainable_variables``, which shrinks or reorders when a sub-model's
    ``trainable`` changes after ``fit`` (the optimizer keeps averaging every variable it was built with).
    Keras' ``SwapEMAWeights`` pairs the same way."""
    built_with = list(getattr(optimizer, "_trainable_variables", []))
    averages = list(optimizer._model_variables_moving_average)
    own = {id(v) for v in model.variables}
    if len(built_with) != len(averages) or not all(id(v) in own for v in built_with):
        raise InputValidationError(
            f"The optimizer's {len(averages)} weight averages belong to variables that are not this model's "
            "(it was built for another model, or the model was rebuilt after compile), so ema_weights cannot "
            "swap them in. Compile the model with a fresh optimizer and train it."
        )
    return [(var, average) for var, average in zip(built_with, averages) if average is not None]


@contextlib.contextmanager
def ema_weights(model: keras.Model) -> Iterator[keras.Model]:
    """Within the block the model holds its optimizer's weight averages; after it, its own weights again.

    A no-op for a model whose optimizer keeps no averages (or has taken no step). The weights
    come back even if the block raises. Every variable the optimizer averages gets its average,
    including those of a sub-model frozen (``trainable = False``) after training.

    Args:
        model: A compiled model.

    Yields:
        ``model`` itself, holding the averages of its optimizer until the block ends (its own
        weights when the optimizer keeps no averages).

    Raises:
        InputValidationError: the optimizer's averages belong to variables that are not the model's.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), dynamic_binarization=True)
        >>> vae.compile()  # the VAE's default optimizer averages its weights
        >>> _ = vae.fit(x_digits[:64], epochs=2, batch_size=32, verbose=0)
        >>> kernel = vae.trainable_variables[0]
        >>> _ = kernel.assign(np.zeros(kernel.shape, "float32"))  # the live weights move off the average
        >>> with ema_weights(vae):
        ...     bool(np.abs(kernel.numpy()).sum() > 0)
        True
        >>> float(np.abs(kernel.numpy()).sum())
        0.0
    """
    optimizer = _ema_optimizer(model)
    if optimizer is None:
        yield model
        return
    pairs = _averaged_variables(model, optimizer)
    saved = [keras.ops.convert_to_numpy(var) for var, _ in pairs]
    for var, average in pairs:
        var.assign(average)
    try:
        yield model
    finally:
        for (var, _), value in zip(pairs, saved):
            var.assign(value)


@keras.saving.register_keras_serializable(package="keras_ae")
class AveragingAdam(keras.optimizers.Adam):
    """Adam with weight averaging (``use_ema=True``) whose training weights outlive ``fit``.

    Keras ends ``fit`` by writing the averages into the model; the next ``fit`` would then
    train on from the averages, which trail the trained weights by about ``1 / (1 -
    ema_momentum)`` steps, and lose that much progress at every call. This optimizer keeps
    the trained weights when it writes the averages; :func:`resume_training_weights` (called
    by keras_ae's ``fit``) puts them back before the next step. Everything else is Keras' Adam.

    Example:
        >>> AveragingAdam(1e-3, use_ema=True, ema_momentum=0.99).use_ema
        True
    """

    def finalize_variable_values(self, var_list):
        if self.use_ema and getattr(self, "_model_variables_moving_average", None):
            # Past Keras' attribute tracker: these are copies, not optimizer state to save.
            object.__setattr__(self, "_training_weights", [(var, keras.ops.convert_to_numpy(var)) for var in var_list])
        super().finalize_variable_values(var_list)


def resume_training_weights(model: keras.Model) -> bool:
    """Puts back the weights the model's :class:`AveragingAdam` trained before ``fit`` wrote the averages in.

    Only while the model still holds exactly those averages (weights loaded or assigned
    since then are left as they are); each kept set is used once.

    Args:
        model: A compiled model.

    Returns:
        Whether the trained weights were put back.

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), dynamic_binarization=True)
        >>> vae.compile()  # AveragingAdam
        >>> _ = vae.fit(x_digits[:64], epochs=2, batch_size=32, verbose=0)  # ends holding the averages
        >>> resume_training_weights(vae), resume_training_weights(vae)
        (True, False)
    """
    optimizer = _ema_optimizer(model)
    kept = getattr(optimizer, "_training_weights", None)
    if not kept:
        return False
    object.__setattr__(optimizer, "_training_weights", None)
    averages = {id(var): average for var, average in _averaged_variables(model, optimizer)}
    if any(id(var) not in averages for var, _ in kept) or not all(
            np.array_equal(keras.ops.convert_to_numpy(var), keras.ops.convert_to_numpy(averages[id(var)]))
            for var, _ in kept):
        return False  # the weights changed after fit: theirs
    for var, value in kept:
        var.assign(value)
    return True
