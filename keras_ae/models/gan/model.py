"""The ``GAN`` model: two named sub-models, ``generator`` and ``discriminator``, trained by its own ``train_step``.

``compile(d_optimizer, g_optimizer, loss=...)`` sets up two optimizers. One ``fit`` step
runs ``n_critic`` discriminator updates, then one generator update, then updates an
exponential moving average (EMA) of the generator's weights that ``sample()`` uses.
The whole step is XLA-compiled by default (``jit_compile="auto"``), except for
convolutional GANs on a CPU-only machine, where oneDNN's kernels beat XLA's (measured in
``recipes/benchmark.py``), and under ``tf.distribute``. ``compile`` lives in
:mod:`keras_ae.models.gan.compile`, sampling and export in :mod:`keras_ae.models.gan.inference`,
the loss formulas in :mod:`keras_ae.models.gan.losses`.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.gan.compile import GANCompile
from keras_ae.models.gan.inference import GANInference
from keras_ae.models.gan.losses import GAN_LOSSES, gradient_penalty, interpolate
from keras_ae.models.gan.networks import _as_data_range, _infer_data_range
from keras_ae.models.serialization import NestedConfig, frozen_copy
from keras_ae.registry import register_family
from keras_ae.validation import check_float, check_model_seed, check_num_classes
from keras_ae.training import DataSpec, Trainer
from keras_ae.random import batch_noise, next_stateless_seed
from keras_ae.replicas import batch_size_of, nonempty_batch, scale_loss_for_replicas


@register_family("gan", serving_default="generate")
class GAN(GANCompile, GANInference, Trainer, NestedConfig, keras.Model):
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
        >>> gan = build_dcgan((8, 8, 1), latent_dim=4, filters=(8,))
        >>> gan.compile()  # Adam(2e-4, beta_1=0.5) for both, non-saturating loss
        >>> gan.generator.output_shape, gan.discriminator.output_shape
        ((None, 8, 8, 1), (None, 1))
        >>> gan.sample(16, seed=0, verbose=0).shape
        (16, 8, 8, 1)

    Training on MNIST (minutes on a CPU):

    ```python
    (x_train, _), _ = keras_ae.load_dataset("mnist10k")
    gan = build_dcgan((28, 28, 1), latent_dim=64)
    gan.compile()
    gan.fit(x_train, epochs=5, batch_size=64)
    images = gan.sample(16, seed=0)
    ```
    """

    # Two networks, two optimizers of its own (compile's d_optimizer, g_optimizer): Trainer.compile
    # adds no default optimizer, and the CLI passes none.
    single_optimizer = False
    nested_config_keys = ("generator", "discriminator")  # the EMA generator is a copy, made again at loading

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
        self.num_classes = check_num_classes(num_classes)
        if isinstance(data_range, str):
            if data_range != "auto":
                raise InputValidationError(f"data_range must be (0, 1), (-1, 1), 'auto' or None, got {data_range!r}.")
            data_range = _infer_data_range(generator)
        self.data_range = None if data_range is None else _as_data_range(data_range)
        self._check_networks()
        ema_decay = check_float(ema_decay, "ema_decay", 0.0, 1.0, include_maximum=False, allow_none=True)
        self.ema_decay = ema_decay if ema_decay else None
        self.seed = check_model_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        object.__setattr__(self, "info", dict(info or {}))
        # A copy of the generator whose weights follow the EMA of the trained ones.
        self.ema_generator = frozen_copy(self.generator, "ema_generator") if self.ema_decay else None
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

    # -- configuration -----------------------------------------------------------------
    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes,
                "data_range": list(self.data_range) if self.data_range else None, "ema_decay": self.ema_decay,
                "seed": self.seed, "info": self.info}

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

    # -- the compiled loss (compile: keras_ae.models.gan.compile) ----------------------
    @property
    def loss_spec(self):
        """The compiled :class:`~keras_ae.models.gan.losses.GANLoss`."""
        if self.loss_name is None:
            raise InputValidationError("Call gan.compile() before training or evaluating the GAN.")
        return GAN_LOSSES[self.loss_name]

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
                loss = loss + tf.add_n([tf.cast(penalty, tf.float32) for penalty in network.losses])
            loss = optimizer.scale_loss(scale_loss_for_replicas(loss, batch_size))
        grads = tape.gradient(loss, network.trainable_weights)
        optimizer.apply_gradients(zip(grads, network.trainable_weights))
        return terms

    def discriminator_step(self, real, labels=None, weight_batch=None) -> dict[str, tf.Tensor]:
        """One discriminator update (the generator only runs forward).

        ``weight_batch``: the replica's true batch size if ``real`` was padded by
        :func:`~keras_ae.replicas.nonempty_batch` (default ``len(real)``)."""
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
            g_reg = (tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.generator.losses])
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

    def compute_losses(self, x, labels=None, training: bool = False) -> dict[str, tf.Tensor]:
        """Both players' loss terms on one batch of real examples (float32 scalars): the
        :meth:`discriminator_terms` (``d_loss``, scores, gradient penalty), then the
        :meth:`generator_terms` (``g_loss``) on as many fakes.

        ``test_step`` reports these. ``train_step`` does not minimize them together: each
        loss has its own network and optimizer, the discriminator takes ``n_critic`` steps
        first and the generator's loss is taken through the updated discriminator, so it
        calls the two hooks one update at a time.

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
            >>> gan.compile(jit_compile=False)
            >>> sorted(gan.compute_losses(tf.constant(x_digits[:4])))
            ['d_loss', 'fake_score', 'g_loss', 'real_score']
        """
        return {**self.discriminator_terms(x, labels, training=training),
                **self.generator_terms(tf.shape(x)[0], labels, training=training)}

    def test_step(self, data):
        x, labels, batch = nonempty_batch(*self._unpack(data))
        return self.update_trackers(self.compute_losses(x, labels, training=False), batch)

    def call(self, inputs, training=False):
        """``generator(inputs)``: ``inputs`` is ``z`` (or ``[z, labels]`` when conditional)."""
        return self.generator(inputs, training=training)

    # -- Trainer hooks and fit ---------------------------------------------------------
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
            >>> gan.compile(jit_compile=False)  # no XLA compile time for this tiny run
            >>> history = gan.fit(x_digits[:64], epochs=1, batch_size=32, verbose=0)
            >>> sorted(history.history)
            ['d_loss', 'fake_score', 'g_loss', 'real_score']
        """
        if self.loss_name is None:
            raise InputValidationError("Call gan.compile() before gan.fit().")
        return super().fit(*args, **kwargs)
