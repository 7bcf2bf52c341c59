""":class:`FactorVAE` (Kim & Mnih 2018): a VAE with a total-correlation penalty estimated by a discriminator.

The VAE minimizes

    -E_q log p(x|z) + KL(q(z|x) || p(z)) + gamma * TC(z),   TC(z) ~ E_q(z)[log D(z) - log(1 - D(z))],

where the discriminator D tells codes z ~ q(z) from codes of the product of marginals
prod_d q(z_d), drawn by permuting each dimension independently across the batch
(:func:`permute_dims`). With D's output a logit, ``log D - log(1 - D)`` is the logit itself.
One ``fit`` step updates the VAE (encoder, decoder, prior) through the fixed discriminator, then
the discriminator (its own optimizer) on the step's codes against their permutation, with the
VAE fixed. Evaluation (``elbo``, ``log_likelihood``), sampling and export are the
:class:`~keras_ae.models.vae.model.VAE`'s; ``keras-ae train factor_vae`` builds it.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.common import as_units
from keras_ae.models.vae.builders import build_vae_variant
from keras_ae.models.vae.model import VAE
from keras_ae.registry import register_builder, register_family
from keras_ae.replicas import global_rows, nonempty_batch, replica_batch_position, scale_loss_for_replicas
from keras_ae.validation import check_int, check_nonnegative_float

# The discriminator's hidden widths. The paper uses 6 x 1000 (LeakyReLU 0.2). Measured on a 2-core CPU
# (28x28 binary images, the 784-[200, 200]-10 VAE, batch 64, no XLA; the machine shared, load ~11): a
# plain VAE step 17.5 ms, a FactorVAE step 19.6 ms with 3 x 256 and 155 ms with 6 x 1000. The smaller
# network still separates correlated codes from their permutation (tests/test_vae_family.py) and
# keeps the discriminator at ~10% of the step instead of ~90%.
DISCRIMINATOR_HIDDEN = (256, 256, 256)


def permute_dims(z: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Codes of the product of marginals: each column of ``z`` shuffled across the batch on its own.

    Every column keeps its values (the marginals are unchanged); rows no longer come from one
    example, so any dependence between dimensions is broken (Kim & Mnih 2018, Algorithm 1).
    Under ``tf.distribute`` the columns are shuffled across the global batch (every replica
    gathers the codes and draws the same permutations) and each replica keeps its own rows of
    the result, so a mirrored step equals one device's.

    Args:
        z: Codes ``(batch, latent_dim)``.
        seed: Stateless seed, int32 ``(2,)``.

    Returns:
        A tensor of ``z``'s shape and dtype.

    Example:
        >>> z = tf.reshape(tf.range(12.0), (4, 3))
        >>> shuffled = permute_dims(z, tf.constant([0, 1]))
        >>> bool(tf.reduce_all(tf.sort(shuffled, axis=0) == z))  # every column keeps its values
        True
    """
    everything = global_rows(z)
    keys = tf.random.stateless_uniform(tf.shape(everything), seed, alg="philox")
    order = tf.transpose(tf.argsort(keys, axis=0))  # (latent_dim, batch): a permutation per column
    shuffled = tf.transpose(tf.gather(tf.transpose(everything), order, batch_dims=1))
    offset, _ = replica_batch_position(tf.shape(z)[0])
    return shuffled[offset:offset + tf.cast(tf.shape(z)[0], tf.int64)]


def get_code_discriminator(latent_dim: int, hidden: Sequence[int] = DISCRIMINATOR_HIDDEN,
                           name: str = "discriminator") -> keras.Model:
    """The discriminator of codes: ``(latent_dim,) -> (1,)`` logit of "drawn from q(z)", LeakyReLU(0.2) layers.

    Args:
        latent_dim: Size of the codes it reads, an int >= 1.
        hidden: Widths of its Dense hidden layers (each followed by a LeakyReLU(0.2)).
        name: The model's name.

    Returns:
        A functional ``keras.Model`` with input ``"code"`` and a linear Dense output ``"logit"``.

    Example:
        >>> get_code_discriminator(10, hidden=(32, 32)).output_shape
        (None, 1)
    """
    latent_dim = check_int(latent_dim, "latent_dim", minimum=1)
    inputs = keras.Input(shape=(latent_dim,), name="code")
    h = inputs
    for units in as_units(hidden, "discriminator_hidden"):
        h = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(units)(h))
    return keras.Model(inputs, keras.layers.Dense(1, name="logit")(h), name=name)


@register_family("factor_vae")
class FactorVAE(VAE):
    """A VAE with a discriminator of codes and a TC penalty; arguments as :class:`VAE`'s plus:

    Args:
        encoder: Keras model ``x -> (batch, 2 * latent_dim)``.
        decoder: Keras model ``z -> (batch, *input_shape)``.
        latent_dim: Dimension of z.
        discriminator: Keras model ``(batch, latent_dim) -> (batch, 1)`` logits (saved with the
            model as the ``discriminator`` sub-model).
        gamma: Weight of the total correlation.
        **kwargs: Further :class:`VAE` arguments (unconditional, ``objective="elbo"``).

    ``compile(optimizer=..., discriminator_optimizer=...)`` takes the discriminator's optimizer
    (default: Adam(1e-4, beta_1=0.5, beta_2=0.9), the paper's); ``fit`` reports ``loss``,
    ``reconstruction``, ``kl``, ``tc`` (the discriminator's estimate) and ``d_loss`` (its
    cross-entropy: log 2 = 0.693 at chance).

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))  # its encoder and decoder
        >>> model = FactorVAE(vae.encoder, vae.decoder, latent_dim=2,
        ...                   discriminator=get_code_discriminator(2, hidden=(16,)), gamma=10.0)
        >>> model.gamma, model.discriminator.output_shape
        (10.0, (None, 1))
        >>> sorted(model.compute_losses(x_digits[:64]))
        ['d_loss', 'kl', 'loss', 'reconstruction', 'tc']
    """

    nested_config_keys = (*VAE.nested_config_keys, "discriminator")

    def __init__(self, encoder: keras.Model, decoder: keras.Model, latent_dim: int,
                 discriminator: keras.Model | None = None, gamma: float = 6.4, **kwargs: Any):
        if kwargs.get("objective", "elbo") != "elbo" or kwargs.get("num_classes") is not None:
            raise InputValidationError("FactorVAE adds its TC term to the ELBO of an unconditional VAE: it takes "
                                       "objective='elbo' and no num_classes.")
        if not isinstance(discriminator, keras.Model):
            raise InputValidationError(f"discriminator must be a keras.Model, got {type(discriminator).__name__}.")
        if (len(discriminator.inputs) != 1 or tuple(discriminator.input_shape[1:]) != (latent_dim,)
                or tuple(discriminator.output_shape[1:]) != (1,)):
            raise InputValidationError(
                f"The discriminator must map (batch, {latent_dim}) codes to (batch, 1) logits; it maps "
                f"{discriminator.input_shape} to {discriminator.output_shape}.")
        object.__setattr__(self, "gamma", check_nonnegative_float(gamma, "gamma"))
        object.__setattr__(self, "_discriminator_arg", discriminator)  # tracked in build(), like FlowVAE's flow
        object.__setattr__(self, "discriminator_optimizer", None)  # set by compile()
        super().__init__(encoder, decoder, latent_dim, **kwargs)

    def build(self, input_shape=None):
        self.discriminator = self.__dict__.pop("_discriminator_arg")
        self.add_penalty_tracker("tc")
        self.add_penalty_tracker("d_loss")
        super().build(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(discriminator=keras.saving.serialize_keras_object(self.discriminator), gamma=self.gamma)
        return config

    # -- compile: the VAE's optimizer and the discriminator's --------------------------------
    def compile(self, optimizer=None, discriminator_optimizer=None, **kwargs: Any) -> None:
        """The VAE's ``compile`` (``optimizer`` updates the encoder, decoder and prior) plus the
        discriminator's optimizer (``None``: Adam(1e-4, beta_1=0.5, beta_2=0.9), Kim & Mnih 2018).

        Example:
            >>> from keras_ae.models.vae import build_factor_vae
            >>> model = build_factor_vae((8, 8, 1), latent_dim=2, hidden=(16,), discriminator_hidden=(16,))
            >>> model.compile(optimizer="adam", discriminator_optimizer=keras.optimizers.SGD(0.1))
            >>> type(model.discriminator_optimizer).__name__
            'SGD'
        """
        d_opt = (keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.9) if discriminator_optimizer is None
                 else keras.optimizers.get(discriminator_optimizer))
        if optimizer is not None and d_opt is optimizer:
            raise InputValidationError("optimizer and discriminator_optimizer must be two different optimizer objects.")
        if self.dtype_policy.name == "mixed_float16":  # what Model.compile does for its one optimizer
            d_opt = keras.optimizers.LossScaleOptimizer(d_opt, name="discriminator_loss_scale_optimizer")
        d_opt.build(self.discriminator.trainable_variables)  # not inside the first compiled step
        object.__setattr__(self, "discriminator_optimizer", d_opt)
        super().compile(optimizer=optimizer, **kwargs)
        # Built on every trainable weight, as fit's own build does: the VAE step updates all but the
        # discriminator's, and fit ends by writing the optimizer's averages (EMA) into all of them.
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)

    def get_compile_config(self) -> dict | None:
        config = super().get_compile_config()
        if config is None or self.discriminator_optimizer is None:
            return config
        d_opt = self.discriminator_optimizer
        inner = d_opt.inner_optimizer if isinstance(d_opt, keras.optimizers.LossScaleOptimizer) else d_opt
        return {**config, "discriminator_optimizer": keras.saving.serialize_keras_object(inner)}

    def compile_from_config(self, config: dict) -> None:
        d_opt = config.get("discriminator_optimizer")
        # compile() builds both optimizers, so their saved state (Adam moments) loads too.
        self.compile(optimizer=keras.saving.deserialize_keras_object(config["optimizer"]),
                     discriminator_optimizer=None if d_opt is None else keras.saving.deserialize_keras_object(d_opt))

    # -- losses --------------------------------------------------------------------------
    def discriminator_logits(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """D's logits ``(batch,)``, float32: ``log D(z) - log(1 - D(z))``, D(z) = P(z drawn from q(z))."""
        return tf.reshape(tf.cast(self.discriminator(z, training=training), tf.float32), [-1])

    def discriminator_loss(self, z: tf.Tensor, training: bool = False) -> tf.Tensor:
        """D's cross-entropy on codes ``z`` (label 1) and their :func:`permute_dims` (label 0), averaged."""
        joint = self.discriminator_logits(z, training)
        marginals = self.discriminator_logits(permute_dims(z, self._next_seed()), training)
        return 0.5 * (tf.reduce_mean(tf.nn.softplus(-joint)) + tf.reduce_mean(tf.nn.softplus(marginals)))

    def _vae_terms(self, x, training: bool) -> tuple[dict[str, tf.Tensor], tf.Tensor]:
        """The VAE's loss terms (``loss``, ``reconstruction``, ``kl``, ``tc``) and the batch's codes z ~ q(z|x)."""
        if self.dynamic_binarization:
            x = self._binarize(x)
        q = self.posterior(x, training=training)
        z = self.sample_posterior(q, seed=self._next_seed())
        terms = {"reconstruction": -tf.reduce_mean(self.data_log_prob(z, x, training=training)),
                 "kl": tf.reduce_mean(self.kl_divergence(q, z)),
                 "tc": tf.reduce_mean(self.discriminator_logits(z))}
        total = terms["reconstruction"] + self.kl_weight(training) * terms["kl"] + self.gamma * terms["tc"]
        if self.losses:  # layer regularizers of custom encoders / decoders
            total = total + tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.losses])
        return {"loss": total, **terms}, z

    def compute_losses(self, x, target=None, training: bool = False, labels=None) -> dict[str, tf.Tensor]:
        """The VAE's terms of one batch and ``d_loss``, the discriminator's loss on its codes."""
        terms, z = self._vae_terms(x, training)
        return {**terms, "d_loss": self.discriminator_loss(tf.stop_gradient(z))}

    def train_step(self, data):
        if self.discriminator_optimizer is None:
            raise InputValidationError("Call compile() before fit: it sets up the discriminator's optimizer.")
        # Under tf.distribute an empty replica batch becomes one example weighted 0.
        x, _, batch = nonempty_batch(*keras.utils.unpack_x_y_sample_weight(data)[:2])
        d_weights = self.discriminator.trainable_weights
        d_ids = {id(w) for w in d_weights}
        vae_weights = [w for w in self.trainable_weights if id(w) not in d_ids]
        with tf.GradientTape() as tape:
            terms, z = self._vae_terms(x, training=True)
            loss = self.optimizer.scale_loss(scale_loss_for_replicas(terms["loss"], batch))
        self.optimizer.apply_gradients(zip(tape.gradient(loss, vae_weights), vae_weights))
        z = tf.stop_gradient(z)
        with tf.GradientTape() as tape:
            terms["d_loss"] = self.discriminator_loss(z, training=True)
            d_loss = self.discriminator_optimizer.scale_loss(scale_loss_for_replicas(terms["d_loss"], batch))
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_weights), d_weights))
        return self.update_trackers(terms, batch)

    def serving_metadata(self) -> dict:
        """The VAE's facts plus the TC weight ``gamma``."""
        return {**super().serving_metadata(), "gamma": self.gamma}


@register_builder("factor_vae", family=FactorVAE)
def build_factor_vae(input_shape: int | Sequence[int] = (28, 28, 1), latent_dim: int = 10, gamma: float = 6.4,
                     discriminator_hidden: Sequence[int] = DISCRIMINATOR_HIDDEN, name: str = "factor_vae",
                     **kwargs: Any) -> FactorVAE:
    """A FactorVAE (Kim & Mnih 2018): :func:`~keras_ae.models.vae.builders.build_vae`'s networks plus a
    discriminator of codes (:func:`get_code_discriminator`).

    Args:
        input_shape: Shape of one example.
        latent_dim: Dimension of z (10, the paper's).
        gamma: Weight of the total correlation. The paper uses 35 on dSprites and 6.4 on 3D
            Faces; smaller data such as MNIST-like digits take a few units.
        discriminator_hidden: The discriminator's hidden widths (LeakyReLU 0.2). The paper's
            6 x 1000 network made a CPU step 8x slower (155 ms against 19.6 ms for the default
            3 x 256, measured at :data:`DISCRIMINATOR_HIDDEN`); pass ``(1000,) * 6`` for the paper's.
        name: Model name.
        **kwargs: :func:`build_vae` arguments (``hidden``, ``encoder``, ``likelihood``, ``prior``,
            ``dynamic_binarization``, ``seed``, ...); not ``objective``, ``k``, ``posterior_flow``
            or ``num_classes``.

    Returns:
        A :class:`FactorVAE` with ``.encoder``, ``.decoder`` and ``.discriminator`` sub-models.

    Example:
        >>> from keras_ae.models.vae import build_factor_vae
        >>> model = build_factor_vae((8, 8, 1), latent_dim=2, hidden=(16,), discriminator_hidden=(16,),
        ...                          dynamic_binarization=True)
        >>> model.discriminator.input_shape, model.discriminator.output_shape
        ((None, 2), (None, 1))
        >>> sorted(model.compute_losses(x_digits[:64]))  # the terms fit reports
        ['d_loss', 'kl', 'loss', 'reconstruction', 'tc']

        Training (the VAE's optimizer and the discriminator's):

        ```python
        model.compile(optimizer="adam")  # discriminator_optimizer: Adam(1e-4, beta_1=0.5, beta_2=0.9)
        model.fit(x_train, epochs=10, batch_size=64)
        ```
    """
    latent_dim = check_int(latent_dim, "latent_dim", minimum=1)
    discriminator = get_code_discriminator(latent_dim, discriminator_hidden)
    return build_vae_variant(FactorVAE, input_shape, dict(kwargs, latent_dim=latent_dim, name=name),
                             refused=("objective", "k", "posterior_flow", "num_classes"), discriminator=discriminator,
                             gamma=gamma)
