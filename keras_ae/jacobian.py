"""Squared Frobenius norms of encoder Jacobians, ``||df(x)/dx||_F^2``, computed fast.

The contractive auto-encoder (Rifai et al. 2011) penalises this norm, and the manifold
tools read tangent planes off the Jacobian. Four ways to get it, one per encoder kind:

* ``closed_form``: one dense layer ``h = s(W^T x + b)`` has ``J = diag(s'(a)) W^T``, so
  ``||J||_F^2 = sum_j s'(a_j)^2 ||W_:j||^2``: one extra elementwise product per unit,
  no Jacobian tensor at all.
* ``exact``: the full per-example Jacobian. For a chain of dense layers it is propagated
  through the layers from the smaller side (``J = D_L W_L^T ... D_1 W_1^T`` with
  per-example matrices of size ``min(code, input) x width``; the first layer enters
  through its Gram matrix ``W_1^T W_1`` when that is smaller). Any other encoder (e.g.
  convolutional) goes through ``GradientTape.batch_jacobian``.
* ``stochastic``: ``E ||J v||^2 = ||J||_F^2`` for ``v ~ N(0, I)``, an unbiased estimate
  from ``n_projections`` forward-mode Jacobian-vector products per example (one extra
  encoder pass each, whatever the code and input sizes; Hoffman et al. 2019 show one
  projection per example suffices for training).
* ``auto``: ``closed_form`` for one dense layer; ``exact`` when the Jacobian has at most
  :data:`EXACT_MAX_DIRECTIONS` rows or columns (then it costs no more than a few
  projections); otherwise ``stochastic``. The exact norm of a deep encoder needs
  ``min(code, input)`` Jacobian-vector products per example: 6-10x a plain training step
  for a 784-500-250-30 encoder, against 1.25-1.5x for one projection (measured by
  ``recipes/bench_contractive.py`` on 2 CPU cores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.validation import check_choice, check_int

METHODS = ("auto", "closed_form", "exact", "stochastic")
# Activations whose derivative is a function of the activation's output, so a dense
# chain needs no pre-activations: s'(a) = g(s(a)).
SUPPORTED_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "softplus", "elu")
# ``auto`` computes the exact norm when the Jacobian has at most this many rows or
# columns: it then costs about as much as that many random projections.
EXACT_MAX_DIRECTIONS = 8
DEFAULT_MEMORY_LIMIT = 1 << 30  # bytes of Jacobian the exact method may materialise


class JacobianTooLargeError(InputValidationError, MemoryError):
    """The exact Jacobian would not fit in the memory limit; the message gives its size."""


def activation_derivative(name: str, h: tf.Tensor) -> tf.Tensor:
    """``s'(a)`` of an elementwise activation, written in terms of its output ``h = s(a)``.

    Args:
        name: One of :data:`SUPPORTED_ACTIVATIONS`.
        h: The activation's output.

    Returns:
        A tensor like ``h``.

    Example:
        >>> float(activation_derivative("sigmoid", tf.constant(0.5)))
        0.25
    """
    if name == "linear":
        return tf.ones_like(h)
    if name == "sigmoid":
        return h * (1.0 - h)
    if name == "tanh":
        return 1.0 - tf.square(h)
    if name == "relu":
        return tf.cast(h > 0, h.dtype)
    if name == "softplus":  # s'(a) = sigmoid(a) = 1 - exp(-softplus(a))
        return -tf.math.expm1(-h)
    if name == "elu":  # 1 for a > 0, exp(a) = h + 1 otherwise
        return tf.where(h > 0, tf.ones_like(h), h + 1.0)
    raise InputValidationError(f"No derivative for activation {name!r}; supported: {', '.join(SUPPORTED_ACTIVATIONS)}.")


def _activation_name(activation: Any) -> str | None:
    name = keras.activations.serialize(activation)
    return name if isinstance(name, str) else None


@dataclass(frozen=True)
class DenseChain:
    """An encoder that is a straight chain ``[Flatten] -> Dense -> ... -> Dense``.

    Attributes:
        layers: The encoder's layers after its input, in order (Flatten, Dense, Activation).
        denses: The Dense layers.
        activations: The effective activation name after each Dense layer.

    Example:
        >>> from keras_ae.models import get_dense_encoder
        >>> encoder = get_dense_encoder((8, 8, 1), hidden=(16,), code_dim=4, code_activation="sigmoid")
        >>> chain, _ = dense_chain(encoder)
        >>> chain.input_size, chain.code_size, chain.activations
        (64, 4, ('relu', 'sigmoid'))
        >>> code, outputs = chain.forward(x_digits[:2])
        >>> code.shape, [tuple(h.shape) for h in outputs]
        (TensorShape([2, 4]), [(2, 16), (2, 4)])
    """

    layers: tuple
    denses: tuple
    activations: tuple

    @property
    def code_size(self) -> int:
        return int(self.denses[-1].units)

    @property
    def input_size(self) -> int:
        return int(self.denses[0].kernel.shape[0])

    def forward(self, x, training: bool = False) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """Runs the encoder's own layers once, keeping every Dense output (post-activation).

        Returns:
            ``(code, outputs)`` where ``outputs[l]`` is the output of Dense layer ``l``
            (including a following ``Activation`` layer).
        """
        outputs = []
        h = x
        for layer in self.layers:
            h = layer(h, training=training)
            if isinstance(layer, keras.layers.Activation):
                outputs[-1] = h
            elif isinstance(layer, keras.layers.Dense):
                outputs.append(h)
        return h, outputs

    def derivatives(self, outputs: Sequence[tf.Tensor]) -> list[tf.Tensor]:
        """``s'_l(a_l)`` of every layer, float32, from the layers' outputs."""
        return [activation_derivative(a, tf.cast(h, tf.float32)) for a, h in zip(self.activations, outputs)]

    def kernels(self) -> list[tf.Tensor]:
        """The Dense kernels as float32 tensors, ``(n_in, n_out)`` each."""
        return [tf.cast(d.kernel, tf.float32) for d in self.denses]


def dense_chain(encoder: keras.Model) -> tuple[DenseChain | None, str]:
    """Recognises an encoder built from Flatten, Dense and Activation layers in a chain.

    Args:
        encoder: A functional Keras model.

    Returns:
        ``(chain, "")`` for a dense chain with supported activations, otherwise
        ``(None, reason)`` with the reason it is not one.

    Example:
        >>> from keras_ae.models import get_conv_encoder, get_dense_encoder
        >>> chain, why = dense_chain(get_dense_encoder((8, 8, 1), hidden=(), code_dim=4, code_activation="sigmoid"))
        >>> type(chain).__name__, why
        ('DenseChain', '')
        >>> dense_chain(get_conv_encoder((8, 8, 1), filters=(4,), code_dim=2))
        (None, "layer 'conv_0' is a Conv2D")
    """
    if len(getattr(encoder, "inputs", None) or ()) != 1 or len(getattr(encoder, "outputs", None) or ()) != 1:
        return None, "the encoder is not a single-input, single-output functional model"
    prev = encoder.inputs[0]
    layers, denses, activations = [], [], []
    for layer in encoder.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer.input is not prev:
            return None, f"layer {layer.name!r} does not follow the previous layer (not a chain)"
        prev = layer.output
        if isinstance(layer, keras.layers.Flatten):
            if denses:
                return None, f"Flatten layer {layer.name!r} after a Dense layer"
        elif isinstance(layer, keras.layers.Dense):
            name = _activation_name(layer.activation)
            if name not in SUPPORTED_ACTIVATIONS:
                return None, f"Dense layer {layer.name!r} has activation {name!r}"
            denses.append(layer)
            activations.append(name)
        elif isinstance(layer, keras.layers.Activation):
            name = _activation_name(layer.activation)
            if not denses or activations[-1] != "linear" or name not in SUPPORTED_ACTIVATIONS:
                return None, f"Activation layer {layer.name!r} ({name!r}) does not follow a linear Dense layer"
            activations[-1] = name
        else:
            return None, f"layer {layer.name!r} is a {type(layer).__name__}"
        layers.append(layer)
    if not denses or prev is not encoder.outputs[0]:
        return None, "the encoder has no Dense layers ending at its output"
    if len(encoder.inputs[0].shape) > 2 and not isinstance(layers[0], keras.layers.Flatten):
        return None, "image inputs are not flattened first"
    return DenseChain(tuple(layers), tuple(denses), tuple(activations)), ""


def _flat_size(shape: Sequence[int | None]) -> int:
    return int(np.prod([d for d in shape[1:]]))


def jacobian_bytes(batch_size: int, code_size: int, input_size: int) -> int:
    """Bytes of a float32 per-example Jacobian ``(batch, code, input)``.

    Args:
        batch_size: Examples per batch.
        code_size: Code units (Jacobian rows).
        input_size: Input values per example (Jacobian columns).

    Returns:
        ``4 * batch_size * code_size * input_size``.

    Example:
        >>> jacobian_bytes(128, 30, 784)
        12042240
    """
    return 4 * int(batch_size) * int(code_size) * int(input_size)


def format_bytes(n: float) -> str:
    """``12042240`` -> ``'11.5 MiB'``.

    Example:
        >>> format_bytes(3 * 2**30)
        '3.0 GiB'
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def check_jacobian_memory(batch_size: int, code_size: int, input_size: int,
                          limit: int | None = DEFAULT_MEMORY_LIMIT) -> int:
    """Refuses a per-example Jacobian larger than ``limit`` bytes, before any computation.

    Args:
        batch_size: Examples per batch.
        code_size: Code units (Jacobian rows).
        input_size: Input values per example (Jacobian columns).
        limit: Byte limit; ``None`` disables the check.

    Returns:
        The estimated size in bytes.

    Raises:
        JacobianTooLargeError: with the estimated size and the ``stochastic`` alternative.

    Example:
        >>> check_jacobian_memory(128, 30, 784)
        12042240
    """
    size = jacobian_bytes(batch_size, code_size, input_size)
    if limit is not None and size > limit:
        raise JacobianTooLargeError(
            f"The exact Jacobian (batch {batch_size} x code {code_size} x input {input_size}, float32) needs "
            f"about {format_bytes(size)}, more than the limit of {format_bytes(limit)}. Use jacobian='stochastic' "
            "(random projections: memory batch x input per projection), a smaller batch, or raise "
            "jacobian_memory_limit."
        )
    return size


# -- the four computations --------------------------------------------------------------
def closed_form_sq_norms(chain: DenseChain, outputs: Sequence[tf.Tensor]) -> tf.Tensor:
    """``sum_j s'(a_j)^2 ||W_:j||^2`` for a one-layer dense encoder (Rifai et al. 2011).

    Args:
        chain: A one-layer :class:`DenseChain`.
        outputs: ``[h]``, the layer's output.

    Returns:
        Per-example squared Frobenius norms, float32 ``(batch,)``.

    Example:
        >>> from keras_ae.models import get_dense_encoder
        >>> encoder = get_dense_encoder((8, 8, 1), hidden=(), code_dim=4, code_activation="sigmoid")
        >>> chain, _ = dense_chain(encoder)
        >>> code, outputs = chain.forward(x_digits[:3])
        >>> norms = closed_form_sq_norms(chain, outputs)
        >>> norms.shape, bool(np.allclose(norms, tape_exact_sq_norms(encoder, x_digits[:3]), rtol=1e-4))
        (TensorShape([3]), True)
    """
    (d,) = chain.derivatives(outputs)
    (w,) = chain.kernels()
    return tf.linalg.matvec(tf.square(d), tf.reduce_sum(tf.square(w), axis=0))


def chain_exact_sq_norms(chain: DenseChain, outputs: Sequence[tf.Tensor]) -> tf.Tensor:
    """Exact ``||J||_F^2`` of a dense chain by propagating the Jacobian from its smaller side.

    Code side (``code <= input``): ``M = D_L W_L^T``, then ``M <- (M D_l) W_l^T`` down to
    the first layer, whose kernel enters through ``tr(M D_1 W_1^T W_1 D_1 M^T)`` when
    the Gram matrix is smaller than the kernel. Input side: the transposed recursion.
    Work per example: ``min(code, input)`` Jacobian-vector products.

    Args:
        chain: The encoder's :class:`DenseChain` (any number of Dense layers).
        outputs: Dense outputs from :meth:`DenseChain.forward`, one per Dense layer.

    Returns:
        Per-example squared Frobenius norms, float32 ``(batch,)``.

    Example:
        >>> from keras_ae.models import get_dense_encoder
        >>> encoder = get_dense_encoder((8, 8, 1), hidden=(16,), code_dim=4)
        >>> chain, _ = dense_chain(encoder)
        >>> code, outputs = chain.forward(x_digits[:3])
        >>> norms = chain_exact_sq_norms(chain, outputs)
        >>> norms.shape, bool(np.allclose(norms, tape_exact_sq_norms(encoder, x_digits[:3]), rtol=1e-4))
        (TensorShape([3]), True)
    """
    ds = chain.derivatives(outputs)
    ws = chain.kernels()
    batch = tf.shape(ds[0])[0]
    if chain.code_size <= chain.input_size:
        m = ds[-1][:, :, None] * tf.transpose(ws[-1])[None]  # (batch, code, n_{L-1})
        for layer in range(len(ws) - 2, -1, -1):
            m = m * ds[layer][:, None, :]
            n_in, n_out = ws[layer].shape
            flat = tf.reshape(m, [-1, n_out])
            if layer == 0 and n_out < n_in:
                # ||M W_1^T||^2 = sum((M G) * M) with the smaller Gram matrix G = W_1^T W_1.
                gram = tf.matmul(ws[0], ws[0], transpose_a=True)
                return tf.reduce_sum(tf.reshape(tf.matmul(flat, gram) * flat, [batch, -1]), axis=1)
            m = tf.reshape(tf.matmul(flat, ws[layer], transpose_b=True), [batch, -1, n_in])
        return tf.reduce_sum(tf.square(m), axis=[1, 2])
    t = ws[0][None] * ds[0][:, None, :]  # (batch, input, n_1)
    for d, w in zip(ds[1:], ws[1:]):
        n_in, n_out = w.shape
        t = tf.reshape(tf.matmul(tf.reshape(t, [-1, n_in]), w), [batch, -1, n_out]) * d[:, None, :]
    return tf.reduce_sum(tf.square(t), axis=[1, 2])


def _projections(x, n_projections: int, seed) -> tf.Tensor:
    """``v ~ N(0, I)`` of shape ``(batch, n_projections, *example_shape)``, float32.

    Philox is named explicitly: the default algorithm Keras' ``random.normal`` gets
    under XLA on CPU is ~30x slower (35 ms vs 1.2 ms for 128 x 784 normals, measured).
    """
    shape = tf.concat([tf.shape(x)[:1], [n_projections], tf.shape(x)[1:]], axis=0)
    if isinstance(seed, keras.random.SeedGenerator):
        pair = seed.next()
    elif seed is None:
        pair = tf.random.uniform([2], maxval=2**31 - 1, dtype=tf.int32)
    else:
        pair = tf.constant([int(seed), 0])
    return tf.random.stateless_normal(shape, seed=tf.cast(pair, tf.int32), alg="philox")


def chain_stochastic_sq_norms(chain: DenseChain, x: tf.Tensor | np.ndarray, outputs: Sequence[tf.Tensor],
                              n_projections: int = 1, seed: Any = None) -> tf.Tensor:
    """Unbiased ``E||J v||^2`` estimate for a dense chain: tangents pushed through the layers.

    Each projection costs one matmul per layer (a forward-mode JVP written out), and
    the encoder's forward pass is shared with the reconstruction.

    Args:
        chain: The encoder's :class:`DenseChain`.
        x: The encoder's input ``(batch, ...)``.
        outputs: Dense outputs from :meth:`DenseChain.forward` on ``x``.
        n_projections: Random directions ``v ~ N(0, I)`` per example.
        seed: An int or ``keras.random.SeedGenerator``.

    Returns:
        Per-example estimates, float32 ``(batch,)``.

    Example:
        >>> from keras_ae.models import get_dense_encoder
        >>> encoder = get_dense_encoder((8, 8, 1), hidden=(16,), code_dim=4)
        >>> chain, _ = dense_chain(encoder)
        >>> code, outputs = chain.forward(x_digits[:3])
        >>> estimate = chain_stochastic_sq_norms(chain, x_digits[:3], outputs, n_projections=2000, seed=0)
        >>> exact = chain_exact_sq_norms(chain, outputs)
        >>> estimate.shape, bool(np.allclose(estimate, exact, rtol=0.2))
        (TensorShape([3]), True)
    """
    x = tf.reshape(x, [tf.shape(x)[0], -1])
    batch = tf.shape(x)[0]
    t = _projections(x, n_projections, seed)  # (batch, P, input)
    for d, w in zip(chain.derivatives(outputs), chain.kernels()):
        n_in, n_out = w.shape
        t = tf.reshape(tf.matmul(tf.reshape(t, [-1, n_in]), w), [batch, n_projections, n_out]) * d[:, None, :]
    return tf.reduce_sum(tf.square(t), axis=[1, 2]) / n_projections


def tape_exact_sq_norms(encoder: keras.Model, x: tf.Tensor | np.ndarray, training: bool = False) -> tf.Tensor:
    """Exact ``||J||_F^2`` of any encoder from ``GradientTape.batch_jacobian`` (vectorized).

    Args:
        encoder: A Keras model ``x -> code`` (any architecture).
        x: One batch of inputs ``(batch, ...)``.
        training: Passed to the encoder's layers.

    Returns:
        Per-example squared Frobenius norms, float32 ``(batch,)``.

    Example:
        >>> from keras_ae.models import get_conv_encoder
        >>> encoder = get_conv_encoder((8, 8, 1), filters=(4,), code_dim=2)
        >>> norms = tape_exact_sq_norms(encoder, x_digits[:3])
        >>> norms.shape, norms.dtype
        (TensorShape([3]), tf.float32)
    """
    jac = tape_jacobian(encoder, x, training)
    return tf.reduce_sum(tf.square(jac), axis=[1, 2])


def tape_jacobian(encoder: keras.Model, x: tf.Tensor | np.ndarray, training: bool = False) -> tf.Tensor:
    """Per-example Jacobian ``(batch, code_size, input_size)`` of any encoder, float32.

    Code and input are flattened; the Jacobian comes from ``GradientTape.batch_jacobian``.

    Args:
        encoder: A Keras model ``x -> code`` (any architecture).
        x: One batch of inputs ``(batch, ...)``.
        training: Passed to the encoder's layers.

    Returns:
        Float32 tensor ``(batch, code_size, input_size)``.

    Example:
        >>> from keras_ae.models import get_conv_encoder
        >>> encoder = get_conv_encoder((8, 8, 1), filters=(4,), code_dim=2)
        >>> tape_jacobian(encoder, x_digits[:3]).shape
        TensorShape([3, 2, 64])
    """
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        code = tf.cast(encoder(x, training=training), tf.float32)
        code = tf.reshape(code, [tf.shape(code)[0], _flat_size(encoder.output_shape)])
    jac = tape.batch_jacobian(code, x)
    return tf.reshape(tf.cast(jac, tf.float32), [tf.shape(x)[0], code.shape[1], _flat_size(encoder.input_shape)])


def tape_stochastic_sq_norms(encoder: keras.Model, x: tf.Tensor | np.ndarray, n_projections: int = 1,
                             seed: Any = None, training: bool = False) -> tf.Tensor:
    """Unbiased ``E||J v||^2`` estimate for any encoder from forward-mode JVPs.

    Uses ``tf.autodiff.ForwardAccumulator`` on ``n_projections`` copies of the batch.

    Args:
        encoder: A Keras model ``x -> code`` (any architecture).
        x: One batch of inputs ``(batch, ...)``.
        n_projections: Random directions ``v ~ N(0, I)`` per example.
        seed: An int, a ``keras.random.SeedGenerator``, or ``None`` (a random seed).
        training: Passed to the encoder's layers.

    Returns:
        Per-example estimates, float32 ``(batch,)``.

    Example:
        >>> from keras_ae.models import get_conv_encoder
        >>> encoder = get_conv_encoder((8, 8, 1), filters=(4,), code_dim=2)
        >>> estimate = tape_stochastic_sq_norms(encoder, x_digits[:3], n_projections=2000, seed=0)
        >>> estimate.shape, bool(np.allclose(estimate, tape_exact_sq_norms(encoder, x_digits[:3]), rtol=0.2))
        (TensorShape([3]), True)
    """
    x = tf.convert_to_tensor(x)
    batch = tf.shape(x)[0]
    v = tf.cast(_projections(x, n_projections, seed), x.dtype)
    tiled = tf.reshape(tf.repeat(x[:, None], n_projections, axis=1), tf.shape(v))
    tiled = tf.reshape(tiled, tf.concat([[-1], tf.shape(x)[1:]], 0))
    with tf.autodiff.ForwardAccumulator(tiled, tf.reshape(v, tf.shape(tiled))) as acc:
        code = encoder(tiled, training=training)
    jv = tf.reshape(tf.cast(acc.jvp(code), tf.float32), [batch, -1])
    return tf.reduce_sum(tf.square(jv), axis=1) / n_projections


# -- choosing and running a method --------------------------------------------------------
class JacobianPenalty:
    """Computes ``||df(x)/dx||_F^2`` for one encoder with the method chosen for it.

    Args:
        encoder: The encoder (any Keras model; dense chains get the fast paths).
        method: One of :data:`METHODS`.
        n_projections: Random projections per example for ``stochastic``.
        memory_limit: Bytes the exact Jacobian may take (``None``: no limit).

    Example:
        >>> from keras_ae.models import get_dense_encoder
        >>> encoder = get_dense_encoder((8, 8, 1), hidden=(), code_dim=4, code_activation="sigmoid")
        >>> penalty = JacobianPenalty(encoder, "auto")
        >>> penalty.method  # one Dense layer: the closed form
        'closed_form'
        >>> JacobianPenalty(get_dense_encoder((8, 8, 1), hidden=(16,), code_dim=4), "auto").method
        'exact'
    """

    def __init__(self, encoder: keras.Model, method: str = "auto", n_projections: int = 1,
                 memory_limit: int | None = DEFAULT_MEMORY_LIMIT):
        check_choice(method, "jacobian method", METHODS)
        self.encoder = encoder
        self.n_projections = check_int(n_projections, "n_projections", minimum=1)
        self.memory_limit = memory_limit
        self.chain, why = dense_chain(encoder)
        self.input_size = _flat_size(encoder.input_shape)
        self.code_size = _flat_size(encoder.output_shape)
        one_layer = self.chain is not None and len(self.chain.denses) == 1
        if method == "closed_form" and not one_layer:
            reason = why or f"it has {len(self.chain.denses)} Dense layers"
            raise InputValidationError(
                "jacobian='closed_form' needs a one-layer dense encoder (Flatten, then one Dense layer with "
                f"activation in {SUPPORTED_ACTIVATIONS}); this encoder does not qualify: {reason}. "
                "Use jacobian='exact' (any encoder) or jacobian='stochastic' (random projections)."
            )
        if method == "auto":
            if one_layer:
                method = "closed_form"
            elif min(self.code_size, self.input_size) <= EXACT_MAX_DIRECTIONS:
                method = "exact"
            else:
                method = "stochastic"
        self.method = method

    @property
    def shares_forward(self) -> bool:
        """Whether the penalty needs the dense chain's hidden outputs (from :meth:`forward`)."""
        return self.chain is not None and self.method != "closed_form"

    def check_memory(self, batch_size: int | None) -> None:
        """Raises :class:`JacobianTooLargeError` if ``exact`` would exceed the memory limit."""
        if self.method == "exact" and batch_size is not None:
            check_jacobian_memory(batch_size, self.code_size, self.input_size, self.memory_limit)

    def forward(self, x, training: bool = False) -> tuple[tf.Tensor, list[tf.Tensor] | None]:
        """The code and, for dense chains, every layer's output (one encoder pass)."""
        if self.chain is None:
            return self.encoder(x, training=training), None
        return self.chain.forward(x, training=training)

    def squared_norms(self, x, code=None, outputs=None, seed: Any = None, training: bool = False) -> tf.Tensor:
        """Per-example ``||J(x)||_F^2`` (an unbiased estimate for ``stochastic``), float32 ``(batch,)``.

        Args:
            x: Encoder inputs.
            code: The encoder's output on ``x`` if already computed (one-layer chains).
            outputs: The chain's layer outputs on ``x`` if already computed.
            seed: Seed for ``stochastic``: an int or a ``keras.random.SeedGenerator``.
            training: Passed to the encoder's layers.
        """
        self.check_memory(x.shape[0])
        if self.chain is not None:
            if outputs is None:
                if code is not None and len(self.chain.denses) == 1:
                    outputs = [code]
                else:
                    _, outputs = self.chain.forward(x, training=training)
            if self.method == "closed_form":
                return closed_form_sq_norms(self.chain, outputs)
            if self.method == "exact":
                return chain_exact_sq_norms(self.chain, outputs)
            return chain_stochastic_sq_norms(self.chain, x, outputs, self.n_projections, seed)
        if self.method == "exact":
            return tape_exact_sq_norms(self.encoder, x, training)
        return tape_stochastic_sq_norms(self.encoder, x, self.n_projections, seed, training)


def jacobian_sq_norms(encoder: keras.Model, x: tf.Tensor | np.ndarray, method: str = "exact", n_projections: int = 1,
                      seed: Any = None, memory_limit: int | None = DEFAULT_MEMORY_LIMIT) -> tf.Tensor:
    """``||df(x)/dx||_F^2`` of every example of a batch.

    Args:
        encoder: A Keras model ``x -> code``.
        x: One batch of inputs.
        method: ``"auto"``, ``"closed_form"``, ``"exact"`` or ``"stochastic"``.
        n_projections: Random projections per example (``stochastic``).
        seed: Seed for ``stochastic``.
        memory_limit: Bytes the exact Jacobian may take.

    Returns:
        Float32 tensor ``(batch,)``.

    Example:
        >>> from keras_ae.models import get_dense_encoder
        >>> encoder = get_dense_encoder((8, 8, 1), hidden=(), code_dim=4, code_activation="sigmoid")
        >>> exact = jacobian_sq_norms(encoder, x_digits[:4], method="exact")
        >>> exact.shape, bool(np.allclose(exact, jacobian_sq_norms(encoder, x_digits[:4], method="closed_form")))
        (TensorShape([4]), True)
    """
    penalty = JacobianPenalty(encoder, method, n_projections, memory_limit)
    return penalty.squared_norms(tf.convert_to_tensor(x), seed=seed)


def finite_difference_jacobian(encoder: keras.Model, x: np.ndarray | tf.Tensor, eps: float = 1e-2) -> np.ndarray:
    """Central finite-difference Jacobian ``(f(x + eps e_i) - f(x - eps e_i)) / 2 eps``.

    The slow, assumption-free reference the other methods are checked against
    (2 x input_size encoder evaluations per example, in float64 on the NumPy side).

    Args:
        encoder: A Keras model ``x -> code``.
        x: A few examples ``(n, ...)``.
        eps: Step size.

    Returns:
        ``(n, code_size, input_size)`` float64 array.

    Example:
        >>> from keras_ae.models import get_dense_encoder
        >>> encoder = get_dense_encoder((8, 8, 1), hidden=(), code_dim=4, code_activation="sigmoid")
        >>> jac = finite_difference_jacobian(encoder, x_digits[:2])
        >>> jac.shape
        (2, 4, 64)
        >>> bool(np.allclose((jac ** 2).sum((1, 2)), jacobian_sq_norms(encoder, x_digits[:2]), rtol=1e-2))
        True
    """
    x = np.asarray(x, dtype=np.float32)
    n, size = len(x), int(np.prod(x.shape[1:]))
    steps = np.eye(size, dtype=np.float32) * eps
    plus = (x.reshape(n, 1, size) + steps).reshape(n * size, *x.shape[1:])
    minus = (x.reshape(n, 1, size) - steps).reshape(n * size, *x.shape[1:])
    f_plus = encoder.predict(plus, batch_size=4096, verbose=0).reshape(n, size, -1).astype(np.float64)
    f_minus = encoder.predict(minus, batch_size=4096, verbose=0).reshape(n, size, -1).astype(np.float64)
    return np.transpose((f_plus - f_minus) / (2 * eps), (0, 2, 1))


__all__ = [
    "DEFAULT_MEMORY_LIMIT", "DenseChain", "EXACT_MAX_DIRECTIONS", "JacobianPenalty", "JacobianTooLargeError",
    "METHODS", "SUPPORTED_ACTIVATIONS", "activation_derivative", "chain_exact_sq_norms",
    "chain_stochastic_sq_norms", "check_jacobian_memory", "closed_form_sq_norms", "dense_chain",
    "finite_difference_jacobian", "jacobian_bytes", "jacobian_sq_norms", "tape_exact_sq_norms",
    "tape_jacobian", "tape_stochastic_sq_norms",
]
