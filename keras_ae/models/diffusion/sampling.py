"""``DiffusionSampling``, the reverse walk of :class:`~keras_ae.models.diffusion.model.DiffusionModel`:
``sample`` (the whole walk one compiled ``tf.while_loop``) and ``sample_naive`` (the same walk as a
Python loop), both drawing their noise from :func:`counter_normal`. A class-conditional model's
walk uses classifier-free guidance (:func:`~keras_ae.models.diffusion.guidance.guided_noise`)."""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.export.endpoints import MAX_SAMPLE_COUNT
from keras_ae.models.autoregressive import counter_uniform
from keras_ae.models.common import check_int, check_nonnegative_float
from keras_ae.models.diffusion.guidance import check_guidance, guided_noise
from keras_ae.models.diffusion.solvers import ddim_step, dpm_solver_plan, dpm_solver_step, sampling_plan
from keras_ae.random import batch_seed, sampler_seed
from keras_ae.validation import check_choice, check_class_labels, check_count, check_verbose

METHODS = ("ddim", "ddpm", "dpm++2m")


def counter_normal(shape: tf.Tensor | Sequence[int], seed: int | tf.Tensor, index: int | tf.Tensor) -> tf.Tensor:
    """Standard normal noise as a pure function of ``(seed, index, position)`` (Box-Muller).

    Built on :func:`~keras_ae.models.autoregressive.counter_uniform`, so it returns the
    same numbers eagerly, in ``tf.function`` and under XLA: the compiled and the Python-loop
    samplers draw identical noise.

    Args:
        shape: Output shape (an int32 tensor or a list of ints).
        seed: The seed, an int or an integer tensor.
        index: The draw's index (the samplers use the step number), an int or an integer tensor;
            it takes the uniforms of indices ``2 * index`` and ``2 * index + 1``.

    Returns:
        float32 tensor of ``shape``.

    Example:
        >>> z = counter_normal([10_000], 0, 3)
        >>> abs(float(tf.reduce_mean(z))) < 0.05, abs(float(tf.math.reduce_std(z)) - 1) < 0.05
        (True, True)
    """
    index = tf.cast(index, tf.int32)
    u1 = counter_uniform(shape, seed, 2 * index)
    u2 = counter_uniform(shape, seed, 2 * index + 1)
    return tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos(2.0 * math.pi * u2)


def _is_multistep(plan) -> bool:
    """Whether ``plan`` is DPM-Solver++(2M)'s (:func:`dpm_solver_plan`), whose steps need the previous ``x0``."""
    return "correction" in plan


class DiffusionSampling:
    """Mixin of :class:`~keras_ae.models.diffusion.model.DiffusionModel`: ``sample`` and ``sample_naive``.

    It uses the model's ``predict_noise``, ``sampling_network``, ``schedule``, ``timesteps``,
    ``sample_steps``, ``clip_denoised``, ``ema_network``, ``image_shape``, ``num_dims``,
    ``num_classes``, ``guidance``, ``seed_generator`` and ``_compiled`` cache, and holds no state of its own.

    Example:
        ```python
        (x_train, _), _ = keras_ae.load_dataset("mnist10k")
        model = build_diffusion((28, 28, 1))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(x_train, epochs=20, batch_size=128)
        images = model.sample(16, steps=50, seed=0)  # (16, 28, 28, 1) in [0, 1]
        fast = model.sample(16, steps=10, method="dpm++2m", seed=0)
        ```
    """

    def _plan(self, steps, method: str, eta) -> tuple[int, dict[str, np.ndarray]]:
        """``(steps, plan)``: the per-step arrays of ``method``'s walk (a DDIM plan for "ddim" and "ddpm")."""
        steps = self.sample_steps if steps is None else check_int(steps, "steps", minimum=1)
        if steps > self.timesteps:
            raise InputValidationError(
                f"steps={steps} exceeds the model's {self.timesteps} diffusion timesteps; "
                f"use steps <= {self.timesteps}.")
        method = check_choice(method, "method", METHODS)
        if method == "dpm++2m":
            if eta is not None and check_nonnegative_float(eta, "eta") != 0.0:
                raise InputValidationError(
                    f"eta={eta} applies to method='ddim'; 'dpm++2m' solves the probability-flow ODE "
                    "(deterministic, eta=0): drop eta.")
            return steps, dpm_solver_plan(self.schedule, steps)
        if method == "ddpm":
            if eta is not None and float(eta) != 1.0:
                raise InputValidationError(
                    f"eta={eta} applies to method='ddim'; 'ddpm' is ancestral sampling (eta=1).")
            eta = 1.0
        eta = 0.0 if eta is None else check_nonnegative_float(eta, "eta")
        return steps, sampling_plan(self.schedule, steps, eta)

    def guided_noise(self, network, x_t, t, labels=None, guidance=None) -> tf.Tensor:
        """The noise prediction the sampler uses: ``eps(x_t, t)`` for an unconditional model; for a
        conditional one ``eps_u + w (eps_c - eps_u)`` (``w = guidance``, ``eps_u`` the null label's
        prediction), both halves from one batched network call.

        Args:
            network: The noise predictor (e.g. ``model.sampling_network()``).
            x_t: ``(n, h, w, c)`` in the model's [-1, 1] scale.
            t: int ``(n,)`` timesteps.
            labels: int32 ``(n,)`` class ids (conditional models), else ``None``.
            guidance: The weight ``w`` (a float or float32 scalar tensor; conditional models).

        Returns:
            float32 ``(n, h, w, c)``.
        """
        if labels is None:
            return self.predict_noise(network, x_t, t)
        return guided_noise(network, x_t, tf.cast(t, tf.float32), tf.cast(labels, tf.int32), guidance,
                            self.num_classes)

    def _step(self, network, x, i, plan, seed, x0_prev=None, labels=None, guidance=None):
        """Step ``i`` of the reverse walk (``plan`` holds float32 tensors); returns ``(x_prev, x0_hat)``.

        ``network`` is called as ``network([x_t, t], training=False)`` (guided, with ``labels``, for
        a conditional model); DPM-Solver++(2M) (a plan with a ``"correction"``) also takes the
        previous step's ``x0_hat``.
        """
        n = tf.shape(x)[0]
        eps = self.guided_noise(network, x, tf.fill([n], plan["t"][i]), labels, guidance)
        if _is_multistep(plan):
            return dpm_solver_step(x, eps, plan["alpha_bar"][i], x0_prev, plan["x_scale"][i], plan["x0_scale"][i],
                                   plan["correction"][i], clip=self.clip_denoised)
        return ddim_step(x, eps, plan["alpha_bar"][i], plan["alpha_bar_prev"][i], plan["sigma"][i],
                         counter_normal(tf.shape(x), seed, i + 1), clip=self.clip_denoised)

    def _sample_loop(self, network, n, plan, seed, labels=None, guidance=None):
        x = counter_normal(tf.stack([n, *self.image_shape]), seed, 0)
        if _is_multistep(plan):  # the loop also carries the previous step's x0 prediction

            def body(i, x, x0):
                return (i + 1, *self._step(network, x, i, plan, seed, x0, labels, guidance))

            state = (tf.constant(0), x, tf.zeros_like(x))
        else:

            def body(i, x):
                return i + 1, self._step(network, x, i, plan, seed, None, labels, guidance)[0]

            state = (tf.constant(0), x)
        x = tf.while_loop(lambda i, *_: i < tf.size(plan["t"]), body, state)[1]
        return tf.clip_by_value((x + 1.0) / 2.0, 0.0, 1.0)

    def _compiled_sampler(self, use_ema: bool, jit_compile: bool, plan_keys):
        """The compiled walk of plans with the keys ``plan_keys`` (one function per kind of plan)."""
        plan_keys = tuple(sorted(plan_keys))
        key = ("sample", use_ema and self.ema_network is not None, bool(jit_compile), plan_keys)
        if key not in self._compiled:
            network = self.sampling_network(use_ema)
            plan_spec = {k: tf.TensorSpec([None], tf.int32 if k == "t" else tf.float32) for k in plan_keys}
            signature = [tf.TensorSpec((), tf.int32), plan_spec, tf.TensorSpec((), tf.int64)]
            if self.num_classes is not None:  # labels and the guidance weight are inputs: one trace for all
                signature += [tf.TensorSpec([None], tf.int32), tf.TensorSpec((), tf.float32)]
            self._compiled[key] = tf.function(
                lambda n, plan, seed, *cond: self._sample_loop(network, n, plan, seed, *cond),
                jit_compile=bool(jit_compile), autograph=False, input_signature=signature)
        return self._compiled[key]

    @staticmethod
    def _as_tensors(plan: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
        return {k: tf.constant(v, tf.int32 if k == "t" else tf.float32) for k, v in plan.items()}

    def _sampler_seed(self, seed: int | None) -> int:
        """A validated int seed; ``None`` takes a fresh one from the model's random stream (as the VAE does)."""
        return sampler_seed(seed, self.seed_generator)

    @staticmethod
    def _batch_seed(seed: int, batch: int) -> int:
        return batch_seed(seed, batch)

    def sample(self, n: int, labels=None, guidance: float | None = None, steps: int | None = None,
               method: str = "ddim", eta: float | None = None, seed: int | None = 0, batch_size: int = 500,
               use_ema: bool = True, jit_compile: bool = False, verbose: int = 0) -> np.ndarray:
        """Draws ``n`` images by walking the reverse process, the whole walk one compiled loop.

        Args:
            n: Number of images, an int >= 0; walked in batches of ``batch_size``, refused
                when the result would exceed :data:`~keras_ae.validation.MAX_RESULT_BYTES` (1 GiB).
            labels: Class-conditional models only (required there): one class id for all
                images or one per image (:func:`~keras_ae.validation.check_class_labels`).
            guidance: Classifier-free guidance weight ``w``, a finite float >= 0 (conditional
                models only; default: the model's ``guidance``): ``eps_u + w (eps_c - eps_u)``,
                so 0 samples the unconditional model, 1 the conditional one, more sharpens the class.
            steps: Reverse steps (network calls), ``1 <= steps <= T`` (default
                ``sample_steps``), evenly spaced over the ``T`` timesteps (DDIM, DDPM) or in log-SNR (DPM-Solver++).
            method: ``"ddim"`` (Song et al. 2021; ``eta=0``: deterministic given the
                starting noise), ``"ddpm"`` (ancestral sampling, ``eta=1``) or
                ``"dpm++2m"`` (DPM-Solver++(2M), Lu et al. 2022: a deterministic
                second-order multistep solver of the probability-flow ODE, on
                timesteps evenly spaced in log-SNR; see
                :func:`~keras_ae.models.diffusion.solvers.dpm_solver_plan`).
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
            >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=10)
            >>> a = model.sample(3, steps=4, seed=1)
            >>> np.array_equal(a, model.sample(3, steps=4, seed=1)), a.shape
            (True, (3, 8, 8, 1))
        """
        n = check_count(n, "n", 4 * self.num_dims)
        labels = check_class_labels(labels, n, self.num_classes, name="labels")
        guidance = check_guidance(guidance, self.num_classes, self.guidance)
        steps, plan = self._plan(steps, method, eta)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        verbose = check_verbose(verbose)
        seed = self._sampler_seed(seed)
        if n == 0:
            return np.zeros((0, *self.image_shape), np.float32)
        fn, plan = self._compiled_sampler(use_ema, jit_compile, plan), self._as_tensors(plan)
        bar = keras.utils.Progbar(n, verbose=verbose, unit_name="image")
        out = []
        for b, start in enumerate(range(0, n, batch_size)):
            count = min(batch_size, n - start)
            cond = () if labels is None else (tf.constant(labels[start:start + count]),
                                              tf.constant(guidance, tf.float32))
            out.append(fn(tf.constant(count, tf.int32), plan, tf.constant(self._batch_seed(seed, b), tf.int64),
                          *cond).numpy())
            bar.add(count)
        return np.concatenate(out)

    def sample_naive(self, n: int, labels=None, guidance: float | None = None, steps: int | None = None,
                     method: str = "ddim", eta: float | None = None, seed: int | None = 0, use_ema: bool = True,
                     compiled_forward: bool = False, return_trajectory: bool = False, verbose: int = 0):
        """The baseline sampler: a Python loop over the steps, calling the network once per step.

        Draws the same noise as :meth:`sample` (for one batch), so it returns the same
        images up to float rounding; kept for benchmarks, tests and trajectory figures.

        Args:
            n, labels, guidance, steps, method, eta, seed, use_ema: As for :meth:`sample`; ``n``
                is one batch, at most 10,000 images (:meth:`sample` draws more).
            compiled_forward: Wrap the network call in ``tf.function`` (the loop stays in Python).
            return_trajectory: Also return the images at every step.
            verbose: 1 shows a progress bar over steps.

        Returns:
            float32 images ``(n, h, w, c)`` in [0, 1]; with ``return_trajectory`` also
            ``(steps + 1, n, h, w, c)``: ``x_T`` (pure noise) first, then ``x_t`` after
            each step, in [0, 1] (clipped).

        Example:
            >>> model = build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=10)
            >>> slow, frames = model.sample_naive(2, steps=4, seed=0, return_trajectory=True)
            >>> np.allclose(slow, model.sample(2, steps=4, seed=0), atol=1e-5), frames.shape
            (True, (5, 2, 8, 8, 1))
        """
        steps, plan = self._plan(steps, method, eta)
        frames = len(plan["t"]) + 1 if return_trajectory else 1
        n = check_count(n, "n", 4 * self.num_dims * frames, minimum=1, maximum=MAX_SAMPLE_COUNT,
                        advice="sample_naive walks one batch; sample() draws more in batches")
        labels = check_class_labels(labels, n, self.num_classes, name="labels")
        guidance = check_guidance(guidance, self.num_classes, self.guidance)
        labels = None if labels is None else tf.constant(labels)
        verbose = check_verbose(verbose)
        seed = tf.constant(self._batch_seed(self._sampler_seed(seed), 0), tf.int64)  # batch 0's stream in sample()
        network, plan = self.sampling_network(use_ema), self._as_tensors(plan)
        if compiled_forward:
            network = tf.function(network)
        x = counter_normal(tf.constant([n, *self.image_shape]), seed, 0)
        x0 = tf.zeros_like(x)
        frames = [x]
        bar = keras.utils.Progbar(len(plan["t"]), verbose=verbose, unit_name="step")
        for i in range(len(plan["t"])):
            x, x0 = self._step(network, x, tf.constant(i), plan, seed, x0, labels, guidance)
            frames.append(x)
            bar.add(1)
        images = tf.clip_by_value((x + 1.0) / 2.0, 0.0, 1.0).numpy()
        if not return_trajectory:
            return images
        return images, np.clip((np.stack([f.numpy() for f in frames]) + 1.0) / 2.0, 0.0, 1.0)
