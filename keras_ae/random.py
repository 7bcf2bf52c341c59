"""Seeds and replica-aware random numbers: one home for every random draw keras_ae makes.

Random draws inside training steps (VAE noise, GAN latents, corruption, dynamic
binarization) come from :func:`batch_noise`: example ``i`` of the global batch gets the
same numbers whichever replica holds it, so one step on ``n`` replicas equals one step on
one device with the same global batch. Seeds come from a ``keras.random.SeedGenerator``
(:func:`next_stateless_seed`); samplers give batch ``b`` of a seeded call its own stream
(:func:`batch_seed`).

A foundation module (below ``layers/``, ``data/`` and ``training/``): it imports only
:mod:`keras_ae.replicas`.
"""

from __future__ import annotations

import tensorflow as tf

from keras_ae.replicas import replica_batch_position
from keras_ae.validation import check_seed

# tf.random's Philox algorithm id (RNG_ALG_PHILOX) for the raw stateless ops.
_PHILOX = 1
_NOISE_KINDS = ("normal", "uniform")
# Batch b of a sampler called with seed s draws from stream s * _BATCH_STREAM_STRIDE + b.
_BATCH_STREAM_STRIDE = 1_000_003


def wrap_int(value: int, bits: int) -> int:
    """Wraps an int into the signed ``bits``-bit range (identity for values already in it).

    Example:
        >>> wrap_int(2**31, 32), wrap_int(-5, 32)
        (-2147483648, -5)
    """
    half = 1 << (bits - 1)
    return (int(value) + half) % (1 << bits) - half


def batch_seed(seed: int | tf.Tensor, batch: int) -> int | tf.Tensor:
    """The int64 seed of batch ``batch`` of a sampler called with ``seed``.

    Each batch gets its own stream, so a batch's images do not depend on the batches drawn
    before it. Wrapped to int64 (the identity for ordinary seeds) so that any int seed is
    accepted. A tensor seed (an exported ``sample`` signature's) gives the same value in
    int64 arithmetic, which wraps the same way, so Python and TF Serving draw the same images.

    Args:
        seed: The caller's seed (any int, or an integer tensor).
        batch: The batch index, from 0.

    Returns:
        ``seed`` times a fixed stride plus ``batch``, wrapped to a signed 64-bit int (an int64
        tensor for a tensor seed).

    Example:
        >>> batch_seed(0, 2), batch_seed(1, 0), int(batch_seed(tf.constant(1, tf.int64), 0))
        (2, 1000003, 1000003)
    """
    if isinstance(seed, tf.Tensor):
        return tf.cast(seed, tf.int64) * _BATCH_STREAM_STRIDE + int(batch)
    return wrap_int(int(seed) * _BATCH_STREAM_STRIDE + int(batch), 64)


def sampler_seed(seed, seed_generator) -> int:
    """A sampler's validated int seed; ``None`` takes a fresh one from ``seed_generator``.

    Args:
        seed: Any int, or ``None`` for a fresh seed.
        seed_generator: The model's ``keras.random.SeedGenerator``.

    Returns:
        The seed as a Python int.

    Example:
        >>> sampler_seed(7, None)
        7
    """
    seed = check_seed(seed)
    if seed is None:
        pair = next_stateless_seed(seed_generator).numpy()
        seed = int(pair[0]) * 2**32 + int(pair[1])
    return seed


def next_stateless_seed(seed_generator) -> tf.Tensor:
    """The next seed of a ``keras.random.SeedGenerator`` as the int32 pair stateless ops take.

    Every replica reads the same seed; :func:`batch_noise` then gives each example of the
    global batch its own numbers, whichever replica holds it.

    Example:
        >>> next_stateless_seed(keras.random.SeedGenerator(1)).dtype
        tf.int32
    """
    return tf.cast(tf.math.floormod(tf.cast(seed_generator.next(), tf.int64), tf.int32.max - 1), tf.int32)


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
