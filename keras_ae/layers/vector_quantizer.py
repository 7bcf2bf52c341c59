"""``VectorQuantizer``: the discrete bottleneck of a VQ-VAE (van den Oord et al. 2017).

Each encoder output vector ``z_e`` is replaced by its nearest codebook vector ``e_k``
(``k = argmin_j ||z_e - e_j||``). The decoder receives ``z_e + stop_gradient(e_k - z_e)``:
the value of ``e_k`` with the gradient of the identity (the straight-through estimator).
The codebook learns in one of two ways:

* ``"ema"`` (default; the paper's appendix, Sonnet's ``VectorQuantizerEMA``): per code
  ``N_k <- d N_k + (1 - d) n_k`` and ``m_k <- d m_k + (1 - d) sum_{z_e -> k} z_e``, then
  ``e_k = m_k / N~_k`` with Laplace-smoothed counts ``N~_k = (N_k + eps) / (N + K eps) N``,
  ``N = sum_k N_k``. ``N_k`` starts at 1 and ``m_k`` at the initial ``e_k`` (one pseudo
  observation at the initial code), so a code no vector chose stays where it was;
* ``"loss"``: the codebook is a trainable weight and the model adds the codebook loss
  ``||sg(z_e) - e_k||^2``.

Either way the encoder gets the commitment loss ``beta ||z_e - sg(e_k)||^2``.

Dead-code restarts: a code that no vector of the (global) batch chose for ``dead_after``
training steps is re-initialised to an encoder output of the current batch picked at
random (and its EMA count set to 1).

Replica safety: counts, sums and the restart candidates are summed over the replicas of
a ``tf.distribute`` strategy (``ReplicaContext.all_reduce``), and restart candidates are
drawn by position in the *global* batch, so one step on several devices updates the
codebook as one step on one device with the same global batch.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_ae.random import next_stateless_seed
from keras_ae.replicas import replica_batch_position
from keras_ae.validation import MAX_CODES, check_choice, check_int, check_parameter_budget, check_size
from keras_ae.validation import check_bool, check_float, check_model_seed, check_nonnegative_float

CODEBOOK_UPDATES = ("ema", "loss")


def check_codebook_size(num_codes: int, code_dim: int, codebook_update: str = "ema") -> tuple[int, int]:
    """Refuses a codebook too large to build or search: ``num_codes`` above :data:`MAX_CODES`, or weights
    (codebook, EMA sums and counts) above :data:`~keras_ae.validation.MAX_PARAMETERS`.

    ``build_vqvae`` and the layer (rebuilt from a saved config) run this same check before
    anything is allocated.

    Args:
        num_codes: Codebook size ``K`` (2 to :data:`MAX_CODES`).
        code_dim: Dimension of each code vector (>= 1).
        codebook_update: ``"ema"`` (the EMA sums double the codebook's weights) or ``"loss"``.

    Returns:
        ``(num_codes, code_dim)`` as ints.

    Example:
        >>> check_codebook_size(128, 16)
        (128, 16)
    """
    num_codes = check_size(num_codes, "num_codes", MAX_CODES,
                           "the nearest-code search builds a (code vectors x num_codes) distance matrix", minimum=2)
    code_dim = check_int(code_dim, "code_dim", minimum=1)
    copies = 2 if codebook_update == "ema" else 1  # the EMA sums mirror the codebook
    check_parameter_budget(copies * num_codes * code_dim + 2 * num_codes, "VQ-VAE codebook",
                           advice="reduce num_codes or code_dim")
    return num_codes, code_dim


def global_sum(value: tf.Tensor) -> tf.Tensor:
    """``value`` summed over the replicas of the current ``tf.distribute`` strategy (itself without one).

    Args:
        value: A tensor computed on each replica.

    Returns:
        The sum over the replicas in sync; ``value`` itself outside a strategy or with one replica.

    Example:
        >>> float(global_sum(tf.constant(2.0)))
        2.0
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce("SUM", value)


def perplexity(counts: tf.Tensor) -> tf.Tensor:
    """``exp(entropy)`` of the code frequencies ``counts / sum(counts)``: the effective number of codes in use.

    Args:
        counts: ``(num_codes,)`` uses of each code (float).

    Returns:
        A scalar tensor between 1 and ``num_codes`` (1 when ``counts`` are all zero).

    Example:
        >>> float(perplexity(tf.constant([5.0, 5.0, 0.0, 0.0])))  # two codes used equally often
        2.0
    """
    p = counts / tf.maximum(tf.reduce_sum(counts), 1e-12)
    return tf.exp(-tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p), p)))


@keras.saving.register_keras_serializable(package="keras_ae")
class VectorQuantizer(keras.layers.Layer):
    """A codebook of ``num_codes`` vectors of size ``code_dim`` and nearest-code lookups.

    The layer holds the state (codebook, EMA statistics, steps since each code was last
    used); the model calls :meth:`discretize` in its forward pass, :meth:`loss_terms` for the
    commitment (and codebook) loss and :meth:`update` once per training step.

    Args:
        num_codes: Codebook size ``K``.
        code_dim: Dimension ``D`` of each code vector (the encoder's output channels).
        beta: Commitment loss weight (0.25 in the paper).
        codebook_update: ``"ema"`` (exponential moving averages) or ``"loss"`` (gradient
            of the codebook loss).
        decay: EMA decay ``d`` in [0, 1).
        epsilon: Laplace smoothing of the EMA counts.
        dead_after: Training steps without use after which a code counts as dead.
        restart_dead_codes: Re-initialise dead codes from encoder outputs of the batch.
        seed: Seed of the codebook initialisation and of the restart draws.

    Example:
        >>> vq = VectorQuantizer(num_codes=4, code_dim=2, seed=0)
        >>> z = tf.random.normal((3, 5, 5, 2), seed=0)
        >>> indices, z_q = vq.discretize(z)
        >>> indices.shape, indices.dtype, z_q.shape
        (TensorShape([3, 5, 5]), tf.int32, TensorShape([3, 5, 5, 2]))
    """

    def __init__(self, num_codes: int, code_dim: int, beta: float = 0.25, codebook_update: str = "ema",
                 decay: float = 0.99, epsilon: float = 1e-5, dead_after: int = 20, restart_dead_codes: bool = True,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_codes, self.code_dim = check_codebook_size(num_codes, code_dim, codebook_update)
        self.beta = check_nonnegative_float(beta, "beta")
        self.codebook_update = check_choice(codebook_update, "codebook_update", CODEBOOK_UPDATES)
        self.decay = check_float(decay, "decay", 0.0, 1.0, include_maximum=False)
        self.epsilon = check_float(epsilon, "epsilon", minimum=0.0, include_minimum=False)
        self.dead_after = check_int(dead_after, "dead_after", minimum=1)
        self.restart_dead_codes = check_bool(restart_dead_codes, "restart_dead_codes")
        self.seed = check_model_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="vq_seed")

    def build(self, input_shape=None):
        ema = self.codebook_update == "ema"
        # Values replicas agree on (sums taken over all replicas) are written with
        # "only_first_replica": every replica may assign them inside train_step.
        self.codebook = self.add_weight(
            shape=(self.num_codes, self.code_dim), name="codebook", trainable=not ema,
            initializer=keras.initializers.VarianceScaling(1.0, "fan_in", "uniform", seed=self.seed),
            aggregation="only_first_replica")
        if ema:
            self.ema_counts = self.add_weight(shape=(self.num_codes,), name="ema_counts", initializer="ones",
                                              trainable=False, aggregation="only_first_replica")
            self.ema_sums = self.add_weight(shape=(self.num_codes, self.code_dim), name="ema_sums", trainable=False,
                                            initializer=lambda shape, dtype=None: tf.identity(self.codebook.value),
                                            aggregation="only_first_replica")
        self.unused_steps = self.add_weight(shape=(self.num_codes,), name="unused_steps", initializer="zeros",
                                            trainable=False, aggregation="only_first_replica")
        self.built = True

    def get_config(self) -> dict:
        return {**super().get_config(), "num_codes": self.num_codes, "code_dim": self.code_dim, "beta": self.beta,
                "codebook_update": self.codebook_update, "decay": self.decay, "epsilon": self.epsilon,
                "dead_after": self.dead_after, "restart_dead_codes": self.restart_dead_codes, "seed": self.seed}

    # -- lookups ---------------------------------------------------------------------------
    def _flat(self, z: tf.Tensor) -> tf.Tensor:
        return tf.reshape(tf.cast(z, tf.float32), [-1, self.code_dim])

    def nearest(self, z: tf.Tensor) -> tf.Tensor:
        """Index of the nearest code of each vector of ``z`` (..., D): int32 ``z.shape[:-1]``."""
        flat = self._flat(z)
        codebook = tf.cast(self.codebook, tf.float32)
        distances = (tf.reduce_sum(flat**2, 1, keepdims=True) - 2.0 * tf.matmul(flat, codebook, transpose_b=True)
                     + tf.reduce_sum(codebook**2, 1)[None, :])
        return tf.reshape(tf.argmin(distances, axis=1, output_type=tf.int32), tf.shape(z)[:-1])

    def lookup(self, indices) -> tf.Tensor:
        """Code vectors of integer ``indices``: float32 ``indices.shape + (D,)``."""
        return tf.gather(tf.cast(self.codebook, tf.float32), tf.cast(indices, tf.int32))

    def discretize(self, z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """``(indices, z_q)``: nearest codes and their vectors (float32, no straight-through).

        (Not ``quantize``: Keras layers reserve that name for weight quantization.)
        """
        if not self.built:  # called directly rather than through __call__
            self.build(z.shape)
        indices = self.nearest(z)
        return indices, self.lookup(indices)

    @staticmethod
    def straight_through(z_e: tf.Tensor, z_q: tf.Tensor) -> tf.Tensor:
        """``z_q`` forward, the identity backward: ``z_e + stop_gradient(z_q - z_e)``.

        Example:
            >>> z_e = tf.constant([1.0, 2.0])
            >>> with tf.GradientTape() as tape:
            ...     tape.watch(z_e)
            ...     y = tf.reduce_sum(3.0 * VectorQuantizer.straight_through(z_e, tf.constant([0.0, 5.0])))
            >>> tape.gradient(y, z_e).numpy().tolist()  # d/dz_e of 3 z_q, passed straight through
            [3.0, 3.0]
        """
        z_e = tf.cast(z_e, tf.float32)
        return z_e + tf.stop_gradient(z_q - z_e)

    def call(self, inputs):
        """The straight-through quantized ``inputs`` (float32)."""
        return self.straight_through(inputs, self.discretize(inputs)[1])

    def compute_output_shape(self, input_shape):
        return input_shape

    def loss_terms(self, z_e: tf.Tensor, z_q: tf.Tensor) -> dict[str, tf.Tensor]:
        """Per-example squared distances summed over positions and dimensions, shape ``(batch,)``.

        ``commitment`` = ``||z_e - sg(z_q)||^2`` (weighted by ``beta`` in the loss);
        ``codebook`` = ``||sg(z_e) - z_q||^2`` with ``codebook_update="loss"`` only.
        """
        z_e = tf.cast(z_e, tf.float32)
        axes = list(range(1, len(z_e.shape)))
        terms = {"commitment": tf.reduce_sum(tf.square(z_e - tf.stop_gradient(z_q)), axes)}
        if self.codebook_update == "loss":
            terms["codebook"] = tf.reduce_sum(tf.square(tf.stop_gradient(z_e) - z_q), axes)
        return terms

    # -- usage -----------------------------------------------------------------------------
    def code_counts(self, indices: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
        """How often each code occurs in ``indices`` ((batch, ...)), examples weighted by ``weights`` ((batch,))."""
        hot = tf.one_hot(indices, self.num_codes, dtype=tf.float32)  # (batch, ..., K)
        if weights is not None:
            hot = hot * tf.reshape(tf.cast(weights, tf.float32), [-1] + [1] * (len(hot.shape) - 1))
        return tf.reduce_sum(tf.reshape(hot, [-1, self.num_codes]), axis=0)

    def usage_terms(self, counts: tf.Tensor) -> dict[str, tf.Tensor]:
        """``perplexity`` and ``codes_in_use`` (fraction of codes used at least once) of code ``counts``."""
        return {"perplexity": perplexity(counts),
                "codes_in_use": tf.reduce_mean(tf.cast(counts > 0, tf.float32))}

    # -- training --------------------------------------------------------------------------
    def update(self, z_e: tf.Tensor, indices: tf.Tensor, weights: tf.Tensor) -> dict[str, tf.Tensor]:
        """One training step's codebook bookkeeping: EMA update, dead-code restarts.

        Args:
            z_e: This replica's encoder outputs ``(batch, ..., D)`` (the forward pass's).
            indices: Their nearest codes ``(batch, ...)``.
            weights: ``(batch,)`` 1 for real examples, 0 for padding (an empty replica).

        Returns:
            ``perplexity``, ``codes_in_use`` of the global batch and ``dead_codes`` (codes
            unused for ``dead_after`` steps at this step, restarted if restarts are on).
        """
        weights = tf.cast(weights, tf.float32)
        flat = self._flat(tf.stop_gradient(z_e))  # (vectors, D)
        per_example = tf.shape(flat)[0] // tf.maximum(tf.shape(weights)[0], 1)
        vector_weights = tf.repeat(weights, per_example)
        hot = tf.one_hot(tf.reshape(indices, [-1]), self.num_codes, dtype=tf.float32) * vector_weights[:, None]
        counts = global_sum(tf.reduce_sum(hot, axis=0))  # n_k over the global batch
        codebook = tf.cast(self.codebook, tf.float32)
        if self.codebook_update == "ema":
            sums = global_sum(tf.matmul(hot, flat, transpose_a=True))  # sum of the z_e that chose k
            d = self.decay
            ema_counts = d * self.ema_counts + (1.0 - d) * counts
            ema_sums = d * self.ema_sums + (1.0 - d) * sums
            total = tf.reduce_sum(ema_counts)
            smoothed = (ema_counts + self.epsilon) / (total + self.num_codes * self.epsilon) * total
            codebook = ema_sums / smoothed[:, None]
        unused = tf.where(counts > 0, tf.zeros_like(self.unused_steps), self.unused_steps + 1.0)
        dead = unused >= self.dead_after
        if self.restart_dead_codes:
            fresh = self._restart_candidates(flat, tf.reduce_sum(weights), per_example)
            codebook = tf.where(dead[:, None], fresh, codebook)
            unused = tf.where(dead, tf.zeros_like(unused), unused)
            if self.codebook_update == "ema":
                ema_counts = tf.where(dead, tf.ones_like(ema_counts), ema_counts)
                ema_sums = tf.where(dead[:, None], fresh, ema_sums)
        if self.codebook_update == "ema":
            self.ema_counts.assign(ema_counts)
            self.ema_sums.assign(ema_sums)
        if self.codebook_update == "ema" or self.restart_dead_codes:
            self.codebook.assign(tf.cast(codebook, self.codebook.dtype))
        self.unused_steps.assign(unused)
        return {**self.usage_terms(counts), "dead_codes": tf.reduce_sum(tf.cast(dead, tf.float32))}

    def _restart_candidates(self, flat: tf.Tensor, batch: tf.Tensor, per_example: tf.Tensor) -> tf.Tensor:
        """One encoder output per code, drawn uniformly from the global batch: ``(K, D)``.

        Positions are drawn in the global batch; each replica fills in the ones it holds
        and the sum over replicas assembles them, so the draw does not depend on the split.
        """
        offset, total = replica_batch_position(batch)
        per = tf.cast(per_example, tf.int64)
        seed = next_stateless_seed(self.seed_generator)
        position = tf.random.stateless_uniform([self.num_codes], seed, minval=0, maxval=tf.maximum(total * per, 1),
                                               dtype=tf.int64)
        local = position - offset * per
        mine = (local >= 0) & (local < tf.cast(batch, tf.int64) * per)
        rows = tf.gather(flat, tf.clip_by_value(local, 0, tf.cast(tf.shape(flat)[0], tf.int64) - 1))
        return global_sum(tf.where(mine[:, None], rows, tf.zeros_like(rows)))
