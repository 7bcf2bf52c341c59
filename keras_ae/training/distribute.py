"""Loss scaling and random noise for custom ``train_step``s under ``tf.distribute``.

Under a strategy each replica sees a slice of the global batch and the optimizer *sums*
gradients across replicas. A replica's mean loss must therefore be weighted by its share
of the global batch (``local / global``; ``1 / replicas`` for even splits), so that the
summed gradient is the gradient of the mean over the global batch (what one device would
compute). A final partial batch can split unevenly, down to *empty* replicas: those run
the step on one zero example weighted 0 (:func:`nonempty_batch`). Trackers get the
unscaled value, weighted by the local batch size, so the reported epoch mean is exact.

Random draws (VAE noise, GAN latents) come from :func:`batch_noise`: example ``i`` of
the global batch gets the same numbers whichever replica holds it, so one step on
``n`` replicas equals one step on one device with the same global batch.
"""

from __future__ import annotations

import tensorflow as tf

# tf.random's Philox algorithm id (RNG_ALG_PHILOX) for the raw stateless ops.
_PHILOX = 1
_NOISE_KINDS = ("normal", "uniform")


def num_replicas() -> int:
    """Number of replicas of the current ``tf.distribute`` strategy (1 without one).

    Example:
        >>> num_replicas()
        1
    """
    return tf.distribute.get_strategy().num_replicas_in_sync


def replica_batch_position(batch_size) -> tuple[tf.Tensor, tf.Tensor]:
    """Where this replica's examples sit in the global batch.

    Args:
        batch_size: This replica's (local) batch size, a scalar tensor.

    Returns:
        ``(offset, global_batch_size)`` as int64 scalars: the replica holds examples
        ``offset .. offset + batch_size - 1`` of the global batch. Without a strategy,
        ``(0, batch_size)``. Costs one all-reduce of ``replicas`` numbers per call under
        a strategy.

    Example:
        >>> [int(v) for v in replica_batch_position(tf.constant(8))]
        [0, 8]
    """
    local = tf.cast(batch_size, tf.int64)
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tf.zeros([], tf.int64), local
    n = context.num_replicas_in_sync
    # Every replica writes its size at its own index: the sum is the list of all sizes.
    # float32 like the gradients' all-reduce (exact for batches below 2**24 examples).
    mine = tf.one_hot(context.replica_id_in_sync_group, n, on_value=tf.cast(local, tf.float32), off_value=0.0)
    sizes = tf.cast(context.all_reduce("SUM", mine), tf.int64)
    before = tf.range(n) < tf.cast(context.replica_id_in_sync_group, tf.int32)
    return tf.reduce_sum(tf.where(before, sizes, 0)), tf.reduce_sum(sizes)


def scale_loss_for_replicas(loss: tf.Tensor, batch_size=None) -> tf.Tensor:
    """Weights a per-replica mean loss by the replica's share of the global batch.

    Args:
        loss: Scalar mean loss over the replica's local batch.
        batch_size: The local batch size. With it the weight is exact for uneven splits
            (``local / global``) and an empty replica contributes 0; without it the weight
            is ``1 / replicas`` (exact for even splits only).

    Returns:
        The loss whose gradients, summed over replicas, give the global-batch mean.

    Example:
        >>> float(scale_loss_for_replicas(tf.constant(2.0), batch_size=tf.constant(4.0)))
        2.0
    """
    n = num_replicas()
    if n == 1:
        return loss
    if batch_size is None:
        return loss * tf.cast(1.0 / n, loss.dtype)
    local = tf.cast(batch_size, loss.dtype)
    _, total = replica_batch_position(batch_size)
    # where, not multiply: the mean over an empty replica is NaN and NaN * 0 is NaN.
    return tf.where(local > 0, loss * local / tf.cast(total, loss.dtype), tf.zeros_like(loss))


def nonempty_batch(x, *others):
    """Pads an empty replica batch with one zero example; returns the true batch size too.

    A final partial batch may leave a replica with no examples. It must still run the step
    (the gradient all-reduce waits for every replica), but a mean over no examples is NaN
    and oneDNN's convolution gradients fail on empty batches on CPU. The padded example is
    weighted 0 by :func:`scale_loss_for_replicas` and by the trackers (pass them the true
    batch size). Without a multi-replica strategy the inputs come back unchanged.

    Args:
        x: The replica's inputs.
        *others: Tensors with the same first axis (targets, labels) or ``None``.

    Returns:
        ``(x, *others, batch_size)`` with ``batch_size`` the float32 count before padding.

    Example:
        >>> x, y, n = nonempty_batch(tf.zeros((3, 2)), None)
        >>> x.shape, y, float(n)
        (TensorShape([3, 2]), None, 3.0)
    """
    batch = batch_size_of(x)
    if num_replicas() == 1:
        return (x, *others, batch)

    def pad(t):
        if t is None:
            return None
        one = tf.zeros(tf.concat([[1], tf.shape(t)[1:]], axis=0), t.dtype)
        return tf.cond(tf.shape(t)[0] > 0, lambda: t, lambda: one)

    return (pad(x), *[pad(t) for t in others], batch)


def next_stateless_seed(seed_generator) -> tf.Tensor:
    """The next seed of a ``keras.random.SeedGenerator`` as the int32 pair stateless ops take.

    Every replica reads the same seed; :func:`batch_noise` then gives each example of the
    global batch its own numbers, whichever replica holds it.

    Example:
        >>> next_stateless_seed(keras.random.SeedGenerator(1)).dtype
        tf.int32
    """
    return tf.cast(tf.math.floormod(tf.cast(seed_generator.next(), tf.int64), tf.int32.max - 1), tf.int32)


def binarize_batch(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Dynamic binarization: pixel of intensity p becomes 1 with probability p (``u < x``).

    Drawn per example of the global batch (:func:`batch_noise`), so a mirrored step
    binarizes like one device. Exact 0s and 1s stay put; NaN stays NaN, so the NaN guard
    of ``fit`` sees a broken batch instead of a silently binarized one.

    Args:
        x: Images in [0, 1].
        seed: Stateless seed of shape ``(2,)``.

    Returns:
        Binary images of ``x``'s dtype (NaN where ``x`` is NaN).

    Example:
        >>> binarize_batch(tf.constant([[0.0, 1.0, float("nan")]]), tf.constant([1, 2])).numpy()
        array([[ 0.,  1., nan]], dtype=float32)
    """
    u = batch_noise("uniform", tf.shape(x), seed)
    x32 = tf.cast(x, tf.float32)
    return tf.cast(tf.where(tf.math.is_nan(x32), x32, tf.cast(u < x32, tf.float32)), x.dtype)


def batch_noise(kind: str, shape, seed: tf.Tensor, dtype=tf.float32) -> tf.Tensor:
    """Standard normal or uniform [0, 1) noise for this replica's rows of the global batch.

    Row ``i`` of the *global* batch always gets the same numbers for a given seed, so
    the draws do not depend on how many replicas split the batch: one training step on
    several devices equals one step on one device with the same global batch. (Noise
    from the same seed on every replica would repeat itself across replicas; folding the
    replica id into the seed would give each replica independent noise, but other noise
    than one device draws.) It works by moving the Philox counter to the replica's first
    row: rows are padded to a multiple of 4 numbers, one Philox block each.

    Args:
        kind: ``"normal"`` or ``"uniform"``.
        shape: ``(local_batch, ...)``, a list or a 1-D int tensor.
        seed: Stateless seed, int32 or int64 tensor of shape ``(2,)``.
        dtype: Floating dtype of the result (drawn in float32).

    Returns:
        A tensor of ``shape``. XLA-compiled code draws another (equally valid) stream
        than the TensorFlow kernels for the same seed.

    Example:
        >>> eps = batch_noise("normal", [4, 3], tf.constant([1, 2]))
        >>> eps.shape
        TensorShape([4, 3])
    """
    if kind not in _NOISE_KINDS:
        raise ValueError(f"kind must be one of {_NOISE_KINDS}, got {kind!r}.")
    shape = tf.cast(tf.convert_to_tensor(shape), tf.int64)
    rows, row_size = shape[0], tf.reduce_prod(shape[1:])
    blocks = (row_size + 3) // 4  # one Philox block = 4 float32 numbers
    offset, _ = replica_batch_position(rows)
    key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=seed)
    counter = counter + tf.stack([tf.cast(offset * blocks, tf.uint64), tf.constant(0, tf.uint64)])
    op = tf.raw_ops.StatelessRandomNormalV2 if kind == "normal" else tf.raw_ops.StatelessRandomUniformV2
    padded = op(shape=tf.stack([rows, 4 * blocks]), key=key, counter=counter, alg=_PHILOX, dtype=tf.float32)
    return tf.cast(tf.reshape(padded[:, :row_size], shape), dtype)


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

    Example (on every worker, with ``TF_CONFIG`` set):

    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = build_dense_ae((28, 28, 1))
        model.compile()
    history = fit_distributed(model, make_tf_dataset(x_train, batch_size=256), epochs=5)
    ```
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
