"""``fit`` on several hosts: what :class:`~keras_ae.training.trainer.Trainer` needs under
``MultiWorkerMirroredStrategy``.

One ``fit`` trains on one device, on several devices of one host (``MirroredStrategy``) and
on several hosts (``MultiWorkerMirroredStrategy``): create and compile the model inside
``strategy.scope()`` and call ``fit`` with the global batch size, so the input checks and
the NaN guard run everywhere. On several hosts Keras 3 reduces a step's scalar logs with
``strategy.reduce("MEAN", value, axis=0)``, which fails on scalars
(keras-team/keras#20585); :func:`with_reducible_logs` gives each scalar log a length-1 axis
there, and the reduction returns the scalar mean over the replicas.

The replica-aware pieces a ``train_step`` or a layer uses (loss scaling, per-example noise)
live below ``training/``, in :mod:`keras_ae.replicas` and :mod:`keras_ae.random`.
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf


def in_multi_worker_mode(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether ``strategy`` (default: the current one) spans several worker processes.

    The condition under which Keras 3 reduces logs with ``axis=0`` (keras-team/keras#20585).

    Args:
        strategy: A ``tf.distribute`` strategy (``None``: ``tf.distribute.get_strategy()``).

    Returns:
        ``True`` for a ``MultiWorkerMirroredStrategy`` in multi-worker mode, else ``False``.

    Example:
        >>> in_multi_worker_mode()
        False
    """
    strategy = strategy or tf.distribute.get_strategy()
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


def with_reducible_logs(step: Callable[[Any], dict]) -> Callable[[Any], dict]:
    """Wraps a ``train_step`` / ``test_step`` so that its scalar logs have a length-1 axis.

    Under ``MultiWorkerMirroredStrategy`` Keras reduces each log with
    ``strategy.reduce("MEAN", value, axis=0)``: a ``(1,)`` log becomes the scalar mean over
    the replicas, where a scalar log fails (keras-team/keras#20585).

    Args:
        step: A function from a batch to a structure of logs.

    Returns:
        The same function, its rank-0 logs reshaped to ``(1,)``.

    Example:
        >>> step = with_reducible_logs(lambda batch: {"loss": tf.reduce_mean(batch)})
        >>> step(tf.ones((4, 2)))["loss"].shape
        TensorShape([1])
    """

    def step_with_reducible_logs(data):
        def reducible(value):
            value = tf.convert_to_tensor(value)
            return tf.reshape(value, [1]) if value.shape.rank == 0 else value

        return tf.nest.map_structure(reducible, step(data))

    return step_with_reducible_logs
