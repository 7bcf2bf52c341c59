"""The :class:`DiffusionModel` (DDPM, Ho et al. 2020; DDIM sampling, Song et al. 2021).

A noise predictor ``eps(x_t, t)`` (the U-Net of :mod:`~keras_ae.models.diffusion.unet`)
learns to undo the forward process ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)``
by the simple loss ``E ||eps - eps(x_t, t)||^2``; images in [0, 1] are scaled to [-1, 1]
inside the model. The model owns:

* training through the shared :class:`~keras_ae.training.Trainer` ``fit``: ``t`` and the
  noise drawn per example of the global batch
  (:func:`~keras_ae.random.batch_noise`), then an EMA copy of the network
  (``ema_network``) moved towards the trained one after every step; sampling uses it;
* ``sample(n, steps=, method="ddim"|"ddpm", eta=, seed=)``: the whole reverse walk is one
  ``tf.while_loop`` in one ``tf.function``; ``sample_naive`` is the same walk as a Python
  loop (the benchmark baseline; same noise, so the same images for a seed);
* ``log_likelihood(x)`` / ``bits_per_dim(x)``: the variational bound of Ho et al. Eq. 5
  with the discretized Gaussian decoder for 8-bit data
  (:func:`~keras_ae.models.diffusion.schedules.variational_bound`), an upper bound on
  ``-log p(x)`` (so ``log_likelihood`` is a lower bound on ``log p(x)``).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.evaluation.likelihood import bits_per_dim
from keras_ae.export.endpoints import MAX_SAMPLE_COUNT, ExportOptions, describe_data, image_endpoints, make_endpoint
from keras_ae.models.autoregressive import counter_uniform
from keras_ae.models.common import (as_image_shape, check_example_size, check_int, check_nonnegative_float,
                                   check_parameter_budget, check_seed)
from keras_ae.models.diffusion.schedules import (SCHEDULES, VARIANCES, NoiseSchedule, check_timesteps, ddim_step,
                                                 q_sample, sampling_plan, variational_bound)
from keras_ae.models.serialization import from_nested_config
from keras_ae.registry import register_family
from keras_ae.validation import check_bool, check_count, check_float, check_model_seed, check_verbose
from keras_ae.training import DataSpec, Trainer
from keras_ae.training.batches import example_count, iterate_batches
from keras_ae.random import batch_noise, batch_seed, next_stateless_seed, wrap_int
from keras_ae.replicas import nonempty_batch
from keras_ae.graph_checks import assert_on_grid
from keras_ae.validation import check_array, check_choice, check_on_grid

METHODS = ("ddim", "ddpm")
# DDIM steps of sample() when none are given: 50 of T = 1000 is Song et al.'s quality / speed middle ground.
DEFAULT_SAMPLE_STEPS = 50
_RANGE_HINT = "Scale 8-bit images to [0, 1] with x.astype('float32') / 255."


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


def counter_normal(shape, seed, index) -> tf.Tensor:
    """Standard normal noise as a pure function of ``(seed, index, position)`` (Box-Muller).

    Built on :func:`~keras_ae.models.autoregressive.counter_uniform`, so it returns the
    same numbers eagerly, in ``tf.function`` and under XLA: the compiled and the Python-loop
    samplers draw identical noise.

    Example:
        >>> z = counter_normal([10_000], 0, 3)
        >>> abs(float(tf.reduce_mean(z))) < 0.05, abs(float(tf.math.reduce_std(z)) - 1) < 0.05
        (True, True)
    """
    index = tf.cast(index, tf.int32)
    u1 = counter_uniform(shape, seed, 2 * index)
    u2 = counter_uniform(shape, seed, 2 * index + 1)
    return tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos(2.0 * math.pi * u2)


@register_family("diffusion", serving_default="sample")
class DiffusionModel(Trainer, keras.Model):
    """A denoising diffusion model of images in [0, 1].

    Args:
        network: Keras model ``[x_t (batch, h, w, c), t (batch,)] -> eps (batch, h, w, c)``
            (``t`` the 0-based timestep as a float).
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
        info: JSON-serializable facts kept with the model.

    Example:
        >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=50)
        >>> model.sample_naive(2, steps=3, seed=0).shape  # untrained: noise-like images
        (2, 8, 8, 1)

        Training (the first ``fit`` traces the U-Net's training step: seconds even for
        8x8 digits, tens of minutes on MNIST on a CPU, so not run here):

        ```python
        (x_train, _), (x_test, _) = keras_ae.load_dataset("mnist", data_dir="../shared/data/mnist10k")
        model = build_diffusion((28, 28, 1))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x_train, epochs=20, batch_size=128)
        images = model.sample(100, steps=50, method="ddim", seed=0)
        bpd = model.bits_per_dim(x_test[:100]).mean()  # the variational bound
        ```
    """

    loss_refusal = "Diffusion models own their loss (the epsilon MSE); don't pass loss= to compile()."

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
        object.__setattr__(self, "info", dict(info or {}))
        object.__setattr__(self, "schedule", NoiseSchedule.make(self.schedule_name, self.timesteps, self.variance))
        self._check_network()
        if ema_decay is not None:  # the EMA copy doubles the weights
            check_parameter_budget(2 * self.network.count_params(), "diffusion model (network and its EMA copy)",
                                   advice="reduce the network's channels or blocks, or pass ema_decay=None")
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.ema_network = self._clone_network() if self.ema_decay is not None else None
        self.loss_tracker = keras.metrics.Mean(name="loss")
        object.__setattr__(self, "_compiled", {})  # compiled samplers and bounds, reused across calls
        self.built = True  # the networks are functional models, built at construction

    def _check_network(self) -> None:
        if len(self.network.inputs) != 2:
            raise InputValidationError(
                f"The noise predictor takes [x_t, t] (two inputs), got {len(self.network.inputs)} input(s).")
        for what, shape in (("input x_t", self.network.inputs[0].shape), ("output", self.network.outputs[0].shape)):
            if tuple(shape[1:]) != self.image_shape:
                raise InputValidationError(
                    f"The noise predictor's {what} has shape {tuple(shape[1:])}, the images {self.image_shape}.")

    def _clone_network(self) -> keras.Model:
        clone = keras.models.clone_model(self.network)
        clone.name = "ema_network"
        clone.set_weights(self.network.get_weights())
        clone.trainable = False
        return clone

    def get_config(self) -> dict:
        config = super().get_config()  # name, trainable, dtype (policy)
        config.update({
            "network": keras.saving.serialize_keras_object(self.network),
            "image_shape": list(self.image_shape),
            "timesteps": self.timesteps,
            "schedule": self.schedule_name,
            "variance": self.variance,
            "ema_decay": self.ema_decay,
            "sample_steps": self.sample_steps,
            "clip_denoised": self.clip_denoised,
            "seed": self.seed,
            "info": self.info,
        })
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return from_nested_config(cls, config, ("network",), custom_objects)

    def build(self, input_shape=None):
        self.built = True

    # -- the network -------------------------------------------------------------------
    @property
    def num_dims(self) -> int:
        """Dimensions ``D`` of one image (for bits/dim)."""
        return int(np.prod(self.image_shape))

    def sampling_network(self, use_ema: bool = True) -> keras.Model:
        """The EMA network (when the model keeps one and ``use_ema``), else the trained one."""
        return self.ema_network if use_ema and self.ema_network is not None else self.network

    @staticmethod
    def predict_noise(network: keras.Model, x_t, t, training: bool = False) -> tf.Tensor:
        """``eps(x_t, t)`` in float32; ``t`` is an int timestep per example."""
        return tf.cast(network([x_t, tf.cast(t, tf.float32)], training=training), tf.float32)

    def call(self, inputs, training: bool = False):
        """The predicted noise of ``[x_t, t]`` (``x_t`` in the model's [-1, 1] scale)."""
        x_t, t = inputs
        return self.predict_noise(self.network, x_t, t, training=training)

    def q_sample(self, x0, t, noise) -> tf.Tensor:
        """The forward process: ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise``, ``x_0`` in [-1, 1].

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=10)
            >>> x_t = model.q_sample(tf.ones((1, 8, 8, 1)), tf.constant([9]), tf.zeros((1, 8, 8, 1)))
            >>> bool(np.allclose(x_t, np.sqrt(model.schedule.alpha_bar[9])))
            True
        """
        return q_sample(self.schedule, tf.cast(x0, tf.float32), tf.convert_to_tensor(t), tf.cast(noise, tf.float32))

    # -- input checks ------------------------------------------------------------------
    def validate_images(self, x, name: str = "x", on_grid: bool = False) -> np.ndarray:
        """Checks images (shape, finite, in [0, 1]; on the 8-bit grid when ``on_grid``) and returns float32.

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=10)
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
        """``fit``/``evaluate`` hook: images only, in [0, 1] (``y`` is refused by ``fit``: ``data_spec``
        has no targets)."""
        return self.validate_images(x, names[0]), None

    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: image batches in [0, 1]."""
        return DataSpec(self.image_shape, (0.0, 1.0), _RANGE_HINT)

    # -- training ----------------------------------------------------------------------
    @property
    def metrics(self):
        return [self.loss_tracker]

    def _noise_and_steps(self, x0):
        """``t`` uniform in ``[0, T)`` and the noise, drawn per example of the global batch."""
        u = batch_noise("uniform", tf.stack([tf.shape(x0)[0], 1]), next_stateless_seed(self.seed_generator))
        t = tf.minimum(tf.cast(tf.floor(u[:, 0] * self.timesteps), tf.int32), self.timesteps - 1)
        return t, batch_noise("normal", tf.shape(x0), next_stateless_seed(self.seed_generator))

    def compute_losses(self, x, t, noise, training: bool = False) -> dict[str, tf.Tensor]:
        """The loss of one batch (float32): ``{"loss": mean squared error of the predicted noise}``
        for images ``x`` in [0, 1] noised to steps ``t`` with ``noise`` (+ layer losses)."""
        x0 = 2.0 * tf.cast(x, tf.float32) - 1.0
        eps = self.predict_noise(self.network, q_sample(self.schedule, x0, t, noise), t, training=training)
        loss = tf.reduce_mean(tf.square(noise - eps))
        if self.losses:  # layer regularizers
            loss = loss + tf.add_n([tf.cast(v, tf.float32) for v in self.losses])
        return {"loss": loss}

    def train_step(self, data):
        # Under tf.distribute an empty replica batch becomes one example weighted 0.
        x, batch = nonempty_batch(keras.utils.unpack_x_y_sample_weight(data)[0])
        t, noise = self._noise_and_steps(x)
        logs = self.minimize(lambda: self.compute_losses(x, t, noise, training=True), batch)
        self.update_ema()
        return logs

    def test_step(self, data):
        x, batch = nonempty_batch(keras.utils.unpack_x_y_sample_weight(data)[0])
        t, noise = self._noise_and_steps(x)
        return self.update_trackers(self.compute_losses(x, t, noise, training=False), batch)

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

    # -- sampling ------------------------------------------------------------------------
    def _plan(self, steps, method: str, eta) -> tuple[int, dict[str, np.ndarray]]:
        steps = self.sample_steps if steps is None else check_int(steps, "steps", minimum=1)
        if steps > self.timesteps:
            raise InputValidationError(
                f"steps={steps} exceeds the model's {self.timesteps} diffusion timesteps; "
                f"use steps <= {self.timesteps}.")
        method = check_choice(method, "method", METHODS)
        if method == "ddpm":
            if eta is not None and float(eta) != 1.0:
                raise InputValidationError(
                    f"eta={eta} applies to method='ddim'; 'ddpm' is ancestral sampling (eta=1).")
            eta = 1.0
        eta = 0.0 if eta is None else check_nonnegative_float(eta, "eta")
        return steps, sampling_plan(self.schedule, steps, eta)

    def _step(self, network, x, i, plan, seed):
        """Step ``i`` of the reverse walk (``plan`` holds float32 tensors); returns ``(x_prev, x0_hat)``."""
        n = tf.shape(x)[0]
        eps = self.predict_noise(network, x, tf.fill([n], plan["t"][i]))
        return ddim_step(x, eps, plan["alpha_bar"][i], plan["alpha_bar_prev"][i], plan["sigma"][i],
                         counter_normal(tf.shape(x), seed, i + 1), clip=self.clip_denoised)

    def _sample_loop(self, network, n, plan, seed):
        x = counter_normal(tf.stack([n, *self.image_shape]), seed, 0)

        def body(i, x):
            return i + 1, self._step(network, x, i, plan, seed)[0]

        x = tf.while_loop(lambda i, _: i < tf.size(plan["t"]), body, (tf.constant(0), x))[1]
        return tf.clip_by_value((x + 1.0) / 2.0, 0.0, 1.0)

    def _compiled_sampler(self, use_ema: bool, jit_compile: bool):
        key = ("sample", use_ema and self.ema_network is not None, bool(jit_compile))
        if key not in self._compiled:
            network = self.sampling_network(use_ema)
            plan_spec = {"t": tf.TensorSpec([None], tf.int32), **{k: tf.TensorSpec([None], tf.float32)
                                                                    for k in ("alpha_bar", "alpha_bar_prev", "sigma")}}
            self._compiled[key] = tf.function(
                lambda n, plan, seed: self._sample_loop(network, n, plan, seed), jit_compile=bool(jit_compile),
                autograph=False,
                input_signature=[tf.TensorSpec((), tf.int32), plan_spec, tf.TensorSpec((), tf.int64)])
        return self._compiled[key]

    @staticmethod
    def _as_tensors(plan: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
        return {k: tf.constant(v, tf.int32 if k == "t" else tf.float32) for k, v in plan.items()}

    def _sampler_seed(self, seed) -> int:
        seed = check_seed(seed)
        if seed is None:
            pair = next_stateless_seed(self.seed_generator).numpy()
            seed = int(pair[0]) * 2**32 + int(pair[1])
        return seed

    @staticmethod
    def _batch_seed(seed: int, batch: int) -> int:
        return batch_seed(seed, batch)

    def sample(self, n: int, steps: int | None = None, method: str = "ddim", eta: float | None = None,
               seed: int | None = 0, batch_size: int = 500, use_ema: bool = True, jit_compile: bool = False,
               verbose: int = 0) -> np.ndarray:
        """Draws ``n`` images by walking the reverse process, the whole walk one compiled loop.

        Args:
            n: Number of images, an int >= 0; walked in batches of ``batch_size``, refused
                when the result would exceed :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            steps: Reverse steps, ``1 <= steps <= T`` (default ``sample_steps``), evenly
                spaced over the ``T`` timesteps.
            method: ``"ddim"`` (Song et al. 2021; ``eta=0``: deterministic given the
                starting noise) or ``"ddpm"`` (ancestral sampling, ``eta=1``).
            eta: DDIM's noise scale, a number >= 0 (``"ddim"`` only; default 0).
            seed: Any int (same seed, same images), or ``None`` for a fresh one from the
                model's random stream.
            batch_size: Images walked in parallel, an int >= 1.
            use_ema: Sample with the EMA weights (when the model keeps them).
            jit_compile: Compile the loop with XLA (same noise, so nearly the same images).
            verbose: 1 shows a progress bar over images.

        Returns:
            float32 images ``(n, h, w, c)`` in [0, 1].

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=20)
            >>> a = model.sample(3, steps=4, seed=1)
            >>> np.array_equal(a, model.sample(3, steps=4, seed=1)), a.shape
            (True, (3, 8, 8, 1))
        """
        n = check_count(n, "n", 4 * self.num_dims)
        steps, plan = self._plan(steps, method, eta)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        seed = self._sampler_seed(seed)
        if n == 0:
            return np.zeros((0, *self.image_shape), np.float32)
        fn, plan = self._compiled_sampler(use_ema, jit_compile), self._as_tensors(plan)
        bar = keras.utils.Progbar(n, verbose=verbose, unit_name="image")
        out = []
        for b, start in enumerate(range(0, n, batch_size)):
            count = min(batch_size, n - start)
            out.append(fn(tf.constant(count, tf.int32), plan, tf.constant(self._batch_seed(seed, b), tf.int64)).numpy())
            bar.add(count)
        return np.concatenate(out)

    def sample_naive(self, n: int, steps: int | None = None, method: str = "ddim", eta: float | None = None,
                     seed: int | None = 0, use_ema: bool = True, compiled_forward: bool = False,
                     return_trajectory: bool = False, verbose: int = 0):
        """The baseline sampler: a Python loop over the steps, calling the network once per step.

        Draws the same noise as :meth:`sample` (for one batch), so it returns the same
        images up to float rounding; kept for benchmarks, tests and trajectory figures.

        Args:
            n, steps, method, eta, seed, use_ema: As for :meth:`sample`; ``n`` is one batch,
                at most 10,000 images (:meth:`sample` draws more).
            compiled_forward: Wrap the network call in ``tf.function`` (the loop stays in Python).
            return_trajectory: Also return the images at every step.
            verbose: 1 shows a progress bar over steps.

        Returns:
            float32 images ``(n, h, w, c)`` in [0, 1]; with ``return_trajectory`` also
            ``(steps + 1, n, h, w, c)``: ``x_T`` (pure noise) first, then ``x_t`` after
            each step, in [0, 1] (clipped).

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=20)
            >>> slow, frames = model.sample_naive(2, steps=4, seed=0, return_trajectory=True)
            >>> np.allclose(slow, model.sample(2, steps=4, seed=0), atol=1e-5), frames.shape
            (True, (5, 2, 8, 8, 1))
        """
        steps, plan = self._plan(steps, method, eta)
        frames = len(plan["t"]) + 1 if return_trajectory else 1
        n = check_count(n, "n", 4 * self.num_dims * frames, minimum=1, maximum=MAX_SAMPLE_COUNT,
                        advice="sample_naive walks one batch; sample() draws more in batches")
        verbose = check_verbose(verbose)
        seed = tf.constant(self._batch_seed(self._sampler_seed(seed), 0), tf.int64)  # batch 0's stream in sample()
        network, plan = self.sampling_network(use_ema), self._as_tensors(plan)
        if compiled_forward:
            network = tf.function(network)
        x = counter_normal(tf.constant([n, *self.image_shape]), seed, 0)
        frames = [x]
        bar = keras.utils.Progbar(len(plan["t"]), verbose=verbose, unit_name="step")
        for i in range(len(plan["t"])):
            x = self._step(network, x, tf.constant(i), plan, seed)[0]
            frames.append(x)
            bar.add(1)
        images = tf.clip_by_value((x + 1.0) / 2.0, 0.0, 1.0).numpy()
        if not return_trajectory:
            return images
        return images, np.clip((np.stack([f.numpy() for f in frames]) + 1.0) / 2.0, 0.0, 1.0)

    # -- the variational bound ------------------------------------------------------------
    def _bound(self, network, x, seed, timesteps=None) -> dict[str, tf.Tensor]:
        """Ho et al.'s Eq. 5 terms of images ``x`` in [0, 1] (nats per image)."""
        x0 = 2.0 * tf.cast(x, tf.float32) - 1.0

        def eps_fn(x_t, t):
            return self.predict_noise(network, x_t, t)

        return variational_bound(self.schedule, eps_fn, x0, seed, decoder="discretized", timesteps=timesteps)

    def _compiled_bound(self, use_ema: bool):
        key = ("bound", use_ema and self.ema_network is not None)
        if key not in self._compiled:
            network = self.sampling_network(use_ema)
            self._compiled[key] = tf.function(
                lambda x, seed, ts: self._bound(network, x, seed, ts), autograph=False,
                input_signature=[tf.TensorSpec((None, *self.image_shape), tf.float32), tf.TensorSpec((), tf.int64),
                                 tf.TensorSpec([None], tf.int32)])
        return self._compiled[key]

    def log_likelihood(self, x, batch_size: int = 100, timesteps: int | None = None, seed: int = 0,
                       use_ema: bool = True, verbose: int = 0, return_terms: bool = False):
        """The variational lower bound on ``log p(x)`` of each 8-bit image, in nats (Ho et al. Eq. 5).

        ``-log_likelihood(x)`` is ``L_T + sum_{t>1} L_{t-1} + L_0`` with the discretized
        Gaussian decoder ``L_0``: an upper bound on the NLL of the 8-bit image (one draw
        of ``x_t`` per term).

        Args:
            x: Images in [0, 1] on the 8-bit grid (``k / 255``), or a ``tf.data.Dataset``
                of them (``x`` or ``(x, y)``; labels ignored), checked batch by batch.
            batch_size: Images per compiled pass, an int >= 1.
            timesteps: ``None`` sums all ``T - 1`` terms ``L_{t-1}`` (``T`` network calls
                per batch); an int ``k`` estimates their sum from ``k`` distinct timesteps
                drawn uniformly per batch (unbiased, ``k + 1`` calls).
            seed: Int seed of the draws of ``x_t`` (and of the timesteps).
            use_ema: Score with the EMA weights (what :meth:`sample` uses).
            verbose: 1 shows a progress bar with the mean bits/dim so far.
            return_terms: Also return the mean of each term ``{"prior", "diffusion", "decoder"}`` (nats).

        Returns:
            float64 array ``(n,)`` (and the terms dict with ``return_terms``).

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=20)
            >>> ll = model.log_likelihood(np.round(x_digits_test[:4] * 255) / 255)
            >>> ll.shape, bool(np.all(ll < 0))
            ((4,), True)
        """
        if not isinstance(x, tf.data.Dataset):
            x = self.validate_images(x, on_grid=True)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        seed = check_seed(seed)
        seed = 0 if seed is None else seed
        if timesteps is not None:
            timesteps = check_int(timesteps, "timesteps", minimum=1, maximum=self.timesteps - 1)
        fn = self._compiled_bound(use_ema)
        rng = np.random.default_rng(wrap_int(seed, 63) % 2**63)
        spec = DataSpec(self.image_shape, (0.0, 1.0), _RANGE_HINT, targets="ignored", levels=256)
        target = example_count(x)
        bar = keras.utils.Progbar(target, verbose=verbose, unit_name="image", stateful_metrics=["bits_per_dim"])
        out, sums, done = [], {"prior": 0.0, "diffusion": 0.0, "decoder": 0.0}, 0
        for b, batch in enumerate(iterate_batches(x, batch_size, spec, "x", where="log_likelihood")):
            if timesteps is None:
                ts = np.arange(1, self.timesteps, dtype=np.int32)
            else:  # k distinct timesteps drawn uniformly: the scaled sum is unbiased
                ts = np.sort(rng.choice(np.arange(1, self.timesteps, dtype=np.int32), timesteps, replace=False))
            terms = fn(tf.cast(batch, tf.float32), tf.constant(self._batch_seed(seed, b), tf.int64), tf.constant(ts))
            out.append(-terms["total"].numpy().astype(np.float64))
            for key in sums:
                sums[key] += float(tf.reduce_sum(terms[key]))
            done += len(out[-1])
            mean_bpd = -float(np.concatenate(out).mean()) / (self.num_dims * math.log(2.0))
            bar.update(done, values=[("bits_per_dim", mean_bpd)], finalize=False if target is None else None)
        if target is None and verbose:
            bar.update(done, values=[("bits_per_dim", mean_bpd if done else float("nan"))], finalize=True)
        ll = np.concatenate(out) if out else np.zeros(0, np.float64)
        if return_terms:
            return ll, {k: v / max(done, 1) for k, v in sums.items()}
        return ll

    def bits_per_dim(self, x, batch_size: int = 100, timesteps: int | None = None, seed: int = 0,
                     use_ema: bool = True, verbose: int = 0) -> np.ndarray:
        """The bound on the NLL of each 8-bit image in bits per dimension (see :meth:`log_likelihood`).

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=20)
            >>> x = np.round(x_digits_test[:4] * 255) / 255
            >>> np.allclose(model.bits_per_dim(x), -model.log_likelihood(x) / (64 * np.log(2)))
            True
        """
        ll = self.log_likelihood(x, batch_size=batch_size, timesteps=timesteps, seed=seed, use_ema=use_ema,
                                 verbose=verbose)
        return bits_per_dim(-ll, self.num_dims)

    # -- serving: the export signatures of the family ----------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``sample`` (``count``, ``seed`` -> images: ``sample_steps`` DDIM steps with the EMA
        weights, the images of ``DiffusionModel.sample(count, seed=seed)``), ``log_likelihood``
        (8-bit images -> the bound ``log_likelihood`` in nats and ``bits_per_dim``, all ``T``
        terms, seed 0) and its uint8 twin.

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> model = build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=20)
            >>> [e.name for e in model.serving_endpoints(ExportOptions())]
            ['sample', 'log_likelihood', 'log_likelihood_uint8']
        """
        network = self.sampling_network(True)
        plan = self._as_tensors(self._plan(self.sample_steps, "ddim", 0.0)[1])
        all_steps = tf.range(1, self.timesteps, dtype=tf.int32)

        def sample(count, seed):
            # Batch 0's stream, as DiffusionModel.sample(n, seed) draws it.
            return {"images": self._sample_loop(network, count, plan, batch_seed(seed, 0))}

        def log_likelihood(images):
            images = assert_on_grid(images, 256, "images")
            total = self._bound(network, images, tf.constant(0, tf.int64), all_steps)["total"]
            return {"log_likelihood": -total, "bits_per_dim": total / (self.num_dims * math.log(2.0))}

        generative = make_endpoint(
            "sample", sample, {"count": tf.TensorSpec((), tf.int32, name="count"),
                               "seed": tf.TensorSpec((), tf.int64, name="seed")},
            f"count, seed -> images ({self.sample_steps} DDIM steps; count <= {MAX_SAMPLE_COUNT})",
            {"count": (0, MAX_SAMPLE_COUNT)})
        functions = [("log_likelihood", log_likelihood, [], "images -> log_likelihood (bound, nats), bits_per_dim")]
        return [generative, *image_endpoints("images", self.image_shape, (0.0, 1.0), options, functions)]

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata."""
        return {"input": describe_data("images", self.image_shape, (0.0, 1.0)), "timesteps": self.timesteps,
                "schedule": self.schedule_name, "variance": self.variance, "sample_steps": self.sample_steps,
                "num_dims": self.num_dims, "ema": self.ema_network is not None, "max_sample_count": MAX_SAMPLE_COUNT}
