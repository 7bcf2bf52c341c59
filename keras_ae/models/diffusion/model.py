"""The :class:`DiffusionModel` (DDPM, Ho et al. 2020; DDIM sampling, Song et al. 2021).

A noise predictor ``eps(x_t, t)`` (the U-Net of :mod:`~keras_ae.models.diffusion.unet`)
learns to undo the forward process ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``
by the simple loss ``E ||eps - eps(x_t, t)||^2``; images in [0, 1] are scaled to [-1, 1]
inside the model. The model owns:

* training through the shared :class:`~keras_ae.training.Trainer` ``fit``: ``t`` and the
  noise drawn per example of the global batch
  (:func:`~keras_ae.random.batch_noise`), then an EMA copy of the network
  (``ema_network``) moved towards the trained one after every step; sampling uses it;
* ``sample(n, steps=, method="ddim"|"ddpm"|"dpm++2m", eta=, seed=)``: the whole reverse walk is one
  ``tf.while_loop`` in one ``tf.function``; ``sample_naive`` is the same walk as a Python
  loop (the benchmark baseline; same noise, so the same images for a seed);
* class conditioning with classifier-free guidance (Ho & Salimans 2022) when built with
  ``num_classes=K``: ``fit(x, labels)`` nulls each label with probability ``label_dropout``,
  ``sample(n, labels, guidance=w)`` mixes the conditional and unconditional predictions
  (:mod:`~keras_ae.models.diffusion.guidance`);
* ``log_likelihood(x)`` / ``bits_per_dim(x)``: the variational bound of Ho et al. Eq. 5
  with the discretized Gaussian decoder for 8-bit data
  (:func:`~keras_ae.models.diffusion.schedules.variational_bound`), an upper bound on
  ``-log p(x)`` (so ``log_likelihood`` is a lower bound on ``log p(x)``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.common import as_image_shape, check_example_size, check_int, check_parameter_budget
from keras_ae.models.diffusion.guidance import (DEFAULT_GUIDANCE, DEFAULT_LABEL_DROPOUT, check_guidance, drop_labels)
from keras_ae.models.diffusion.likelihood import _RANGE_HINT, DiffusionLikelihood
from keras_ae.models.diffusion.sampling import METHODS, DiffusionSampling, counter_normal
from keras_ae.models.diffusion.schedules import SCHEDULES, VARIANCES, NoiseSchedule, check_timesteps, q_sample
from keras_ae.models.diffusion.serving import DiffusionServing
from keras_ae.models.serialization import NestedConfig, frozen_copy
from keras_ae.registry import register_family
from keras_ae.validation import check_bool, check_float, check_model_seed, check_num_classes
from keras_ae.training import DataSpec, Trainer
from keras_ae.random import batch_noise, next_stateless_seed
from keras_ae.replicas import nonempty_batch
from keras_ae.validation import check_array, check_choice, check_class_labels, check_on_grid

# DDIM steps of sample() when none are given: 50 of T = 1000 is Song et al.'s quality / speed middle ground.
DEFAULT_SAMPLE_STEPS = 50


def check_sample_steps(sample_steps: int | None, timesteps: int) -> int:
    """A model's default DDIM steps: an int in ``[1, timesteps]``, or ``None`` for
    ``min(DEFAULT_SAMPLE_STEPS, timesteps)``. The builder and the class (and so ``.keras``
    loading) apply this one rule; a larger value is refused, never clamped.

    Args:
        sample_steps: The value given.
        timesteps: The model's ``T``.

    Returns:
        The steps as an int.

    Example:
        >>> check_sample_steps(None, 20), check_sample_steps(10, 20)
        (20, 10)
    """
    if sample_steps is None:
        return min(DEFAULT_SAMPLE_STEPS, timesteps)
    return check_int(sample_steps, "sample_steps", minimum=1, maximum=timesteps)


@register_family("diffusion", serving_default="sample")
class DiffusionModel(DiffusionSampling, DiffusionLikelihood, DiffusionServing, Trainer, NestedConfig, keras.Model):
    """A denoising diffusion model of images in [0, 1].

    Args:
        network: Keras model ``[x_t (batch, h, w, c), t (batch,)] -> eps (batch, h, w, c)``
            (``t`` the 0-based timestep as a float); ``[x_t, t, labels (batch,) int32]`` when
            ``num_classes`` is given (label ``num_classes``: the null label).
        image_shape: ``(height, width, channels)``.
        timesteps: ``T``, steps of the forward process.
        schedule: ``"cosine"`` (Nichol & Dhariwal 2021) or ``"linear"`` (Ho et al. 2020).
        variance: Reverse-process variance ``"small"`` (``beta~_t``) or ``"large"`` (``beta_t``).
        ema_decay: Decay of the weight average sampling uses (``None``: sample with the
            trained weights). The decay is ``min(ema_decay, (1 + k) / (10 + k))`` after
            ``k`` steps, so early averages are not dominated by the initial weights.
        sample_steps: Default DDIM steps of :meth:`sample` and of the ``sample`` signature,
            ``1 <= sample_steps <= timesteps`` (``None``: :data:`DEFAULT_SAMPLE_STEPS`, or ``T``
            when ``T`` is smaller).
        clip_denoised: Clip the predicted ``x_0`` to [-1, 1] at every sampling step.
        seed: Seed of the model's random stream (training noise, ``seed=None`` samples).
        num_classes: ``K`` for a class-conditional model trained with ``fit(x, labels)``, or ``None``.
        label_dropout: Probability that a training label is replaced by the null label ``K``
            (classifier-free guidance's ``p_uncond``), in ``[0, 1]``; unused without ``num_classes``.
        guidance: Default guidance weight ``w`` of :meth:`sample` and of the exported ``sample``,
            a finite float >= 0 (``None``: :data:`~keras_ae.models.diffusion.guidance.DEFAULT_GUIDANCE`
            for a conditional model; an unconditional model takes none).
        info: JSON-serializable facts kept with the model.

    Example:
        >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=50)
        >>> model.sample_naive(2, steps=3, seed=0).shape  # untrained: noise-like images
        (2, 8, 8, 1)

        Training (the first ``fit`` traces the U-Net's training step: seconds even for
        8x8 digits, tens of minutes on MNIST on a CPU, so not run here):

        ```python
        (x_train, _), (x_test, _) = keras_ae.load_dataset("mnist10k")
        model = build_diffusion((28, 28, 1))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x_train, epochs=20, batch_size=128)
        images = model.sample(100, steps=50, method="ddim", seed=0)
        bpd = model.bits_per_dim(x_test[:100]).mean()  # the variational bound
        ```
    """

    loss_refusal = "Diffusion models own their loss (the epsilon MSE); don't pass loss= to compile()."
    nested_config_keys = ("network",)  # the EMA network is a copy, made again at loading

    def __init__(
        self,
        network: keras.Model,
        image_shape,
        timesteps: int = 1000,
        schedule: str = "cosine",
        variance: str = "small",
        ema_decay: float | None = 0.999,
        sample_steps: int | None = None,
        clip_denoised: bool = True,
        seed: int | None = None,
        num_classes: int | None = None,
        label_dropout: float = DEFAULT_LABEL_DROPOUT,
        guidance: float | None = None,
        info: dict | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.network = network
        self.image_shape: tuple[int, int, int] = check_example_size(as_image_shape(image_shape))
        self.timesteps = check_timesteps(timesteps)
        self.schedule_name = check_choice(schedule, "schedule", SCHEDULES)
        self.variance = check_choice(variance, "variance", VARIANCES)
        self.ema_decay = check_float(ema_decay, "ema_decay", 0.0, 1.0, include_maximum=False, allow_none=True)
        self.sample_steps = check_sample_steps(sample_steps, self.timesteps)
        self.clip_denoised = check_bool(clip_denoised, "clip_denoised")
        self.seed = check_model_seed(seed)
        self.num_classes = check_num_classes(num_classes)
        self.label_dropout = check_float(label_dropout, "label_dropout", 0.0, 1.0)
        self.guidance = check_guidance(guidance, self.num_classes, DEFAULT_GUIDANCE)
        object.__setattr__(self, "info", dict(info or {}))
        object.__setattr__(self, "schedule", NoiseSchedule.make(self.schedule_name, self.timesteps, self.variance))
        self._check_network()
        if ema_decay is not None:  # the EMA copy doubles the weights
            check_parameter_budget(2 * self.network.count_params(), "diffusion model (network and its EMA copy)",
                                   advice="reduce the network's channels or blocks, or pass ema_decay=None")
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.ema_network = frozen_copy(self.network, "ema_network") if self.ema_decay is not None else None
        self.loss_tracker = keras.metrics.Mean(name="loss")
        object.__setattr__(self, "_compiled", {})  # compiled samplers and bounds, reused across calls
        self.built = True  # the networks are functional models, built at construction

    def _check_network(self) -> None:
        expected = "[x_t, t] (two inputs)" if self.num_classes is None else "[x_t, t, labels] (three inputs)"
        if len(self.network.inputs) != (2 if self.num_classes is None else 3):
            raise InputValidationError(
                f"The noise predictor takes {expected}, got {len(self.network.inputs)} input(s).")
        for what, shape in (("input x_t", self.network.inputs[0].shape), ("output", self.network.outputs[0].shape)):
            if tuple(shape[1:]) != self.image_shape:
                raise InputValidationError(
                    f"The noise predictor's {what} has shape {tuple(shape[1:])}, the images {self.image_shape}.")

    def get_config(self) -> dict:
        return {**super().get_config(), "image_shape": list(self.image_shape), "timesteps": self.timesteps,
                "schedule": self.schedule_name, "variance": self.variance, "ema_decay": self.ema_decay,
                "sample_steps": self.sample_steps, "clip_denoised": self.clip_denoised, "seed": self.seed,
                "num_classes": self.num_classes, "label_dropout": self.label_dropout, "guidance": self.guidance,
                "info": self.info}

    # -- the network -------------------------------------------------------------------
    @property
    def conditional(self) -> bool:
        """Whether the model is class-conditional (built with ``num_classes``)."""
        return self.num_classes is not None

    @property
    def num_dims(self) -> int:
        """Dimensions ``D`` of one image (for bits/dim)."""
        return int(np.prod(self.image_shape))

    def sampling_network(self, use_ema: bool = True) -> keras.Model:
        """The EMA network (when the model keeps one and ``use_ema``), else the trained one."""
        return self.ema_network if use_ema and self.ema_network is not None else self.network

    @staticmethod
    def predict_noise(network: keras.Model, x_t, t, training: bool = False, labels=None) -> tf.Tensor:
        """``eps(x_t, t)`` (``eps(x_t, t, labels)`` given int32 labels) in float32; ``t`` is an int
        timestep per example."""
        inputs = [x_t, tf.cast(t, tf.float32)]
        if labels is not None:
            inputs.append(tf.cast(labels, tf.int32))
        return tf.cast(network(inputs, training=training), tf.float32)

    def call(self, inputs, training: bool = False):
        """The predicted noise of ``[x_t, t]`` (``[x_t, t, labels]`` when conditional; ``x_t`` in the
        model's [-1, 1] scale)."""
        x_t, t, *labels = inputs
        if len(labels) != (self.num_classes is not None):
            raise InputValidationError(f"The model takes {'[x_t, t, labels]' if labels == [] else '[x_t, t]'}.")
        return self.predict_noise(self.network, x_t, t, training=training, labels=labels[0] if labels else None)

    def q_sample(self, x0, t, noise) -> tf.Tensor:
        """The forward process: ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise``, ``x_0`` in [-1, 1].

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=10)
            >>> x_t = model.q_sample(tf.ones((1, 8, 8, 1)), tf.constant([9]), tf.zeros((1, 8, 8, 1)))
            >>> bool(np.allclose(x_t, np.sqrt(model.schedule.alpha_bar[9])))
            True
        """
        return q_sample(self.schedule, tf.cast(x0, tf.float32), tf.convert_to_tensor(t), tf.cast(noise, tf.float32))

    # -- input checks ------------------------------------------------------------------
    def validate_images(self, x, name: str = "x", on_grid: bool = False) -> np.ndarray:
        """Checks images (shape, finite, in [0, 1]; on the 8-bit grid when ``on_grid``) and returns float32.

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=10)
            >>> model.validate_images(np.zeros((2, 8, 8))).shape  # a channel axis is added
            (2, 8, 8, 1)
            >>> model.validate_images(np.zeros((2, 7, 7, 1)))
            Traceback (most recent call last):
            ...
            InputValidationError: `x` has per-example shape (7, 7, 1), expected (8, 8, 1).
        """
        arr = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if arr.ndim == 3 and self.image_shape[-1] == 1 and tuple(arr.shape[1:]) == self.image_shape[:2]:
            arr = arr[..., None]
        arr = check_array(arr, name, expected_shape=self.image_shape, value_range=(0.0, 1.0), range_hint=_RANGE_HINT)
        if on_grid:
            check_on_grid(arr, 256, name, "The bound's discretized decoder scores 8-bit images k / 255.")
        return arr

    def check_data(self, x, y, names, training: bool):
        """``fit``/``evaluate`` hook: images in [0, 1]; a conditional model also needs ``y``, one
        class id per image (``y`` is refused for an unconditional one: ``data_spec`` has no targets)."""
        x = self.validate_images(x, names[0])
        if self.num_classes is None:
            return x, None
        return x, check_class_labels(y, len(x), self.num_classes, name=names[1])

    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: image batches in [0, 1]; ``(images, labels)`` when conditional."""
        if self.num_classes is None:
            return DataSpec(self.image_shape, (0.0, 1.0), _RANGE_HINT)
        return DataSpec(self.image_shape, (0.0, 1.0), _RANGE_HINT, targets="labels", num_classes=self.num_classes)

    # -- training ----------------------------------------------------------------------
    @property
    def metrics(self):
        return [self.loss_tracker]

    def _noise_and_steps(self, x0):
        """``t`` uniform in ``[0, T)`` and the noise, drawn per example of the global batch."""
        u = batch_noise("uniform", tf.stack([tf.shape(x0)[0], 1]), next_stateless_seed(self.seed_generator))
        t = tf.minimum(tf.cast(tf.floor(u[:, 0] * self.timesteps), tf.int32), self.timesteps - 1)
        return t, batch_noise("normal", tf.shape(x0), next_stateless_seed(self.seed_generator))

    def compute_losses(self, x, t, noise, training: bool = False, labels=None) -> dict[str, tf.Tensor]:
        """The loss of one batch (float32): ``{"loss": mean squared error of the predicted noise}``
        for images ``x`` in [0, 1] noised to steps ``t`` with ``noise`` (+ layer losses).

        A conditional model needs ``labels`` (int ``(batch,)`` in ``[0, K]``, ``K`` the null
        label; no label dropout here: ``train_step`` applies it); an unconditional one takes none.
        """
        if (labels is None) != (self.num_classes is None):
            raise InputValidationError("compute_losses takes labels exactly when the model is class-conditional "
                                       f"(num_classes={self.num_classes}).")
        x0 = 2.0 * tf.cast(x, tf.float32) - 1.0
        eps = self.predict_noise(self.network, q_sample(self.schedule, x0, t, noise), t, training=training,
                                 labels=labels)
        loss = tf.reduce_mean(tf.square(noise - eps))
        if self.losses:  # layer regularizers
            loss = loss + tf.add_n([tf.cast(v, tf.float32) for v in self.losses])
        return {"loss": loss}

    def _unpack(self, data):
        """``(x, labels)`` of a batch: int32 labels of a conditional model, ``None`` otherwise."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.num_classes is None:
            return x, None
        if y is None:
            raise InputValidationError(
                "A class-conditional diffusion model trains on (images, labels): call fit(x, y).")
        return x, tf.reshape(tf.cast(y, tf.int32), [-1])

    def train_step(self, data):
        # Under tf.distribute an empty replica batch becomes one example weighted 0.
        x, labels, batch = nonempty_batch(*self._unpack(data))
        t, noise = self._noise_and_steps(x)  # drawn first: an unconditional model's stream is unchanged
        if labels is not None:  # classifier-free guidance: some examples train the unconditional prediction
            labels = drop_labels(labels, self.label_dropout, self.num_classes, next_stateless_seed(self.seed_generator))
        logs = self.minimize(lambda: self.compute_losses(x, t, noise, training=True, labels=labels), batch)
        self.update_ema()
        return logs

    def test_step(self, data):
        x, labels, batch = nonempty_batch(*self._unpack(data))
        t, noise = self._noise_and_steps(x)
        return self.update_trackers(self.compute_losses(x, t, noise, training=False, labels=labels), batch)

    def update_ema(self) -> None:
        """Moves the EMA network's weights towards the trained network's (after an optimizer step)."""
        if self.ema_network is None:
            return
        k = tf.cast(self.optimizer.iterations, tf.float32)
        rate = 1.0 - tf.minimum(self.ema_decay, (1.0 + k) / (10.0 + k))
        for ema, w in zip(self.ema_network.weights, self.network.weights):
            if "float" in str(ema.dtype):
                ema.assign_sub(tf.cast(rate, ema.dtype) * (ema - tf.cast(w, ema.dtype)))
            else:
                ema.assign(w)


__all__ = ["DEFAULT_SAMPLE_STEPS", "METHODS", "DiffusionModel", "check_sample_steps", "counter_normal"]
