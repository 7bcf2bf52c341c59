"""Generative adversarial networks: a ``GAN`` model with its own ``train_step``, and builders.

``GAN`` holds two named sub-models, ``generator`` and ``discriminator``, and trains them
with two optimizers (``compile(d_optimizer, g_optimizer, loss=...)``). One ``fit`` step
runs ``n_critic`` discriminator updates, then one generator update, then updates an
exponential moving average (EMA) of the generator's weights that ``sample()`` uses.
The whole step is XLA-compiled by default (``jit_compile="auto"``), except for
convolutional GANs on a CPU-only machine, where oneDNN's kernels beat XLA's (measured in
``recipes/benchmark.py``), and under ``tf.distribute``. The loss formulas live in
:mod:`keras_ae.models.gan_losses`.

Builders: :func:`build_gan` (the MLP GAN of Goodfellow et al. 2014), :func:`build_dcgan`
(Radford et al. 2016) and :func:`build_conditional_gan` (class-conditional G and D).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.export.endpoints import ExportOptions, describe_data, make_endpoint, tensor_spec
from keras_ae.models.common import as_image_shape, as_shape, as_units
from keras_ae.registry import register_builder, register_family
from keras_ae.training import DataSpec, Trainer
from keras_ae.training.defaults import default_steps_per_execution, resolve_jit_compile
from keras_ae.training.distribute import batch_noise, batch_size_of, next_stateless_seed, nonempty_batch, scale_loss_for_replicas
from keras_ae.models.gan_losses import GAN_LOSSES, get_gan_loss, gradient_penalty, interpolate
from keras_ae.validation import check_array, check_positive_int

# Output activation of the generator for each data range (Radford et al.: tanh for [-1, 1]).
DATA_RANGES: dict[tuple[float, float], str] = {(0.0, 1.0): "sigmoid", (-1.0, 1.0): "tanh"}


def _as_data_range(data_range) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in data_range)
    except (TypeError, ValueError):
        raise InputValidationError(f"data_range must be (0, 1) or (-1, 1), got {data_range!r}.") from None
    if (lo, hi) not in DATA_RANGES:
        raise InputValidationError(
            f"data_range must be (0, 1) (sigmoid output) or (-1, 1) (tanh output), got {data_range!r}."
        )
    return lo, hi


def _infer_data_range(generator: keras.Model) -> tuple[float, float] | None:
    """The range implied by the generator's last activation (sigmoid or tanh), if any."""
    for layer in reversed(generator.layers):
        act = getattr(layer, "activation", None)
        name = getattr(act, "__name__", None) or (layer.name if isinstance(layer, keras.layers.Activation) else None)
        if name is None or name == "linear":
            continue
        return {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}.get(name)
    return None


def _contains_batch_norm(model: keras.Model) -> bool:
    return any(isinstance(l, keras.layers.BatchNormalization) for l in model._flatten_layers(include_self=False))


@register_family("gan", serving_default="generate")
class GAN(Trainer, keras.Model):
    """A generative adversarial network trained by its own ``train_step``.

    Args:
        generator: Maps latent vectors ``(batch, latent_dim)`` (and, if conditional,
            integer labels ``(batch, 1)``) to data; kept as ``self.generator``.
        discriminator: Maps data (and labels) to ONE raw output per example (a logit for
            the cross-entropy losses, a score otherwise); kept as ``self.discriminator``.
        num_classes: Number of classes of a conditional GAN (``None``: unconditional).
        data_range: ``(0, 1)`` or ``(-1, 1)``: the generator's output range, checked
            against the data at ``fit``. ``"auto"`` reads it from a final sigmoid / tanh.
        ema_decay: Decay of the moving average of generator weights used by
            :meth:`sample` (``None`` or 0 disables it). The effective decay warms up as
            ``min(ema_decay, (1 + t) / (10 + t))`` after ``t`` generator updates.
        seed: Seed of the latent noise drawn during training.
        info: JSON-serializable facts kept with the model.

    Example:
        >>> gan = build_dcgan((28, 28, 1), latent_dim=64)
        >>> gan.compile()  # Adam(2e-4, beta_1=0.5) for both, non-saturating loss
        >>> gan.fit(x_train, epochs=5, batch_size=64)  # doctest: +SKIP
        >>> images = gan.sample(16, seed=0)  # doctest: +SKIP
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        num_classes: int | None = None,
        data_range: Sequence[float] | str | None = "auto",
        ema_decay: float | None = 0.999,
        seed: int | None = None,
        info: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.num_classes = None if num_classes is None else check_positive_int(num_classes, "num_classes", 2)
        if isinstance(data_range, str):
            if data_range != "auto":
                raise InputValidationError(f"data_range must be (0, 1), (-1, 1), 'auto' or None, got {data_range!r}.")
            data_range = _infer_data_range(generator)
        self.data_range = None if data_range is None else _as_data_range(data_range)
        self._check_networks()
        if ema_decay is not None and not 0.0 <= float(ema_decay) < 1.0:
            raise InputValidationError(f"ema_decay must be in [0, 1) or None, got {ema_decay}.")
        self.ema_decay = float(ema_decay) if ema_decay else None
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        object.__setattr__(self, "info", dict(info or {}))
        # A copy of the generator whose weights follow the EMA of the trained ones.
        self.ema_generator = self._clone_generator() if self.ema_decay else None
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="real_score")
        self.fake_score_tracker = keras.metrics.Mean(name="fake_score")
        self.gp_tracker = keras.metrics.Mean(name="gradient_penalty")
        self.loss_name = None
        self.reuse_fakes = False  # set by compile()
        self.built = True  # both networks are built functional models

    # -- construction checks -----------------------------------------------------------
    def _check_networks(self) -> None:
        g_inputs, d_inputs = list(self.generator.inputs), list(self.discriminator.inputs)
        n_in = 1 if self.num_classes is None else 2
        kind = "an unconditional" if n_in == 1 else "a conditional"
        if len(g_inputs) != n_in or len(d_inputs) != n_in:
            raise InputValidationError(
                f"{kind} GAN needs a generator with {n_in} input(s) ([latent, labels] when conditional) and a "
                f"discriminator with {n_in} input(s) ([data, labels]); got {len(g_inputs)} and {len(d_inputs)}."
            )
        z_shape = tuple(g_inputs[0].shape[1:])
        if len(z_shape) != 1 or z_shape[0] is None:
            raise InputValidationError(f"The generator's latent input must be a vector (latent_dim,), got {z_shape}.")
        data_shape = tuple(self.generator.outputs[0].shape[1:])
        d_shape = tuple(d_inputs[0].shape[1:])
        if data_shape != d_shape:
            raise InputValidationError(
                f"The generator outputs examples of shape {data_shape} but the discriminator expects {d_shape}."
            )
        out = tuple(self.discriminator.outputs[0].shape[1:])
        if len(self.discriminator.outputs) != 1 or out not in ((1,), ()):
            raise InputValidationError(
                f"The discriminator must output one logit per example, shape (batch, 1); it outputs {out}. "
                "End it with keras.layers.Dense(1) and no activation (the losses take raw logits)."
            )

    def _clone_generator(self) -> keras.Model:
        try:
            clone = keras.models.clone_model(self.generator)
        except Exception:  # subclassed generators: rebuild from their config
            clone = self.generator.__class__.from_config(self.generator.get_config())
        clone.name = "ema_generator"
        clone.set_weights(self.generator.get_weights())
        clone.trainable = False
        return clone

    # -- configuration -----------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()  # name, trainable, dtype (policy)
        config.update({
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "num_classes": self.num_classes,
            "data_range": list(self.data_range) if self.data_range else None,
            "ema_decay": self.ema_decay,
            "seed": self.seed,
            "info": self.info,
        })
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)

    def build(self, input_shape=None):
        self.built = True

    # -- shapes --------------------------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        """Size of the latent vector ``z``."""
        return int(self.generator.inputs[0].shape[-1])

    @property
    def example_shape(self) -> tuple[int, ...]:
        """Shape of one generated example (without the batch axis)."""
        return tuple(self.generator.outputs[0].shape[1:])

    @property
    def conditional(self) -> bool:
        """Whether G and D take class labels."""
        return self.num_classes is not None

    # -- compile -----------------------------------------------------------------------
    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer | str | None = None,
        g_optimizer: keras.optimizers.Optimizer | str | None = None,
        loss: str = "non_saturating",
        n_critic: int | None = None,
        gp_weight: float = 10.0,
        label_smoothing: float = 0.0,
        instance_noise: float = 0.0,
        instance_noise_steps: int | None = None,
        reuse_fakes: bool = True,
        jit_compile: bool | str = "auto",
        **kwargs: Any,
    ) -> None:
        """Configures adversarial training.

        Args:
            d_optimizer: Discriminator optimizer. Default: Adam(2e-4, beta_1=0.5)
                (Radford et al.), or Adam(1e-4, beta_1=0, beta_2=0.9) for ``wasserstein_gp``
                (Gulrajani et al.).
            g_optimizer: Generator optimizer, same defaults; must be a different object.
            loss: One of ``minimax``, ``non_saturating``, ``least_squares``, ``hinge``,
                ``wasserstein_gp`` (see :mod:`keras_ae.models.gan_losses`).
            n_critic: Discriminator updates per generator update (default 5 for
                ``wasserstein_gp``, else 1). Each uses fresh noise and the same real batch.
            gp_weight: Gradient-penalty weight (``wasserstein_gp`` only).
            label_smoothing: One-sided smoothing of the real target (Salimans et al. 2016).
            instance_noise: Standard deviation of Gaussian noise added to the
                discriminator's real and fake inputs (Sonderby et al. 2016).
            instance_noise_steps: Anneal that noise linearly to 0 over this many
                generator updates (``None``: constant).
            reuse_fakes: With one discriminator update per generator update, the
                generator update back-propagates through the fake batch the
                discriminator update just saw (through the updated discriminator), as
                the PyTorch DCGAN example does, instead of drawing fresh noise and
                running the generator forward a second time (the keras.io example).
                Same losses, one generator forward pass less per step (``False``: fresh noise).
            jit_compile: XLA-compile the train step. ``"auto"`` (the default): on,
                except for convolutional networks on a CPU-only machine, where oneDNN
                runs them faster than XLA (``recipes/benchmark.py``, ``bench_gan.py``);
                off under a ``tf.distribute`` strategy, like Keras' ``"auto"``.
            **kwargs: Passed to ``keras.Model.compile``. ``steps_per_execution`` defaults to
                64 (1 under ``tf.distribute``), as for the auto-encoders
                (:func:`~keras_ae.training.defaults.default_steps_per_execution`).

        Example:
            >>> gan.compile(loss="wasserstein_gp")  # doctest: +SKIP
        """
        spec = get_gan_loss(loss)
        if kwargs.pop("optimizer", None) is not None or kwargs.get("loss_weights") is not None:
            raise InputValidationError("GAN.compile takes d_optimizer and g_optimizer, not optimizer=.")
        if spec.gradient_penalty and _contains_batch_norm(self.discriminator):
            raise InputValidationError(
                "wasserstein_gp penalizes per-example input gradients, which batch normalization in the "
                "critic couples across the batch (Gulrajani et al. 2017, section 4). Build the critic with "
                "discriminator_norm='layer' (or None)."
            )
        spec.discriminator(tf.zeros(1), tf.zeros(1), label_smoothing)  # validates label_smoothing for this loss
        n_critic = check_positive_int(spec.default_n_critic if n_critic is None else n_critic, "n_critic")
        for name, value in (("gp_weight", gp_weight), ("instance_noise", instance_noise)):
            if not np.isfinite(value) or value < 0:
                raise InputValidationError(f"{name} must be a finite number >= 0, got {value}.")
        if instance_noise_steps is not None:
            instance_noise_steps = check_positive_int(instance_noise_steps, "instance_noise_steps")
        defaults = (dict(learning_rate=1e-4, beta_1=0.0, beta_2=0.9) if spec.gradient_penalty
                    else dict(learning_rate=2e-4, beta_1=0.5))
        d_opt = keras.optimizers.Adam(**defaults) if d_optimizer is None else keras.optimizers.get(d_optimizer)
        g_opt = keras.optimizers.Adam(**defaults) if g_optimizer is None else keras.optimizers.get(g_optimizer)
        if d_opt is g_opt:
            raise InputValidationError("d_optimizer and g_optimizer must be two different optimizer objects.")
        if self.dtype_policy.name == "mixed_float16":  # what Model.compile does for its one optimizer
            d_opt = keras.optimizers.LossScaleOptimizer(d_opt, name="d_loss_scale_optimizer")
            g_opt = keras.optimizers.LossScaleOptimizer(g_opt, name="g_loss_scale_optimizer")
        self.d_optimizer, self.g_optimizer = d_opt, g_opt
        self.loss_name, self.n_critic, self.gp_weight = loss, n_critic, float(gp_weight)
        self.label_smoothing, self.instance_noise = float(label_smoothing), float(instance_noise)
        self.instance_noise_steps = instance_noise_steps
        self.reuse_fakes = bool(reuse_fakes)
        # Build optimizer variables now, not inside the first (XLA-compiled) step.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        # One XLA policy for every family (keras_ae.training.defaults): off for convolutions on CPU.
        jit_compile = resolve_jit_compile(self, jit_compile, networks=(self.generator, self.discriminator))
        if kwargs.get("steps_per_execution") is None:
            kwargs["steps_per_execution"] = default_steps_per_execution(self)
        kwargs["steps_per_execution"] = check_positive_int(kwargs["steps_per_execution"], "steps_per_execution")
        keras.Model.compile(self, optimizer=None, jit_compile=jit_compile, **kwargs)

    @property
    def loss_spec(self):
        """The compiled :class:`~keras_ae.models.gan_losses.GANLoss`."""
        if self.loss_name is None:
            raise InputValidationError("Call gan.compile() before training or evaluating the GAN.")
        return GAN_LOSSES[self.loss_name]

    def get_compile_config(self) -> dict | None:
        if not getattr(self, "compiled", False) or self.loss_name is None:
            return None

        def inner(opt):  # save the user's optimizer; compile() re-wraps it under mixed_float16
            return opt.inner_optimizer if isinstance(opt, keras.optimizers.LossScaleOptimizer) else opt

        return {
            "d_optimizer": keras.saving.serialize_keras_object(inner(self.d_optimizer)),
            "g_optimizer": keras.saving.serialize_keras_object(inner(self.g_optimizer)),
            "loss": self.loss_name, "n_critic": self.n_critic, "gp_weight": self.gp_weight,
            "label_smoothing": self.label_smoothing, "instance_noise": self.instance_noise,
            "instance_noise_steps": self.instance_noise_steps, "reuse_fakes": self.reuse_fakes,
            "jit_compile": bool(self.jit_compile),
        }

    def compile_from_config(self, config: dict) -> None:
        config = dict(config)
        for key in ("d_optimizer", "g_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)  # builds both optimizers, so their saved state loads too

    # -- training ------------------------------------------------------------------------
    @property
    def metrics(self):
        trackers = [self.d_loss_tracker, self.g_loss_tracker, self.real_score_tracker, self.fake_score_tracker]
        if self.loss_name is not None and self.loss_spec.gradient_penalty:
            trackers.append(self.gp_tracker)
        return trackers

    def _next_seed(self) -> tf.Tensor:
        return next_stateless_seed(self.seed_generator)

    def _normal(self, shape) -> tf.Tensor:
        # Philox (XLA on CPU runs the default algorithm ~50x slower, bench_gan.py), one row
        # per example of the global batch, so the draws do not depend on tf.distribute's split.
        return batch_noise("normal", shape, self._next_seed())

    def latent_noise(self, batch_size) -> tf.Tensor:
        """Standard normal latent vectors ``(batch_size, latent_dim)`` from the model's seed stream."""
        return self._normal(tf.stack([batch_size, self.latent_dim]))

    def _generate(self, z, labels, training: bool, generator: keras.Model | None = None):
        generator = generator or self.generator
        if self.conditional:
            return generator([z, tf.reshape(labels, [-1, 1])], training=training)
        return generator(z, training=training)

    def _discriminate(self, x, labels, training: bool):
        if self.conditional:
            out = self.discriminator([x, tf.reshape(labels, [-1, 1])], training=training)
        else:
            out = self.discriminator(x, training=training)
        return tf.reshape(tf.cast(out, tf.float32), [-1])

    def _with_instance_noise(self, x):
        if not self.instance_noise:
            return x
        std = tf.constant(self.instance_noise, tf.float32)
        if self.instance_noise_steps:
            step = tf.cast(self.g_optimizer.iterations, tf.float32)
            std = std * tf.maximum(0.0, 1.0 - step / float(self.instance_noise_steps))
        noise = self._normal(tf.shape(x))
        return x + tf.cast(std * noise, x.dtype)

    def _scores(self, outputs) -> tf.Tensor:
        # P(real) for the cross-entropy losses; the raw critic score otherwise.
        return tf.reduce_mean(tf.sigmoid(outputs) if self.loss_spec.probability_output else outputs)

    def discriminator_terms(self, real, labels=None, training: bool = True, fake=None) -> dict[str, tf.Tensor]:
        """Discriminator loss terms on one batch (float32 scalars): ``d_loss`` (with the
        gradient penalty), ``real_score``, ``fake_score`` and ``gradient_penalty``.
        ``fake``: generated examples to use (default: generated here from fresh noise)."""
        spec = self.loss_spec
        if fake is None:
            fake = self._generate(self.latent_noise(tf.shape(real)[0]), labels, training=training)
        fake = tf.stop_gradient(fake)
        real_out = self._discriminate(self._with_instance_noise(real) if training else real, labels, training)
        fake_out = self._discriminate(self._with_instance_noise(fake) if training else fake, labels, training)
        d_loss = spec.discriminator(real_out, fake_out, self.label_smoothing)
        terms = {"real_score": self._scores(real_out), "fake_score": self._scores(fake_out)}
        if spec.gradient_penalty:
            alpha = batch_noise("uniform", tf.shape(real)[:1], self._next_seed())
            x_hat = interpolate(real, tf.cast(fake, real.dtype), alpha)
            with tf.GradientTape() as inner:
                inner.watch(x_hat)
                critic = tf.reduce_sum(self._discriminate(x_hat, labels, training))
            penalty = gradient_penalty(inner.gradient(critic, x_hat))
            d_loss = d_loss + self.gp_weight * penalty
            terms["gradient_penalty"] = penalty
        terms["d_loss"] = d_loss
        return terms

    def generator_terms(self, batch_size, labels=None, training: bool = True) -> dict[str, tf.Tensor]:
        """Generator loss on one batch of fresh noise: ``{"g_loss": scalar}``."""
        z = self.latent_noise(batch_size)
        fake = self._generate(z, labels, training=training)
        fake_out = self._discriminate(self._with_instance_noise(fake) if training else fake, labels, training)
        return {"g_loss": self.loss_spec.generator(fake_out)}

    def _update(self, network: keras.Model, optimizer, compute_terms, key: str, batch_size) -> dict[str, tf.Tensor]:
        """One gradient step of ``network`` on ``terms[key]`` (plus its layer regularizers).

        ``batch_size`` is the replica's true batch size: under ``tf.distribute`` the loss
        (gradient penalty included) is weighted by its share of the global batch."""
        with tf.GradientTape() as tape:
            terms = compute_terms()
            loss = terms[key]
            if network.losses:  # e.g. kernel_regularizer on a user's network
                loss = loss + tf.add_n([tf.cast(l, tf.float32) for l in network.losses])
            loss = optimizer.scale_loss(scale_loss_for_replicas(loss, batch_size))
        grads = tape.gradient(loss, network.trainable_weights)
        optimizer.apply_gradients(zip(grads, network.trainable_weights))
        return terms

    def discriminator_step(self, real, labels=None, weight_batch=None) -> dict[str, tf.Tensor]:
        """One discriminator update (the generator only runs forward).

        ``weight_batch``: the replica's true batch size if ``real`` was padded by
        :func:`~keras_ae.training.distribute.nonempty_batch` (default ``len(real)``)."""
        weight_batch = batch_size_of(real) if weight_batch is None else weight_batch
        return self._update(self.discriminator, self.d_optimizer,
                            lambda: self.discriminator_terms(real, labels, training=True), "d_loss", weight_batch)

    def generator_step(self, batch_size, labels=None, weight_batch=None) -> dict[str, tf.Tensor]:
        """One generator update through a fixed discriminator, on ``batch_size`` fakes
        (weighted as ``weight_batch`` examples under ``tf.distribute``, default ``batch_size``)."""
        weight_batch = batch_size if weight_batch is None else weight_batch
        return self._update(self.generator, self.g_optimizer,
                            lambda: self.generator_terms(batch_size, labels, training=True), "g_loss", weight_batch)

    def shared_fake_step(self, real, labels=None, weight_batch=None) -> tuple[dict, dict]:
        """One discriminator and one generator update on a single fake batch.

        The generator runs forward once, under a tape; the discriminator update sees that
        batch (gradient stopped), then the generator update back-propagates the generator
        loss through the updated discriminator into the same forward pass. The result
        equals :meth:`discriminator_step` followed by :meth:`generator_step` with the same
        noise, at one generator forward pass less.

        Returns:
            ``(discriminator terms, generator terms)``.
        """
        weight_batch = batch_size_of(real) if weight_batch is None else weight_batch
        z = self.latent_noise(tf.shape(real)[0])
        with tf.GradientTape() as g_tape:
            fake = self._generate(z, labels, training=True)
            g_reg = (tf.add_n([tf.cast(l, tf.float32) for l in self.generator.losses])
                     if self.generator.losses else None)
        d_terms = self._update(self.discriminator, self.d_optimizer,
                               lambda: self.discriminator_terms(real, labels, training=True, fake=fake),
                               "d_loss", weight_batch)
        with tf.GradientTape() as tape:
            tape.watch(fake)
            g_loss = self.loss_spec.generator(self._discriminate(self._with_instance_noise(fake), labels, True))
            scaled = self.g_optimizer.scale_loss(scale_loss_for_replicas(g_loss, weight_batch))
        targets, output_grads = [fake], [tape.gradient(scaled, fake)]
        if g_reg is not None:  # the generator's own regularizers (e.g. a kernel_regularizer)
            targets.append(self.g_optimizer.scale_loss(scale_loss_for_replicas(g_reg, weight_batch)))
            output_grads.append(tf.ones_like(targets[-1]))
        weights = self.generator.trainable_weights
        grads = g_tape.gradient(targets, weights, output_gradients=output_grads)
        self.g_optimizer.apply_gradients(zip(grads, weights))
        return d_terms, {"g_loss": g_loss}

    def update_ema(self) -> None:
        """Moves the EMA generator's weights towards the generator's (after a G update)."""
        if self.ema_generator is None:
            return
        t = tf.cast(self.g_optimizer.iterations, tf.float32)
        rate = 1.0 - tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        rates = {}
        for ema, w in zip(self.ema_generator.weights, self.generator.weights):
            if "float" in str(ema.dtype):  # not integer state (e.g. seed counters)
                # ema <- decay * ema + (1 - decay) * w, in the fewest ops (this runs every step)
                dtype = ema.dtype
                if dtype not in rates:
                    rates[dtype] = tf.cast(rate, dtype)
                w = w if w.dtype == dtype else tf.cast(w, dtype)
                ema.assign_sub(rates[dtype] * (ema - w))
            else:
                ema.assign(w)

    def _unpack(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and y is None:
            raise InputValidationError("A conditional GAN trains on (images, labels): call fit(x, y).")
        return x, (y if self.conditional else None)

    def train_step(self, data):
        # Under tf.distribute an empty replica batch becomes one example weighted 0.
        x, labels, batch = nonempty_batch(*self._unpack(data))
        if self.n_critic == 1 and getattr(self, "reuse_fakes", False):
            d_terms, g_terms = self.shared_fake_step(x, labels, weight_batch=batch)
            self.update_trackers(d_terms, batch)
        else:
            for _ in range(self.n_critic):  # unrolled: n_critic is small and static
                d_terms = self.discriminator_step(x, labels, weight_batch=batch)
                self.update_trackers(d_terms, batch)
            g_terms = self.generator_step(tf.shape(x)[0], labels, weight_batch=batch)
        self.update_ema()
        return self.update_trackers(g_terms, batch)

    def test_step(self, data):
        x, labels, batch = nonempty_batch(*self._unpack(data))
        terms = {**self.discriminator_terms(x, labels, training=False),
                 **self.generator_terms(tf.shape(x)[0], labels, training=False)}
        return self.update_trackers(terms, batch)

    def call(self, inputs, training=False):
        """``generator(inputs)``: ``inputs`` is ``z`` (or ``[z, labels]`` when conditional)."""
        return self.generator(inputs, training=training)

    # -- validation at the boundary -------------------------------------------------
    def _range_hint(self) -> str:
        if self.data_range == (-1.0, 1.0):
            return "This generator ends in tanh: scale [0, 1] images with x * 2 - 1 (or gan.from_unit_range(x))."
        if self.data_range == (0.0, 1.0):
            return "This generator ends in sigmoid: scale 8-bit images with x / 255."
        return ""

    def validate_inputs(self, x, name: str = "x") -> np.ndarray:
        """Checks shape, dtype, NaN/inf and the data range of NumPy data; returns float32.

        Example:
            >>> gan.validate_inputs(x_train)  # doctest: +SKIP
        """
        hint = self._range_hint()
        x = check_array(x, name, expected_shape=self.example_shape, value_range=self.data_range, range_hint=hint)
        if self.data_range == (-1.0, 1.0) and x.size and x.min() >= 0.0:
            warnings.warn(f"`{name}` lies in [0, 1] but the generator outputs [-1, 1] (tanh): {hint}", stacklevel=3)
        return x

    def validate_labels(self, y, n: int, name: str = "y") -> np.ndarray:
        """Checks integer class labels ``(n,)`` in ``[0, num_classes)``; returns int32.

        Example:
            >>> gan.validate_labels([0, 3], 2)  # doctest: +SKIP
        """
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or len(y) != n:
            raise InputValidationError(f"`{name}` must hold one class label per example, shape ({n},); got {y.shape}.")
        whole = np.issubdtype(y.dtype, np.floating) and np.all(y == np.round(y))
        if not (np.issubdtype(y.dtype, np.integer) or whole):
            raise InputValidationError(f"`{name}` must be integer class ids, got dtype {y.dtype}.")
        if y.size and (y.min() < 0 or y.max() >= self.num_classes):
            raise InputValidationError(
                f"`{name}` has labels in [{y.min()}, {y.max()}], outside [0, {self.num_classes - 1}] "
                f"(num_classes={self.num_classes})."
            )
        return y.astype(np.int32)

    def check_data(self, x, y, names, training: bool):
        """``fit``/``evaluate`` hook: images in the generator's range, and class labels for a
        conditional GAN (ignored otherwise)."""
        x = self.validate_inputs(x, names[0])
        if not self.conditional:
            return x, None  # labels are not a target for an unconditional GAN
        if y is None:
            raise InputValidationError(f"A conditional GAN needs labels: pass y with {names[0]}.")
        return x, self.validate_labels(y, len(x), names[1])

    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: image batches, ``(images, labels)`` for a conditional GAN."""
        return DataSpec(self.example_shape, self.data_range, self._range_hint(),
                        targets="labels" if self.conditional else "ignored", num_classes=self.num_classes)

    def fit(self, *args, **kwargs):
        """:meth:`keras_ae.training.Trainer.fit` once :meth:`compile` chose the loss.

        ``y`` holds class labels for a conditional GAN and is ignored otherwise. A NaN or
        infinite ``d_loss``/``g_loss`` stops training, restores the last finite weights
        (generator, discriminator and EMA generator) and raises
        :class:`~keras_ae.errors.TrainingDivergedError` naming the epoch and step.

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(16,), discriminator_units=(16,))
            >>> gan.compile()
            >>> history = gan.fit(x_digits[:64], epochs=1, batch_size=32, verbose=0)
            >>> sorted(history.history)
            ['d_loss', 'fake_score', 'g_loss', 'real_score']
        """
        if self.loss_name is None:
            raise InputValidationError("Call gan.compile() before gan.fit().")
        return super().fit(*args, **kwargs)

    # -- sampling --------------------------------------------------------------------
    @property
    def sampling_generator(self) -> keras.Model:
        """The network :meth:`sample` uses: the EMA generator if enabled, else ``generator``."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def to_unit_range(self, x) -> np.ndarray:
        """Maps data from the model's range to [0, 1] (for plots and sample metrics).

        Example:
            >>> gan.to_unit_range(np.array([-1.0, 1.0]))  # tanh model  # doctest: +SKIP
            array([0., 1.])
        """
        lo, hi = self.data_range or (0.0, 1.0)
        return (np.asarray(x, np.float32) - lo) / (hi - lo)

    def from_unit_range(self, x) -> np.ndarray:
        """Maps [0, 1] data (what ``load_dataset`` returns) to the generator's range.

        Example:
            >>> gan.fit(gan.from_unit_range(x_train))  # doctest: +SKIP
        """
        lo, hi = self.data_range or (0.0, 1.0)
        return (np.asarray(x, np.float32) * (hi - lo) + lo).astype(np.float32)

    def generate(self, z, labels=None, use_ema: bool = True, batch_size: int = 256, unit_range: bool = False,
                 verbose: int = 0) -> np.ndarray:
        """Generator outputs for given latent vectors (inference mode).

        Args:
            z: Latent vectors ``(n, latent_dim)``.
            labels: Class ids ``(n,)`` for a conditional GAN.
            use_ema: Use the EMA generator (when the model has one).
            batch_size: Examples per forward pass.
            unit_range: Return images mapped to [0, 1] instead of the model's range.
            verbose: Show a progress bar (when there is more than one batch).

        Returns:
            A float32 array ``(n, *example_shape)``.

        Example:
            >>> images = gan.generate(np.zeros((4, gan.latent_dim)))  # doctest: +SKIP
        """
        z = check_array(z, "z", expected_shape=(self.latent_dim,))
        network = self.sampling_generator if use_ema else self.generator
        if self.conditional:
            if labels is None:
                raise InputValidationError("A conditional GAN needs labels to generate.")
            labels = self.validate_labels(labels, len(z), "labels").reshape(-1, 1)
        out = []
        progbar = keras.utils.Progbar(len(z), verbose=verbose if len(z) > batch_size else 0, unit_name="sample")
        for start in range(0, len(z), batch_size):
            zb = tf.constant(z[start:start + batch_size])
            lb = None if labels is None else tf.constant(labels[start:start + batch_size])
            out.append(np.asarray(self._generate(zb, lb, training=False, generator=network)))
            progbar.update(min(start + batch_size, len(z)))
        images = np.concatenate(out).astype(np.float32)
        return self.to_unit_range(images) if unit_range else images

    def sample(self, n: int, seed: int | None = None, labels=None, use_ema: bool = True,
               batch_size: int = 256, unit_range: bool = False, verbose: int = 1) -> np.ndarray:
        """Draws ``n`` samples ``G(z)``, ``z ~ N(0, I)``, with the EMA generator by default.

        Args:
            n: Number of samples.
            seed: Seed of the latent draw (same seed, same samples).
            labels: Conditional GAN: class ids ``(n,)``; default cycles ``0, 1, ..., K-1``.
            use_ema: Use the EMA generator (when the model has one).
            batch_size: Examples per forward pass.
            unit_range: Return images mapped to [0, 1] instead of the model's range.
            verbose: Show a progress bar (when there is more than one batch).

        Returns:
            A float32 array ``(n, *example_shape)``.

        Example:
            >>> grid = gan.sample(16, seed=0, unit_range=True)  # doctest: +SKIP
        """
        n = check_positive_int(n, "n")
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        if self.conditional and labels is None:
            labels = np.arange(n) % self.num_classes
        return self.generate(z, labels, use_ema=use_ema, batch_size=batch_size, unit_range=unit_range, verbose=verbose)


# ---------------------------------------------------------------------------------------
# Layers and network builders
# ---------------------------------------------------------------------------------------


    # -- serving: the export signatures of the family ----------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``generate``: latents (and ``labels`` for a conditional GAN) -> images in the
        model's data range, computed by the generator :meth:`sample` uses (the EMA
        generator when there is one). The discriminator is not exported.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
            >>> [e.name for e in gan.serving_endpoints(ExportOptions())]
            ['generate']
        """
        network = self.sampling_generator
        inputs = {"latents": tensor_spec((self.latent_dim,), "latents")}
        ranges = {}
        if self.conditional:
            inputs["labels"] = tf.TensorSpec((None,), tf.int32, name="labels")
            ranges["labels"] = (0, self.num_classes - 1)

        def generate(latents, labels=None):
            if labels is None:
                return {"images": network(latents, training=False)}
            return {"images": network([latents, tf.reshape(labels, [-1, 1])], training=False)}

        doc = "latents" + (", labels" if self.conditional else "") + " -> images"
        return [make_endpoint("generate", generate, inputs, doc, ranges)]

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: latents, output range, conditioning."""
        return {
            "input": describe_data("latents", (self.latent_dim,), None),
            "code_size": self.latent_dim,
            "latent_dim": self.latent_dim,
            "output": describe_data("images", self.example_shape, self.data_range),
            "conditional": self.conditional,
            "num_classes": self.num_classes,
            "generator": "ema_generator" if self.ema_generator is not None else "generator",
        }


@keras.saving.register_keras_serializable(package="keras_ae")
class Maxout(keras.layers.Layer):
    """Maxout units (Goodfellow et al. 2013): the max of ``pieces`` affine maps per unit.

    Args:
        units: Output units.
        pieces: Affine pieces per unit.

    Example:
        >>> Maxout(240, pieces=5)(keras.ops.zeros((2, 784))).shape
        (2, 240)
    """

    def __init__(self, units: int, pieces: int = 5, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        self.pieces = check_positive_int(pieces, "pieces")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = keras.layers.Dense(self.units * self.pieces, kernel_initializer=self.kernel_initializer)

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.built = True

    def call(self, inputs):
        h = self.dense(inputs)
        h = keras.ops.reshape(h, (-1, self.units, self.pieces))
        return keras.ops.max(h, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "pieces": self.pieces,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def _label_input() -> keras.KerasTensor:
    return keras.Input(shape=(1,), dtype="int32", name="labels")


def _radford_init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(stddev=0.02)  # Radford et al. 2016, section 4


def get_mlp_generator(
    data_shape: int | Sequence[int] = (28, 28, 1),
    latent_dim: int = 100,
    units: Sequence[int] = (1200, 1200),
    data_range: Sequence[float] = (0.0, 1.0),
    num_classes: int | None = None,
    name: str = "generator",
) -> keras.Model:
    """An MLP generator ``z -> ReLU layers -> sigmoid/tanh`` (Goodfellow et al. 2014).

    Args:
        data_shape: Shape of one example (vectors or images).
        latent_dim: Size of ``z``.
        units: Hidden layer widths.
        data_range: ``(0, 1)`` (sigmoid output) or ``(-1, 1)`` (tanh output).
        num_classes: If set, a second input of class ids (one-hot, concatenated to ``z``).
        name: Model name.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> get_mlp_generator(784, latent_dim=10).output_shape
        (None, 784)
    """
    shape = as_shape(data_shape, "data_shape")
    z = keras.Input(shape=(check_positive_int(latent_dim, "latent_dim"),), name="latent")
    inputs, h = [z], z
    if num_classes is not None:
        labels = _label_input()
        inputs.append(labels)
        onehot = keras.layers.Flatten()(keras.layers.CategoryEncoding(num_classes, output_mode="one_hot")(labels))
        h = keras.layers.Concatenate()([z, onehot])
    for i, u in enumerate(as_units(units, "generator_units")):
        h = keras.layers.Dense(u, activation="relu", name=f"dense_{i}")(h)
    h = keras.layers.Dense(int(np.prod(shape)), activation=DATA_RANGES[_as_data_range(data_range)], name="output")(h)
    if len(shape) > 1:
        h = keras.layers.Reshape(shape)(h)
    return keras.Model(inputs if num_classes is not None else z, h, name=name)


def get_mlp_discriminator(
    data_shape: int | Sequence[int] = (28, 28, 1),
    units: Sequence[int] = (240, 240),
    maxout_pieces: int | None = 5,
    dropout: float = 0.5,
    num_classes: int | None = None,
    name: str = "discriminator",
) -> keras.Model:
    """An MLP discriminator with maxout units and dropout (Goodfellow et al. 2014); one logit out.

    Args:
        data_shape: Shape of one example.
        units: Hidden widths.
        maxout_pieces: Pieces per maxout unit; ``None`` uses LeakyReLU(0.2) instead.
        dropout: Dropout rate after each hidden layer.
        num_classes: If set, a second input of class ids (one-hot, concatenated).
        name: Model name.

    Returns:
        A functional ``keras.Model`` with output ``(batch, 1)`` (a logit).

    Example:
        >>> get_mlp_discriminator(784).output_shape
        (None, 1)
    """
    shape = as_shape(data_shape, "data_shape")
    x = keras.Input(shape=shape, name="data")
    inputs = [x]
    h = keras.layers.Flatten()(x) if len(shape) > 1 else x
    if num_classes is not None:
        labels = _label_input()
        inputs.append(labels)
        onehot = keras.layers.Flatten()(keras.layers.CategoryEncoding(num_classes, output_mode="one_hot")(labels))
        h = keras.layers.Concatenate()([h, onehot])
    for i, u in enumerate(as_units(units, "discriminator_units")):
        if maxout_pieces:
            h = Maxout(u, pieces=maxout_pieces, name=f"maxout_{i}")(h)
        else:
            h = keras.layers.LeakyReLU(0.2)(keras.layers.Dense(u, name=f"dense_{i}")(h))
        if dropout:
            h = keras.layers.Dropout(dropout)(h)
    logit = keras.layers.Dense(1, name="logit")(h)
    return keras.Model(inputs if num_classes is not None else x, logit, name=name)


def get_dcgan_generator(
    image_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 100,
    filters: Sequence[int] = (128, 64),
    kernel_size: int = 4,
    data_range: Sequence[float] = (0.0, 1.0),
    num_classes: int | None = None,
    name: str = "generator",
) -> keras.Model:
    """A DCGAN generator (Radford et al. 2016).

    ``z`` is projected to a small feature map, then each entry of ``filters`` but the
    first adds a stride-2 transposed convolution; a last one outputs the image channels.
    Batch norm and ReLU everywhere except the output (sigmoid or tanh, per ``data_range``);
    no pooling, no hidden dense layers, N(0, 0.02) initialization.

    Args:
        image_shape: ``(height, width, channels)``; sizes not divisible by
            ``2**len(filters)`` are cropped.
        latent_dim: Size of ``z``.
        filters: Channels from the projected map down to the last hidden layer.
        kernel_size: Kernel size (4 is divisible by the stride: no checkerboard).
        data_range: ``(0, 1)`` (sigmoid) or ``(-1, 1)`` (tanh).
        num_classes: If set, a second input of class ids, one-hot and concatenated to ``z``.
        name: Model name.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> get_dcgan_generator((28, 28, 1), latent_dim=64).output_shape
        (None, 28, 28, 1)
    """
    height, width, channels = as_image_shape(image_shape, "image_shape", "DCGAN", "use build_gan for vectors")
    filters = as_units(filters, "filters")
    factor = 2 ** len(filters)
    small_h, small_w = math.ceil(height / factor), math.ceil(width / factor)
    z = keras.Input(shape=(check_positive_int(latent_dim, "latent_dim"),), name="latent")
    inputs, h = [z], z
    if num_classes is not None:
        labels = _label_input()
        inputs.append(labels)
        onehot = keras.layers.Flatten()(keras.layers.CategoryEncoding(num_classes, output_mode="one_hot")(labels))
        h = keras.layers.Concatenate()([z, onehot])
    init = _radford_init()
    h = keras.layers.Dense(small_h * small_w * filters[0], use_bias=False, kernel_initializer=init, name="project")(h)
    h = keras.layers.Reshape((small_h, small_w, filters[0]))(h)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9, name="project_bn")(h))
    for i, f in enumerate(filters[1:]):
        h = keras.layers.Conv2DTranspose(f, kernel_size, strides=2, padding="same", use_bias=False,
                                         kernel_initializer=init, name=f"deconv_{i}")(h)
        h = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9, name=f"deconv_{i}_bn")(h))
    h = keras.layers.Conv2DTranspose(channels, kernel_size, strides=2, padding="same", kernel_initializer=init,
                                     name="to_image")(h)
    extra_h, extra_w = small_h * factor - height, small_w * factor - width
    if extra_h or extra_w:
        h = keras.layers.Cropping2D(((0, extra_h), (0, extra_w)))(h)
    h = keras.layers.Activation(DATA_RANGES[_as_data_range(data_range)], name="output")(h)
    return keras.Model(inputs if num_classes is not None else z, h, name=name)


def get_dcgan_discriminator(
    image_shape: Sequence[int] = (28, 28, 1),
    filters: Sequence[int] = (64, 128),
    kernel_size: int = 4,
    norm: str | None = "batch",
    num_classes: int | None = None,
    name: str = "discriminator",
) -> keras.Model:
    """A DCGAN discriminator: stride-2 convolutions, LeakyReLU(0.2), one logit out.

    No normalization on the input layer (Radford et al.); ``norm="layer"`` (or ``None``)
    for a WGAN-GP critic, where batch norm would invalidate the per-example penalty.

    Args:
        image_shape: ``(height, width, channels)``.
        filters: Channels of each stride-2 convolution, input side first.
        kernel_size: Kernel size.
        norm: ``"batch"``, ``"layer"`` or ``None``.
        num_classes: If set, a second input of class ids, broadcast as one-hot
            channels concatenated to the image.
        name: Model name.

    Returns:
        A functional ``keras.Model`` with output ``(batch, 1)``.

    Example:
        >>> get_dcgan_discriminator((28, 28, 1)).output_shape
        (None, 1)
    """
    height, width, channels = as_image_shape(image_shape, "image_shape", "DCGAN", "use build_gan for vectors")
    if norm not in ("batch", "layer", None):
        raise InputValidationError(f"norm must be 'batch', 'layer' or None, got {norm!r}.")
    x = keras.Input(shape=(height, width, channels), name="data")
    inputs, h = [x], x
    if num_classes is not None:
        labels = _label_input()
        inputs.append(labels)
        onehot = keras.layers.CategoryEncoding(num_classes, output_mode="one_hot")(labels)
        maps = keras.layers.UpSampling2D((height, width))(keras.layers.Reshape((1, 1, num_classes))(onehot))
        h = keras.layers.Concatenate()([x, maps])
    init = _radford_init()
    for i, f in enumerate(as_units(filters, "filters")):
        h = keras.layers.Conv2D(f, kernel_size, strides=2, padding="same", kernel_initializer=init, name=f"conv_{i}")(h)
        if i > 0 and norm == "batch":
            h = keras.layers.BatchNormalization(momentum=0.9, name=f"conv_{i}_bn")(h)
        elif i > 0 and norm == "layer":
            h = keras.layers.LayerNormalization(axis=(1, 2, 3), name=f"conv_{i}_ln")(h)
        h = keras.layers.LeakyReLU(0.2)(h)
    h = keras.layers.Flatten()(h)
    logit = keras.layers.Dense(1, kernel_initializer=init, name="logit")(h)
    return keras.Model(inputs if num_classes is not None else x, logit, name=name)


@register_builder("gan")
def build_gan(
    data_shape: int | Sequence[int] = (28, 28, 1),
    latent_dim: int = 100,
    generator_units: Sequence[int] = (1200, 1200),
    discriminator_units: Sequence[int] = (240, 240),
    maxout_pieces: int | None = 5,
    dropout: float = 0.5,
    data_range: Sequence[float] = (0.0, 1.0),
    ema_decay: float | None = 0.999,
    seed: int | None = None,
    name: str = "gan",
) -> GAN:
    """The MLP GAN of Goodfellow et al. (2014): ReLU generator, maxout + dropout discriminator.

    Args:
        data_shape: Shape of one example (``784`` or ``(28, 28, 1)``).
        latent_dim: Size of ``z``.
        generator_units: Generator hidden widths (the paper: 1200, 1200).
        discriminator_units: Discriminator maxout widths (the paper: 240, 240).
        maxout_pieces: Pieces per maxout unit (``None``: LeakyReLU).
        dropout: Discriminator dropout rate.
        data_range: ``(0, 1)`` (sigmoid output) or ``(-1, 1)`` (tanh output).
        ema_decay: Generator weight EMA for sampling (``None`` disables it).
        seed: Seed of the training noise.
        name: Model name.

    Returns:
        An (uncompiled) :class:`GAN`.

    Example:
        >>> gan = build_gan(784, latent_dim=100)
        >>> gan.discriminator.output_shape
        (None, 1)
    """
    generator = get_mlp_generator(data_shape, latent_dim, generator_units, data_range)
    discriminator = get_mlp_discriminator(data_shape, discriminator_units, maxout_pieces, dropout)
    return GAN(generator, discriminator, data_range=data_range, ema_decay=ema_decay, seed=seed, name=name)


@register_builder("dcgan")
def build_dcgan(
    image_shape: Sequence[int] = (28, 28, 1),
    latent_dim: int = 100,
    filters: Sequence[int] = (128, 64),
    kernel_size: int = 4,
    data_range: Sequence[float] = (0.0, 1.0),
    discriminator_norm: str | None = "batch",
    ema_decay: float | None = 0.999,
    seed: int | None = None,
    name: str = "dcgan",
) -> GAN:
    """A DCGAN (Radford et al. 2016) for images of any size.

    Args:
        image_shape: ``(height, width, channels)``.
        latent_dim: Size of ``z``.
        filters: Generator channels from the projected map down; the discriminator
            mirrors them (``filters[::-1]``).
        kernel_size: Kernel size of every (transposed) convolution.
        data_range: ``(0, 1)`` (sigmoid output, keras_ae's image range) or ``(-1, 1)``
            (tanh output, as in the paper; scale data with ``gan.from_unit_range``).
        discriminator_norm: ``"batch"`` (the paper), ``"layer"`` or ``None``; use
            ``"layer"`` with ``loss="wasserstein_gp"``.
        ema_decay: Generator weight EMA for sampling (``None`` disables it).
        seed: Seed of the training noise.
        name: Model name.

    Returns:
        An (uncompiled) :class:`GAN`.

    Example:
        >>> gan = build_dcgan((28, 28, 1), latent_dim=64)
        >>> gan.generator.output_shape
        (None, 28, 28, 1)
    """
    filters = as_units(filters, "filters")
    generator = get_dcgan_generator(image_shape, latent_dim, filters, kernel_size, data_range)
    discriminator = get_dcgan_discriminator(image_shape, filters[::-1], kernel_size, discriminator_norm)
    return GAN(generator, discriminator, data_range=data_range, ema_decay=ema_decay, seed=seed, name=name)


@register_builder("conditional_gan")
def build_conditional_gan(
    data_shape: int | Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    latent_dim: int = 100,
    architecture: str = "dcgan",
    filters: Sequence[int] = (128, 64),
    kernel_size: int = 4,
    generator_units: Sequence[int] = (1200, 1200),
    discriminator_units: Sequence[int] = (240, 240),
    data_range: Sequence[float] = (0.0, 1.0),
    discriminator_norm: str | None = "batch",
    ema_decay: float | None = 0.999,
    seed: int | None = None,
    name: str = "conditional_gan",
) -> GAN:
    """A class-conditional GAN (Mirza & Osindero 2014): G(z, y) and D(x, y).

    The generator sees the one-hot label concatenated to ``z``; the discriminator sees
    it concatenated to its input (as constant channels for images). Train with
    ``fit(x, y)``; ``sample(n, labels=...)`` draws the requested classes.

    Args:
        data_shape: Shape of one example.
        num_classes: Number of classes.
        latent_dim: Size of ``z``.
        architecture: ``"dcgan"`` (images) or ``"mlp"``.
        filters: DCGAN channels (see :func:`build_dcgan`).
        kernel_size: DCGAN kernel size.
        generator_units: MLP generator widths.
        discriminator_units: MLP discriminator widths.
        data_range: ``(0, 1)`` or ``(-1, 1)``.
        discriminator_norm: DCGAN discriminator normalization.
        ema_decay: Generator weight EMA for sampling.
        seed: Seed of the training noise.
        name: Model name.

    Returns:
        An (uncompiled) conditional :class:`GAN`.

    Example:
        >>> cgan = build_conditional_gan((28, 28, 1), num_classes=10, latent_dim=64)
        >>> [tuple(i.shape) for i in cgan.generator.inputs]
        [(None, 64), (None, 1)]
    """
    num_classes = check_positive_int(num_classes, "num_classes", 2)
    if architecture == "dcgan":
        filters = as_units(filters, "filters")
        generator = get_dcgan_generator(data_shape, latent_dim, filters, kernel_size, data_range, num_classes)
        discriminator = get_dcgan_discriminator(data_shape, filters[::-1], kernel_size, discriminator_norm, num_classes)
    elif architecture == "mlp":
        generator = get_mlp_generator(data_shape, latent_dim, generator_units, data_range, num_classes)
        discriminator = get_mlp_discriminator(data_shape, discriminator_units, num_classes=num_classes)
    else:
        raise InputValidationError(f"architecture must be 'dcgan' or 'mlp', got {architecture!r}.")
    return GAN(generator, discriminator, num_classes=num_classes, data_range=data_range, ema_decay=ema_decay,
               seed=seed, name=name)
