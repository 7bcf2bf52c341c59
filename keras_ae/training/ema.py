"""The weight averages of an optimizer with ``use_ema=True``, swapped in for a while.

Keras keeps the averages in the optimizer and writes them into the model when ``fit``
ends (``finalize_variable_values``); ``keras.callbacks.SwapEMAWeights`` swaps them in for
``evaluate`` during ``fit``. :func:`ema_weights` is the same swap for any other code
(a scoring callback, a sampler) while training is under way.
"""

from __future__ import annotations

import contextlib

import keras


def _ema_optimizer(model: keras.Model):
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    if not getattr(optimizer, "use_ema", False) or not getattr(optimizer, "_model_variables_moving_average", None):
        return None  # no averaging, or not built yet (no step taken): the weights are the averages
    return optimizer


@contextlib.contextmanager
def ema_weights(model: keras.Model):
    """Within the block the model holds its optimizer's weight averages; after it, its own weights again.

    A no-op for a model whose optimizer keeps no averages (or has taken no step). The weights
    come back even if the block raises.

    Args:
        model: A compiled model.

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
    pairs = list(zip(model.trainable_variables, optimizer._model_variables_moving_average))
    saved = [keras.ops.convert_to_numpy(var) for var, _ in pairs]
    for var, average in pairs:
        var.assign(average)
    try:
        yield model
    finally:
        for (var, _), value in zip(pairs, saved):
            var.assign(value)
