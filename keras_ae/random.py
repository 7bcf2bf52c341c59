"""Seeds and replica-aware random numbers: one home for every random draw keras_ae makes.

Random draws inside training steps (VAE noise, GAN latents, corruption, dynamic
binarization) come from :func:`batch_noise`: example ``i`` of the global batch gets the
same numbers whichever replica holds it, so one step on ``n`` replicas equals one step on
one device with the same global batch. Seeds come from a ``keras.random.SeedGenerator``
(:func:`next_stateless_seed`); samplers give batch ``b`` of a seeded call its own stream
(:func:`batch_seed`). Library code that needs seeded weights or data order (a
classifier, layer-wise pre-training, an estimator's ``random_state``) runs under
:func:`seeded`, which restores the caller's global random state afterwards.

A foundation module (below ``layers/``, ``data/`` and ``training/``): it imports only
:mod:`keras_ae.replicas`.
"""

from __future__ import annotations

import contextlib
import random as python_random
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from keras_ae.replicas import replica_batch_position
from keras_ae.validation import check_int, check_seed

if TYPE_CHECKING:
    from collections.abc import Sequence

    import keras

# tf.random's Philox algorithm id (RNG_ALG_PHILOX) for the raw stateless ops.
_PHILOX = 1
_NOISE_KINDS = ("normal", "uniform")
# Batch b of a sampler called with seed s draws from stream s * _BATCH_STREAM_STRIDE + b.
_BATCH_STREAM_STRIDE = 1_000_003
# One-shot draws (a VAE's prior, a flow's base): the stateless pair (s mod _PAIR_MODULUS, stream).
_PAIR_MODULUS = 2**31 - 1


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seeds Python, NumPy, TensorFlow and Keras for a block, then restores the caller's state.

    Inside the block every unseeded draw (weight initialisers, dropout, ``fit``'s shuffling,
    NumPy) is reproducible from ``seed``, exactly as after Keras' global seed utility;
    after it, the caller's Python, NumPy, TensorFlow and Keras random states are what they
    were, so a library call never resets a user's global seed.

    Args:
        seed: An int in ``[0, 2**32 - 1]``, or ``None``: the block runs on the caller's
            state, untouched (an estimator's ``random_state=None``).

    Yields:
        ``None``, once; the caller's random states are restored when the block ends (also by
        an exception).

    Raises:
        InputValidationError: ``seed`` is not an int in ``[0, 2**32 - 1]`` (nor ``None``).

    Example:
        >>> import numpy as np
        >>> np.random.seed(7); before = np.random.get_state()[1].copy()
        >>> with seeded(0):
        ...     first = np.random.rand()
        >>> with seeded(0):
        ...     second = np.random.rand()
        >>> first == second, bool((np.random.get_state()[1] == before).all())
        (True, True)
    """
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED
    from tensorflow.python.eager import context

    if seed is None:
        yield
        return
    seed = check_int(seed, "seed", minimum=0, maximum=2**32 - 1)
    ctx = context.context()
    # TensorFlow keeps its eager global seed and op-seed stream on the context (no public getter).
    tf_seed, tf_rng = ctx._seed, getattr(ctx, "_rng", None)
    tf_rng_state = tf_rng.getstate() if tf_rng is not None else None
    saved = (python_random.getstate(), np.random.get_state(),
             global_state.get_global_attribute(GLOBAL_RANDOM_SEED),
             global_state.get_global_attribute(GLOBAL_SEED_GENERATOR))
    # The same four states Keras' global seed utility sets, so the block behaves identically.
    global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)  # re-created from the seeded Python random
    python_random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    try:
        yield
    finally:
        python_random.setstate(saved[0])
        np.random.set_state(saved[1])
        global_state.set_global_attribute(GLOBAL_RANDOM_SEED, saved[2])
        global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, saved[3])
        tf.random.set_seed(tf_seed)
        if tf_rng_state is not None:
            ctx._rng.setstate(tf_rng_state)


def wrap_int(value: int, bits: int) -> int:
    """Wraps an int into the signed ``bits``-bit range (identity for values already in it).

    Args:
        value: Any int.
        bits: Width of the signed range, ``>= 1`` (e.g. 32 or 64).

    Returns:
        The int in ``[-2**(bits - 1), 2**(bits - 1))`` congruent to ``value`` modulo ``2**bits``
        (two's-complement wrap-around).

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


def stateless_pair(seed: int | tf.Tensor, stream: int | tf.Tensor = 0) -> tf.Tensor:
    """The int32 stateless seed ``(seed mod (2**31 - 1), stream)`` of a seeded one-shot draw.

    The VAE's and RealNVP's ``sample(n, seed)`` and their exported ``sample`` signatures (an
    int64 ``seed`` tensor) both call this, so one seed gives the same draws in Python and in
    TF Serving. Samplers that draw batch by batch use :func:`batch_seed` instead.

    Args:
        seed: Any int, or an integer tensor (reduced in int64 arithmetic, as Python reduces an int).
        stream: The pair's second element: which of the seed's streams (e.g. a batch and draw index).

    Returns:
        An int32 ``(2,)`` tensor for ``tf.random.stateless_*`` and TFP's ``sample(seed=)``.

    Example:
        >>> stateless_pair(7).numpy(), stateless_pair(-1, 3).numpy()
        (array([7, 0], dtype=int32), array([2147483646,          3], dtype=int32))
        >>> bool(tf.reduce_all(stateless_pair(tf.constant(2**40, tf.int64)) == stateless_pair(2**40)))
        True
    """
    if isinstance(seed, tf.Tensor):
        first = tf.cast(tf.math.floormod(tf.cast(seed, tf.int64), _PAIR_MODULUS), tf.int32)
    else:
        first = tf.constant(int(seed) % _PAIR_MODULUS, tf.int32)
    return tf.stack([first, tf.cast(stream, tf.int32)])


def sampler_seed(seed: int | None, seed_generator: keras.random.SeedGenerator | None) -> int:
    """A sampler's validated int seed; ``None`` takes a fresh one from ``seed_generator``.

    Args:
        seed: Any int, or ``None`` for a fresh seed.
        seed_generator: The model's ``keras.random.SeedGenerator``; only read when ``seed`` is
            ``None`` (then it must not be ``None`` itself).

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


def next_stateless_seed(seed_generator: keras.random.SeedGenerator) -> tf.Tensor:
    """The next seed of a ``keras.random.SeedGenerator`` as the int32 pair stateless ops take.

    Every replica reads the same seed; :func:`batch_noise` then gives each example of the
    global batch its own numbers, whichever replica holds it.

    Args:
        seed_generator: The generator to advance (its state moves on by one draw).

    Returns:
        An int32 ``(2,)`` tensor: the generator's next seed, each element reduced modulo
        ``2**31 - 2``.

    Example:
        >>> next_stateless_seed(keras.random.SeedGenerator(1)).dtype
        tf.int32
    """
    return tf.cast(tf.math.floormod(tf.cast(seed_generator.next(), tf.int64), tf.int32.max - 1), tf.int32)


def batch_noise(kind: str, shape: Sequence[int] | tf.Tensor, seed: tf.Tensor,
                dtype: tf.DType | str = tf.float32) -> tf.Tensor:
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
