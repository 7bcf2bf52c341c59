"""``GANCompile``, the part of :class:`~keras_ae.models.gan.model.GAN` that configures training:
``compile`` (two optimizers, the loss, its options, the XLA policy) and the compile config saved with a model."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.gan.losses import get_gan_loss
from keras_ae.models.gan.networks import _contains_batch_norm
from keras_ae.training.defaults import resolve_jit_compile
from keras_ae.validation import check_int


class GANCompile:
    """Mixin of :class:`~keras_ae.models.gan.model.GAN`: ``compile`` and its saved config.

    It uses the GAN's ``generator``, ``discriminator`` and ``dtype_policy``, sets the
    compiled options (``d_optimizer``, ``g_optimizer``, ``loss_name``, ``n_critic``, ...)
    and calls the next ``compile`` in the model's MRO (``Trainer.compile``).

    Example:
        >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
        >>> gan.compile(loss="hinge", n_critic=2)
        >>> gan.loss_name, gan.n_critic
        ('hinge', 2)
    """

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
                ``wasserstein_gp`` (see :mod:`keras_ae.models.gan.losses`).
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
            **kwargs: Passed to ``keras.Model.compile`` through ``Trainer.compile``. ``steps_per_execution`` defaults to
                64 (1 under ``tf.distribute``), as for the auto-encoders
                (:func:`~keras_ae.training.defaults.default_steps_per_execution`).

        Example:
            >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
            >>> gan.compile(loss="wasserstein_gp")
            >>> gan.loss_name
            'wasserstein_gp'
        """
        spec = get_gan_loss(loss)
        if kwargs.pop("optimizer", None) is not None or kwargs.get("loss_weights") is not None:
            raise InputValidationError("GAN.compile takes d_optimizer and g_optimizer, not optimizer=.")
        steps_per_execution = kwargs.pop("steps_per_execution", None)
        if steps_per_execution is not None:  # checked before any state changes
            steps_per_execution = check_int(steps_per_execution, "steps_per_execution", minimum=1)
        if spec.gradient_penalty and _contains_batch_norm(self.discriminator):
            raise InputValidationError(
                "wasserstein_gp penalizes per-example input gradients, which batch normalization in the "
                "critic couples across the batch (Gulrajani et al. 2017, section 4). Build the critic with "
                "discriminator_norm='layer' (or None)."
            )
        spec.discriminator(tf.zeros(1), tf.zeros(1), label_smoothing)  # validates label_smoothing for this loss
        n_critic = check_int(spec.default_n_critic if n_critic is None else n_critic, "n_critic", minimum=1)
        for name, value in (("gp_weight", gp_weight), ("instance_noise", instance_noise)):
            if not np.isfinite(value) or value < 0:
                raise InputValidationError(f"{name} must be a finite number >= 0, got {value}.")
        if instance_noise_steps is not None:
            instance_noise_steps = check_int(instance_noise_steps, "instance_noise_steps", minimum=1)
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
        # Trainer.compile: the default steps_per_execution, no loss and no optimizer of Keras' own.
        super().compile(optimizer=None, steps_per_execution=steps_per_execution, jit_compile=jit_compile, **kwargs)

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
