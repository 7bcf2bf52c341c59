"""Training defaults chosen from measurements (``recipes/benchmark.py``, BENCHMARKS.md).

Steps per execution, Adam's learning rate when ``compile()`` is given no optimizer
(:func:`default_learning_rate`, set at the first ``fit``), and one XLA policy for every family
(:func:`resolve_jit_compile` at compile time, :func:`choose_jit_compile` at an auto-encoder's first ``fit``).

Keras resolves ``jit_compile="auto"`` to *off* on a machine without a GPU. That is the
right call for convolutions (oneDNN's kernels beat XLA's several times on CPU) and for
large matrices (oneDNN spreads one big matmul over all cores), but small dense
auto-encoders are bound by per-op overhead, not arithmetic: XLA fuses the whole
training step (activations, loss, Adam) into a few kernels and trains them about 1.5x
faster per epoch. Compiling costs a few seconds per model, so XLA is switched on only
for training runs long enough to win that back.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Sequence

import keras
import tensorflow as tf

from keras_ae.training.ema import AveragingAdam
from keras_ae.validation import check_int

# Layers XLA compiles well on CPU; anything else (convolutions, random corruption,
# top-k, custom layers) keeps Keras' own choice.
XLA_FRIENDLY_LAYERS = (keras.layers.InputLayer, keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dense)

# Multiply-adds per example up to which a dense auto-encoder trains faster with XLA on
# CPU. On an idle 2-core machine XLA won at 221k (784-128-64-32, the tutorial model:
# 1.36x) and at 2.8M (784-1000-500-250-30: 1.20-1.22x in three runs); on a machine
# shared with other jobs the 2.8M model ranged 0.8-1.2x. Larger models are compute-bound
# in oneDNN's multi-threaded matmuls: keep Keras' choice.
XLA_MAX_MACS_PER_EXAMPLE = 3_000_000

# Examples a fit must process (epochs x training examples) before XLA's compile time
# (about 2 s per model on 2 cores, 5 s under load) is won back: ~300k at the measured
# 39k -> 61k images/s of the tutorial model (a 50-epoch run on 8,000 images is 400k).
XLA_MIN_EXAMPLES = 300_000


# Training steps per call into the compiled graph: the models here are small, so
# per-call dispatch (Python, callbacks, the executor, the end-of-call sync) is a visible
# share of a step. Measured on 8,000 MNIST images (BENCHMARKS.md, recipes/benchmark.py):
# 1 -> 16 steps per execution, tutorial dense AE 1.11x, VAE 1.27x, conv denoiser 1.10x;
# 16 -> 64 (one call per epoch at batch 128-256) a further 1.06-1.15x for the dense AE
# and 1.06x for the VAE; the DCGAN (40 ms steps) gains nothing and loses nothing.
STEPS_PER_EXECUTION = 64


def default_steps_per_execution(model: keras.Model) -> int:
    """Steps per execution a keras_ae model compiles with when the user passes none.

    :data:`STEPS_PER_EXECUTION`, or 1 under a ``tf.distribute`` strategy (Keras 3's
    multi-step loop fails inside replica contexts, keras-team/keras#19246). Callbacks'
    batch hooks then fire every that many steps; pass ``steps_per_execution=1`` to
    ``compile`` for every step.

    Args:
        model: The model being compiled.

    Returns:
        Steps per execution.

    Example:
        >>> default_steps_per_execution(build_dense_ae((8, 8, 1)))
        64
    """
    return 1 if _distributed(model) else STEPS_PER_EXECUTION


# Adam's learning rate when ``compile()`` is given no optimizer, for batches of up to
# REFERENCE_BATCH examples; larger batches get it times sqrt(batch / REFERENCE_BATCH), the
# square-root rule for adaptive optimizers (Malladi et al. 2022, "On the SDEs and scaling
# rules for adaptive gradient algorithms"): fewer, less noisy steps per epoch take larger
# ones. Measured by recipes/time_to_quality.py (mnist10k, seed 0, 60 s per run): the tutorial
# dense AE at batch 256 reached the keras.io recipe's best squared error (6.25) after ~290
# epochs with 2e-3 against ~380 with 1e-3, and ended lower (5.96 vs 6.25 after 370-384 epochs);
# its time to the keras.io recipe's best went from 1.98x to 2.93x / 3.20x sooner (seeds 0 / 1).
# Smaller batches keep 1e-3 (never lowered: Keras' default batch of 32 trains as before).
DEFAULT_LEARNING_RATE = 1e-3
REFERENCE_BATCH = 64


def default_learning_rate(batch_size: int | None, reference_batch: int = REFERENCE_BATCH) -> float:
    """Adam's learning rate keras_ae uses for ``batch_size`` when the user chose no optimizer.

    ``DEFAULT_LEARNING_RATE * sqrt(max(batch_size, reference_batch) / reference_batch)``;
    ``None`` (a ``tf.data`` dataset, or Keras' default 32) gives ``DEFAULT_LEARNING_RATE``.
    A family whose class sets ``default_reference_batch`` (the VQ-VAE: 128) keeps the base
    rate up to that batch size.

    Args:
        batch_size: Examples per training step, or ``None`` if unknown.
        reference_batch: The batch size up to which the rate is ``DEFAULT_LEARNING_RATE``.

    Returns:
        The learning rate.

    Example:
        >>> default_learning_rate(256), default_learning_rate(32), default_learning_rate(None)
        (0.002, 0.001, 0.001)
        >>> default_learning_rate(128, reference_batch=128), default_learning_rate(512, reference_batch=128)
        (0.001, 0.002)
    """
    reference_batch = check_int(reference_batch, "reference_batch", minimum=1)
    batch = reference_batch if batch_size is None else max(int(batch_size), reference_batch)
    return DEFAULT_LEARNING_RATE * math.sqrt(batch / reference_batch)


def default_optimizer(model: keras.Model) -> keras.optimizers.Optimizer:
    """The optimizer ``model.compile()`` uses when given none.

    Adam at :data:`DEFAULT_LEARNING_RATE` (:func:`choose_learning_rate` adapts it to the batch
    size at the first ``fit``). A family whose class sets ``default_ema_momentum`` (the VAE, the VQ-VAE)
    gets Adam with ``use_ema=True``: the optimizer keeps an exponential moving average of
    the weights (Polyak averaging) and ``fit`` ends by writing the averages into the model,
    so a model that stops after any epoch holds the average, not the last noisy step; it is
    an :class:`~keras_ae.training.ema.AveragingAdam`, so the next ``fit`` trains on from the
    trained weights (:func:`~keras_ae.training.ema.resume_training_weights`).
    Keras' ``keras.callbacks.SwapEMAWeights`` evaluates the averages during ``fit``;
    :func:`keras_ae.training.ema.ema_weights` swaps them in anywhere else.

    Args:
        model: The model being compiled.

    Returns:
        A new ``keras.optimizers.Adam`` (an ``AveragingAdam`` for the families that average).

    Example:
        >>> default_optimizer(build_vae((8, 8, 1), latent_dim=2, hidden=(16,))).use_ema
        True
        >>> default_optimizer(build_dense_ae((8, 8, 1))).use_ema
        False
    """
    momentum = getattr(model, "default_ema_momentum", None)
    if momentum is None:
        return keras.optimizers.Adam(DEFAULT_LEARNING_RATE)
    # AveragingAdam: the next fit trains on from the trained weights, not from the averages
    # Keras writes into the model at the end of fit (which trail them by ~100 steps, lost at
    # every call). Measured as recipes/time_to_quality.py --vae-protocol fit5 calls fit
    # (fit(x, epochs=5, batch_size=128) again and again; 784-200-200-50 VAE, mnist10k, test
    # ELBO, seeds 0 / 1): Keras' Adam(use_ema=True) 108.9 / 109.1 nats after 75 epochs and
    # 108.3 / 108.5 after 80 (never the keras.io VAE's 107.2); trained weights kept, 107.0 /
    # 107.2 after 75 and 106.5 / 106.6 after 80, as one long fit; no averaging, 108.6 / 108.4 after 80.
    return AveragingAdam(DEFAULT_LEARNING_RATE, use_ema=True, ema_momentum=float(momentum))


def choose_learning_rate(model: keras.Model, batch_size: int | None) -> float | None:
    """At the first ``fit`` of a model compiled without an optimizer: Adam's rate for this batch size.

    Only for ``compile()`` / ``compile(optimizer=None)`` (an optimizer the user passed, even
    ``"adam"``, is left exactly as given, and so is a rate set on ``model.optimizer`` after
    ``compile()``) and only before the optimizer's first step.

    Args:
        model: A compiled keras_ae model.
        batch_size: ``fit``'s batch size (``None``: unknown or Keras' default).

    Returns:
        The learning rate set, or ``None`` when nothing was changed.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> choose_learning_rate(model, 256)
        0.002
    """
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "_default_optimizer", False) or optimizer is None or int(optimizer.iterations) > 0:
        return None
    current = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    if not math.isclose(current, DEFAULT_LEARNING_RATE, rel_tol=1e-6):
        return None  # the user set model.optimizer.learning_rate after compile(): theirs
    rate = default_learning_rate(batch_size, getattr(model, "default_reference_batch", REFERENCE_BATCH))
    optimizer.learning_rate = rate
    return rate


@contextlib.contextmanager
def whole_executions(model: keras.Model, *step_counts: int | None) -> Iterator[None]:
    """Within the block, ``model.steps_per_execution`` divides every given step count.

    Keras runs whole executions: with ``steps_per_epoch`` (or ``validation_steps``,
    ``evaluate(steps=)``) that is not a multiple of ``steps_per_execution``, each epoch
    of a repeated dataset runs up to the next multiple (``steps_per_epoch=4`` with 64
    steps per execution trains 64 steps per epoch). This lowers it, for this call only,
    to the largest divisor of the counts that is at most the compiled value (the step
    functions are re-traced, and again after the block). Without counts: no change.

    Args:
        model: A compiled model.
        *step_counts: ``steps_per_epoch``, ``validation_steps``, ... (``None``: not given).

    Yields:
        ``None``; ``model.steps_per_execution`` is restored (and the step functions reset)
        when the block exits.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> with whole_executions(model, 100):  # model.fit(dataset.repeat(), steps_per_epoch=100) here
        ...     print(model.steps_per_execution)
        50
        >>> model.steps_per_execution
        64
    """
    compiled = int(getattr(model, "steps_per_execution", 1) or 1)
    counts = [int(c) for c in step_counts if c]
    common = math.gcd(*counts) if counts else 0
    if compiled <= 1 or not counts or common % compiled == 0:
        yield
        return
    model.steps_per_execution = max(d for d in range(1, compiled + 1) if common % d == 0)
    model.train_function = model.test_function = None  # traced with the old count
    try:
        yield
    finally:
        model.steps_per_execution = compiled
        model.train_function = model.test_function = None


def _op_determinism() -> bool:
    # With tf.config.experimental.enable_op_determinism() the user asked for bit-identical
    # reruns: keep the step Keras chose rather than switch compilers behind their back.
    try:
        from tensorflow.python.framework.config import is_op_determinism_enabled
    except ImportError:  # a TensorFlow without it: assume the user may rely on determinism
        return True
    return bool(is_op_determinism_enabled())


def dense_macs_per_example(*networks: keras.Model) -> int | None:
    """Multiply-adds per example of networks built only of XLA-friendly layers, else ``None``.

    Args:
        *networks: Built Keras models; their layers (nested sub-models' included) are inspected.

    Returns:
        The summed ``Dense`` kernel sizes (inputs x units, biases not counted), or ``None`` when
        any layer is not in :data:`XLA_FRIENDLY_LAYERS`.

    Example:
        >>> dense_macs_per_example(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]))
        12
    """
    macs = 0
    for sub in networks:
        for layer in sub._flatten_layers(include_self=False):
            if isinstance(layer, keras.Model):
                continue  # nested sub-models: their layers are visited too
            if not isinstance(layer, XLA_FRIENDLY_LAYERS):
                return None
            if isinstance(layer, keras.layers.Dense):
                kernel = layer.kernel.shape
                macs += int(kernel[0]) * int(kernel[1])
    return macs


CONV_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
               keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)


def _distributed(model: keras.Model) -> bool:
    return tf.distribute.has_strategy() or getattr(model, "_distribute_strategy", None) is not None


def resolve_jit_compile(model: keras.Model, jit_compile: bool | str,
                        networks: Sequence[keras.Model] = ()) -> bool | str:
    """``compile``'s ``jit_compile`` after keras_ae's XLA policy.

    ``"auto"`` with ``networks`` given (a GAN's generator and discriminator): on, except
    for convolutional networks on a CPU-only machine, where oneDNN's kernels beat XLA's
    (``recipes/benchmark.py``, ``bench_gan.py``). ``"auto"`` without networks stays
    ``"auto"`` for :func:`choose_jit_compile` at the first ``fit``. Under a
    ``tf.distribute`` strategy XLA is off whatever was asked (Keras' XLA step wraps
    ``strategy.run``, which cannot span devices).

    Args:
        model: The model being compiled.
        jit_compile: What the user passed.
        networks: Sub-models whose layers decide ``"auto"``.

    Returns:
        The value to give ``keras.Model.compile``.

    Example:
        >>> resolve_jit_compile(keras.Sequential(), False)
        False
    """
    if isinstance(jit_compile, str) and jit_compile == "auto" and networks:
        has_conv = any(isinstance(layer, CONV_LAYERS)
                       for net in networks for layer in net._flatten_layers(include_self=False))
        jit_compile = not (has_conv and not tf.config.list_physical_devices("GPU"))
    if jit_compile and jit_compile != "auto" and _distributed(model):
        return False
    return jit_compile


def prefers_xla(model: keras.Model) -> bool:
    """Whether ``model`` trains faster per epoch with XLA than without on this machine.

    True on a CPU-only machine, outside ``tf.distribute`` and without op determinism, for
    a model whose ``xla_macs_per_example()`` is at most :data:`XLA_MAX_MACS_PER_EXAMPLE`
    (a plain dense auto-encoder answers its multiply-adds per example; models with random
    corruption, their own losses or convolutions answer ``None``: False).

    Args:
        model: A keras_ae model.

    Returns:
        Whether XLA is the faster choice.

    Example:
        >>> prefers_xla(keras.Sequential())  # no xla_macs_per_example hook
        False
    """
    hook = getattr(model, "xla_macs_per_example", None)
    macs = hook() if callable(hook) else None
    if macs is None or macs > XLA_MAX_MACS_PER_EXAMPLE:
        return False
    if tf.distribute.has_strategy() or _op_determinism():
        return False
    return not tf.config.list_physical_devices("GPU")  # Keras' "auto" already turns XLA on with a GPU


def choose_jit_compile(model: keras.Model, x: Any, epochs: int, steps_per_epoch: int | None = None,
                       batch_size: int | None = None) -> bool:
    """At the first ``fit`` of a model compiled with ``jit_compile="auto"``: XLA on if it pays off.

    Switches ``model.jit_compile`` to True when :func:`prefers_xla` holds and the fit
    processes at least :data:`XLA_MIN_EXAMPLES` examples of NumPy data; later ``fit``
    calls keep the compiled step. ``tf.data`` input keeps Keras' choice.

    Args:
        model: A compiled auto-encoder.
        x: The training data passed to ``fit`` (only arrays with ``shape`` and ``len`` count).
        epochs: Epochs of this ``fit`` call.
        steps_per_epoch: ``fit``'s ``steps_per_epoch``, if given.
        batch_size: ``fit``'s batch size, if given (Keras' default is 32).

    Returns:
        Whether XLA was switched on.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()  # jit_compile="auto"
        >>> choose_jit_compile(model, x_digits, epochs=5)  # 256 x 5 examples: not worth compiling
        False
        >>> choose_jit_compile(model, x_digits, epochs=2000), model.jit_compile  # on a machine without a GPU
        (True, True)
    """
    if not getattr(model, "_jit_compile_auto", False) or getattr(model, "train_function", None) is not None:
        return False
    if not hasattr(x, "shape") or not hasattr(x, "__len__"):
        return False
    per_epoch = len(x) if steps_per_epoch is None else min(len(x), steps_per_epoch * (batch_size or 32))
    if per_epoch * max(int(epochs), 0) < XLA_MIN_EXAMPLES or not prefers_xla(model):
        return False
    model.jit_compile = True
    return True
