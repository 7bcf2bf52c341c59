"""Loss scaling for custom ``train_step``s under ``tf.distribute``.

Under a strategy each replica sees ``global_batch / replicas`` examples and the
optimizer *sums* gradients across replicas. A replica's mean loss must therefore be
divided by the number of replicas, so that the summed gradient is the gradient of the
mean over the global batch (what one device would compute). Trackers get the unscaled
value, weighted by the local batch size, so the reported epoch mean is exact.
"""

from __future__ import annotations

import tensorflow as tf


def num_replicas() -> int:
    """Number of replicas of the current ``tf.distribute`` strategy (1 without one).

    Example:
        >>> num_replicas()
        1
    """
    return tf.distribute.get_strategy().num_replicas_in_sync


def scale_loss_for_replicas(loss: tf.Tensor) -> tf.Tensor:
    """Divides a per-replica mean loss by the number of replicas.

    Args:
        loss: Scalar mean loss over the replica's local batch.

    Returns:
        The loss whose gradients, summed over replicas, give the global-batch mean.

    Example:
        >>> float(scale_loss_for_replicas(tf.constant(2.0)))
        2.0
    """
    n = num_replicas()
    return loss if n == 1 else loss * tf.cast(1.0 / n, loss.dtype)


def batch_size_of(x) -> tf.Tensor:
    """The (local) batch size of a tensor or nested structure, as a float32 scalar.

    Example:
        >>> float(batch_size_of(tf.zeros((3, 2))))
        3.0
    """
    first = tf.nest.flatten(x)[0]
    return tf.cast(tf.shape(first)[0], tf.float32)


def fit_distributed(model, dataset, epochs: int = 1, strategy=None, verbose: int = 1) -> dict[str, list[float]]:
    """Trains ``model`` with its own ``train_step`` on a ``tf.distribute`` strategy.

    ``model.fit`` works under ``MirroredStrategy`` (one host, several devices). Keras 3's
    ``fit`` does not run under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585);
    this loop runs the same ``train_step`` through ``strategy.run`` on a distributed
    dataset, so multi-host training works with every keras_ae model.

    Args:
        model: A compiled keras_ae model, created and compiled inside ``strategy.scope()``.
        dataset: A ``tf.data.Dataset`` of global batches (each worker passes the same
            pipeline; it is sharded across workers automatically).
        epochs: Passes over ``dataset``.
        strategy: The strategy (default: the current one).
        verbose: 1 shows a Keras progress bar per epoch.

    Returns:
        History dict: metric name -> list of epoch means.

    Example:
        >>> strategy = tf.distribute.MultiWorkerMirroredStrategy()  # doctest: +SKIP
        >>> with strategy.scope():  # doctest: +SKIP
        ...     model = build_dense_ae((28, 28, 1)); model.compile()
        >>> fit_distributed(model, make_tf_dataset(x, batch_size=256), epochs=5)  # doctest: +SKIP
    """
    import keras

    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    distributed = strategy.experimental_distribute_dataset(dataset)

    @tf.function
    def step(batch):
        logs = strategy.run(model.train_step, args=(batch,))
        # Trackers hold per-replica means over equal local batches: average them.
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    history: dict[str, list[float]] = {}
    for epoch in range(epochs):
        for metric in model.metrics:
            metric.reset_state()
        bar = keras.utils.Progbar(None, verbose=verbose, unit_name="step")
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}")
        logs = {}
        for i, batch in enumerate(distributed):
            logs = {k: float(v) for k, v in step(batch).items()}
            bar.update(i + 1, values=list(logs.items()), finalize=False)
        bar.update(i + 1 if logs else 0, values=list(logs.items()), finalize=True)
        for k, v in logs.items():
            history.setdefault(k, []).append(v)
    return history
