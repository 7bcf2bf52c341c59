"""Time to quality: how soon keras_ae's defaults reach the keras.io recipe's best test score.

For each family and seed, in one process, two sides are seeded (``keras.utils.set_random_seed``)
and trained one after the other under the same budget of training seconds:

* **keras.io**: that family's keras.io recipe, written the keras.io way (its architecture,
  training loop and hyper-parameters from ``recipes/keras_io_reference.py``; ``compile(...)``,
  ``fit(x, y, batch_size=..., shuffle=True)``);
* **keras_ae**: the builder with its defaults, ``model.compile()`` and ``fit`` with only the
  data and the batch size of the keras_ae recipe (the PixelCNN: ``fit``'s default, 32;
  :func:`keras_ae_side`; change defaults in the package and run this again). A model whose
  default optimizer averages its weights (the VAE) is scored with the averages.

:class:`QualityClock` counts training wall time only (scoring excluded), scores the test split
every few epochs and ends ``fit`` once the budget is spent. Per family and seed the table
gives the keras.io side's best score and when it was first reached, when keras_ae first
reached a score at least as good, the ratio of the two times, both final scores and "pass"
(ratio >= 2 and keras_ae's final score at least as good as keras.io's final score).

Per family: the keras.io recipe; the keras_ae side; the measure on the test split.

* ``dense``: Sequential 784-128-64-32 AE, Adam, BCE, batch 256; ``build_dense_ae``, batch 256;
  squared error per image (lower).
* ``conv_denoising``: its own conv AE, noise std 0.5 added once, BCE, batch 128; ``build_denoising_ae``
  (fresh noise std 0.5), batch 64; PSNR (dB) on a fixed noisy test set (higher).
* ``vae``: ``PlainVAE`` 784-200-200-50 tanh, grey targets, batch 128; ``build_vae(dynamic_binarization=True)``,
  batch 100; negative ELBO (nats), 10 samples (lower).
* ``dcgan``: ``PlainGAN``, Adam 1e-4, label noise 0.05, batch 128; ``build_dcgan``, batch 64; FCD of 2,000
  samples vs the test split (lower).
* ``pixelcnn``: its own PixelCNN 128x5, Adam 5e-4, data binarized once, batch 128; gated
  ``build_pixelcnn(dynamic_binarization=True)`` (32x5), ``fit``'s default batch (32); NLL (nats/image) (lower).
* ``vqvae``: its VQ-VAE (16-d codes, 128 codewords), Adam 1e-3, batch 128, then its PixelCNN prior over the
  code maps; ``build_vqvae``, batch 128, then keras_ae's prior; squared error per image (lower), and each
  prior's test code-map NLL (nats) after :data:`PRIOR_BUDGET` seconds.
* ``diffusion``: its DDIM (one channel, padded to 32x32), AdamW, batch 64, weights averaged at 0.999;
  ``build_diffusion``, batch 64; FCD of 2,000 20-step DDIM samples vs the test split (lower).

The VAE can also be raced under other calls (``--vae-protocol``, :data:`VAE_PROTOCOLS`; the same
protocol for both sides, the keras_ae side still the builder's defaults with ``compile()``):

* ``race`` (the default): as above, one long ``fit``, scored every 2 epochs with 10 samples;
* ``batch128``: both sides at batch 128 (keras_ae's default learning rate follows the batch);
* ``fit5``: ``fit(x, epochs=5, batch_size=128)`` called again and again, as a user copying the
  keras.io example would, scored after each call; each call's whole wall time counts as training;
* ``one_sample``: as ``race``, the test ELBO scored with one sample of z per image instead of 10.

Outputs in ``--out``: ``results.json`` (every scoring of every race) and one PNG of curves per
family at the end, and ``partial.json``, rewritten after every race, so that a run of several
hours that is stopped keeps the races it finished.

Usage:
    python recipes/time_to_quality.py                              # 7 families x 2 seeds (about 2 hours on 2 cores)
    python recipes/time_to_quality.py --families dense vae --seeds 0
    python recipes/time_to_quality.py --budget-scale 2 --out runs/ttq_long
    python recipes/time_to_quality.py --quick                      # digits, a few seconds per side: smoke run
    python recipes/time_to_quality.py --families vae --vae-protocol fit5 --out runs/ttq_vae_fit5
    python recipes/benchmark.py --sections quality                 # the same race, into BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np
import tensorflow as tf

from keras_ae.atomic import write_text_atomically
from keras_ae.data import binarize, corrupt
from keras_ae.errors import InputValidationError
from keras_ae.evaluation.reconstruction import psnr, squared_error_per_example
from keras_ae.layers.vector_quantizer import perplexity
from keras_ae.experiment import format_table, load_recipe_data, recipe_parser, write_results
from keras_ae.training import ema_weights
from keras_ae.validation import check_choice, check_int

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling keras_io_reference module
from keras_io_reference import (KERAS_IO_RECIPES, compile_keras_io, keras_io_denoiser,  # noqa: E402
                                keras_io_pixelcnn, keras_io_vqvae, keras_io_vqvae_prior, plain_dcgan,
                                plain_dense_ae, plain_vae)
from keras_io_ddim import keras_io_ddim  # noqa: E402

FAMILIES = ("dense", "conv_denoising", "vae", "dcgan", "pixelcnn", "vqvae", "diffusion")
SIDES = ("keras.io", "keras_ae")
# Seconds of training per side (--budget-scale multiplies them); BENCHMARKS.md says which keras.io sides flatten
# within them.
BUDGETS = {"dense": 60.0, "conv_denoising": 90.0, "vae": 90.0, "dcgan": 180.0, "pixelcnn": 180.0, "vqvae": 600.0,
           "diffusion": 1200.0}
QUICK_BUDGETS = {"dense": 2.0, "conv_denoising": 3.0, "vae": 3.0, "dcgan": 4.0, "pixelcnn": 4.0, "vqvae": 3.0,
                 "diffusion": 4.0}
# Seconds of training of each side's PixelCNN prior over its code maps, after the VQ-VAE race.
PRIOR_BUDGET, QUICK_PRIOR_BUDGET = 120.0, 1.0
# Score every N epochs. An epoch of 8,000 images takes about 0.3-1 s for the dense AE and the
# VAE, so scoring them every epoch would cost about as much as training; the conv, GAN and
# PixelCNN epochs take several to 100+ seconds, so they are scored after each one.
EVERY = {"dense": 2, "conv_denoising": 1, "vae": 2, "dcgan": 1, "pixelcnn": 1, "vqvae": 1, "diffusion": 2}
# The diffusion models are scored every second epoch: 2,000 samples of 20 steps cost about as
# much as an epoch of training.
# The batch size of keras_ae's own recipe of each family (what a user copying it passes);
# the PixelCNN gets ``fit``'s default (Keras' 32), what its docstring example uses: the
# recipe's 64 (chosen for its long runs) is slower to quality in the first epochs
# (32 filters x 5 blocks, seed 0: 103.8 vs 101.4 nats after one epoch, 100.9 vs 97.6 after 2.5).
KERAS_AE_BATCH = {"dense": 256,          # recipes/deep_ae.py
                  "conv_denoising": 64,  # recipes/denoising.py (mnist)
                  "vae": 100,            # recipes/vae.py
                  "dcgan": 64,           # recipes/gan.py
                  "pixelcnn": 32,        # fit's default (recipes/pixelcnn.py: 64)
                  "vqvae": 128,          # recipes/vqvae.py
                  "diffusion": 64}       # recipes/diffusion.py
MAX_EPOCHS = 1_000_000  # "train until told to stop": the budget ends every race
NOISE_STD = 0.5
ELBO_SAMPLES = 10
FCD_SAMPLES = 2000
SCORE_BATCH = 500


@dataclass(frozen=True)
class VAEProtocol:
    """How both sides of the VAE race call ``fit`` and how the test ELBO is scored.

    Attributes:
        batch_size: Both sides' batch size (``None``: each side its own, keras.io 128 / keras_ae 100).
        epochs_per_call: ``fit(epochs=...)`` of each of repeated calls, scored after each
            (``None``: one long ``fit`` scored every :data:`EVERY` epochs).
        elbo_samples: Samples of z per test image in the scored ELBO.
    """

    batch_size: int | None = None
    epochs_per_call: int | None = None
    elbo_samples: int = ELBO_SAMPLES


VAE_PROTOCOLS = {
    "race": VAEProtocol(),
    "batch128": VAEProtocol(batch_size=128),
    "fit5": VAEProtocol(batch_size=128, epochs_per_call=5),
    "one_sample": VAEProtocol(elbo_samples=1),
}


@dataclass(frozen=True)
class Measure:
    """A family's test measure: its name and whether a higher value is better."""

    name: str
    higher_is_better: bool

    def better_or_equal(self, a: float, b: float) -> bool:
        """Whether score ``a`` is at least as good as ``b`` (``False`` if either is NaN)."""
        if math.isnan(a) or math.isnan(b):
            return False
        return a >= b if self.higher_is_better else a <= b


MEASURES = {
    "dense": Measure("squared error per image", higher_is_better=False),
    "conv_denoising": Measure("PSNR (dB), noise std 0.5", higher_is_better=True),
    "vae": Measure("negative ELBO (nats)", higher_is_better=False),
    "dcgan": Measure("FCD of samples vs test", higher_is_better=False),
    "pixelcnn": Measure("NLL (nats/image)", higher_is_better=False),
    "vqvae": Measure("squared error per image", higher_is_better=False),
    "diffusion": Measure("FCD of 20-step DDIM samples vs test", higher_is_better=False),
}
DIFFUSION_STEPS = 20  # both sides' deterministic DDIM sampler, scored


# -- the clock -----------------------------------------------------------------------------------
class QualityClock(keras.callbacks.Callback):
    """Counts training wall time only, scores the model every few epochs, stops at the budget.

    Training time runs from ``on_epoch_begin`` to ``on_epoch_end`` (``time.perf_counter``);
    scoring happens after the epoch's time is taken, so it is not counted. The score is
    recorded every ``every_epochs`` epochs and at the end of training. Once the training
    time reaches ``budget_seconds`` (checked after every training step and every epoch),
    ``model.stop_training`` is set. Keras reports steps once per execution, so a model with
    ``steps_per_execution=64`` (keras_ae's default) may overrun the budget by up to 64 steps;
    :attr:`train_seconds` is the time actually trained.

    For ``fit`` called again and again (:func:`fit_in_calls`), :meth:`begin_call` and
    :meth:`end_call` around each call time the whole call instead (set-up, every epoch, the
    end of ``fit``), count its epochs and score after it; the epoch hooks then only count
    epochs and stop the call once the budget is spent.

    Args:
        score_fn: No-argument function returning the model's current test score.
        budget_seconds: Training seconds after which training stops (> 0).
        every_epochs: Score every this many epochs (>= 1).

    Attributes:
        curve: ``(train_seconds, epoch, score)`` of every scoring, in order.
        train_seconds: Training time so far.
        score_seconds: Time spent scoring (not in ``train_seconds``).

    Example:
        >>> clock = QualityClock(lambda: float(model.evaluate(x, x, verbose=0)), budget_seconds=5)
        >>> model.fit(x, x, epochs=1_000_000, callbacks=[clock], verbose=0)  # doctest: +SKIP
        >>> clock.curve[-1]  # doctest: +SKIP
        (5.01, 41, 0.0712)
    """

    # The batch hook only reads the clock and sets a flag: Keras may run it on its callback
    # thread, so a fit with this clock dispatches its steps exactly as a fit without it.
    async_safe = True

    def __init__(self, score_fn: Callable[[], float], budget_seconds: float, every_epochs: int = 1):
        super().__init__()
        if not callable(score_fn):
            raise InputValidationError(f"score_fn must be a function returning the score, got {score_fn!r}.")
        if not isinstance(budget_seconds, (int, float)) or not budget_seconds > 0 or math.isinf(budget_seconds):
            raise InputValidationError(f"budget_seconds must be a positive number of seconds, got {budget_seconds!r}.")
        if isinstance(every_epochs, bool) or not isinstance(every_epochs, int) or every_epochs < 1:
            raise InputValidationError(f"every_epochs must be an integer >= 1, got {every_epochs!r}.")
        self.score_fn, self.budget_seconds, self.every_epochs = score_fn, float(budget_seconds), every_epochs
        self.curve: list[tuple[float, int, float]] = []
        self.train_seconds = 0.0
        self.score_seconds = 0.0
        self.epochs = 0
        self._epoch_start: float | None = None  # start of the timed stretch: an epoch, or a whole call
        self._in_call = False

    @property
    def spent(self) -> bool:
        """Whether the budget of training seconds is used up."""
        return self.train_seconds >= self.budget_seconds

    def begin_call(self) -> None:
        """Starts timing one whole ``fit`` call (:func:`fit_in_calls`)."""
        self._in_call = True
        self._epoch_start = time.perf_counter()

    def end_call(self) -> float:
        """Ends the call's timing, adds it to :attr:`train_seconds` and scores the model; returns the score."""
        self.train_seconds += time.perf_counter() - self._epoch_start
        self._epoch_start, self._in_call = None, False
        return self.score()

    def on_epoch_begin(self, epoch, logs=None):
        if not self._in_call:
            self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        start = self._epoch_start  # read once: on Keras' callback thread the epoch may end meanwhile
        if start is not None and self.train_seconds + time.perf_counter() - start >= self.budget_seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1
        if self._in_call:  # the call's end times and scores it
            if self.train_seconds + time.perf_counter() - self._epoch_start >= self.budget_seconds:
                self.model.stop_training = True
            return
        self.train_seconds += time.perf_counter() - self._epoch_start
        self._epoch_start = None
        if self.spent:
            self.model.stop_training = True
        if self.spent or self.epochs % self.every_epochs == 0:
            self.score()

    def on_train_end(self, logs=None):
        if not self._in_call and self.epochs and (not self.curve or self.curve[-1][1] != self.epochs):
            self.score()  # the final score, when fit ended between scoring epochs

    def score(self) -> float:
        """Scores the model now and appends ``(train_seconds, epoch, score)`` to :attr:`curve`.

        A model whose optimizer averages its weights (``use_ema``) is scored with the
        averages: what ``fit`` would leave in it if it stopped here.
        """
        start = time.perf_counter()
        with ema_weights(self.model):  # a no-op without averages (or without a model)
            value = float(self.score_fn())
        self.score_seconds += time.perf_counter() - start
        self.curve.append((self.train_seconds, self.epochs, value))
        return value


def fit_in_calls(model: keras.Model, fit_args: tuple, fit_kwargs: dict[str, Any], clock: QualityClock,
                 epochs_per_call: int) -> None:
    """``model.fit(*fit_args, epochs=epochs_per_call, **fit_kwargs)`` again and again until ``clock``'s budget is spent.

    What a user copying the keras.io examples does (``fit(x, epochs=5)`` in a loop, looking at
    the test score after each call). Each call's wall time counts as training; the model is
    scored after each call (:meth:`QualityClock.begin_call` / :meth:`QualityClock.end_call`).
    ``clock`` is added to ``fit_kwargs``' callbacks.

    Example:
        >>> clock = QualityClock(lambda: float(model.evaluate(x, x, verbose=0)), budget_seconds=5)
        >>> fit_in_calls(model, (x, x), {"batch_size": 128}, clock, epochs_per_call=5)  # doctest: +SKIP
        >>> [epoch for _, epoch, _ in clock.curve][:3]  # doctest: +SKIP
        [5, 10, 15]
    """
    epochs_per_call = check_int(epochs_per_call, "epochs_per_call", minimum=1)
    while not clock.spent:
        clock.begin_call()
        callbacks = [*fit_kwargs.get("callbacks", ()), clock]
        model.fit(*fit_args, **{**fit_kwargs, "epochs": epochs_per_call, "callbacks": callbacks, "verbose": 0})
        clock.end_call()


# -- comparing two curves ----------------------------------------------------------------------------
Curve = Sequence[tuple[float, int, float]]  # (train_seconds, epoch, score) of every scoring


def best_point(curve: Curve, measure: Measure) -> tuple[float, float | None]:
    """The best score of a curve and the training time at which it was first reached.

    NaN scores (a diverged model) never count. Returns ``(nan, None)`` for a curve without a
    finite score.

    Example:
        >>> best_point([(1.0, 1, 30.0), (2.0, 2, 25.0), (3.0, 3, 25.0)], MEASURES["dense"])
        (25.0, 2.0)
    """
    best, at = math.nan, None
    for seconds, _, score in curve:
        if math.isnan(score):
            continue
        if at is None or (score > best if measure.higher_is_better else score < best):
            best, at = score, seconds
    return best, at


def first_reach(curve: Curve, target: float, measure: Measure) -> float | None:
    """Training time at which the curve first scores at least as well as ``target`` (``None``: never).

    Example:
        >>> first_reach([(1.0, 1, 18.0), (2.0, 2, 21.0)], 20.0, MEASURES["conv_denoising"])
        2.0
    """
    for seconds, _, score in curve:
        if measure.better_or_equal(score, target):
            return seconds
    return None


def time_to_quality(keras_io_curve: Curve, keras_ae_curve: Curve, measure: Measure) -> dict[str, Any]:
    """How soon the keras_ae curve reaches the keras.io curve's best score, and the verdict.

    Args:
        keras_io_curve: ``(train_seconds, epoch, score)`` of every scoring of the keras.io side.
        keras_ae_curve: The same for keras_ae.
        measure: The family's :class:`Measure` (direction of "better").

    Returns:
        ``keras.io best``, ``keras.io best at (s)`` (first time reached), ``keras_ae reaches
        at (s)`` (``None``: never), ``ratio`` (the first time over the second; ``None`` when
        keras_ae never gets there), both final scores and ``pass``: ratio >= 2 and keras_ae's
        final score at least as good as keras.io's.

    Example:
        >>> io = [(10.0, 1, 120.0), (40.0, 4, 110.0), (90.0, 9, 111.0)]
        >>> ae = [(10.0, 2, 112.0), (20.0, 4, 109.5), (90.0, 18, 105.0)]
        >>> r = time_to_quality(io, ae, MEASURES["vae"])
        >>> r["keras.io best"], r["keras_ae reaches at (s)"], r["ratio"], r["pass"]
        (110.0, 20.0, 2.0, True)
    """
    for name, curve in (("keras_io_curve", keras_io_curve), ("keras_ae_curve", keras_ae_curve)):
        if not curve:
            raise InputValidationError(f"{name} is empty: score each side at least once (QualityClock.curve).")
    best, best_at = best_point(keras_io_curve, measure)
    reach = first_reach(keras_ae_curve, best, measure)
    ratio = None if reach is None or best_at is None else (math.inf if reach == 0 else best_at / reach)
    io_final, ae_final = float(keras_io_curve[-1][2]), float(keras_ae_curve[-1][2])
    return {"keras.io best": best, "keras.io best at (s)": best_at, "keras_ae reaches at (s)": reach,
            "ratio": ratio, "keras.io final": io_final, "keras_ae final": ae_final,
            "pass": bool(ratio is not None and ratio >= 2 and measure.better_or_equal(ae_final, io_final))}


# -- scoring (the same code for both sides) ----------------------------------------------------------
def _batches(x: np.ndarray, size: int = SCORE_BATCH):
    for i in range(0, len(x), size):
        yield i, tf.constant(x[i:i + size])


def forward(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """``model(x, training=False)`` in batches, as one float32 array (no ``predict`` tracing)."""
    return np.concatenate([np.asarray(model(b, training=False), np.float32) for _, b in _batches(x)])


def negative_elbo(posterior: Callable, logits: Callable, x: np.ndarray, samples: int = ELBO_SAMPLES,
                  seed: int = 0) -> float:
    """Mean negative ELBO in nats per image: analytic KL to N(0, I) minus a Bernoulli log-likelihood.

    Args:
        posterior: ``x -> (mean, stddev)`` of the diagonal Gaussian q(z|x).
        logits: ``z (m, latent) -> Bernoulli logits (m, *image_shape)``.
        x: Binary images.
        samples: Monte Carlo samples of z per image for the likelihood term.
        seed: Seed of those samples (the same draws for every model and every scoring).

    Example:
        >>> negative_elbo(lambda x: (tf.zeros((len(x), 2)), tf.ones((len(x), 2))),
        ...               lambda z: tf.zeros((len(z), 4)), np.ones((3, 4), np.float32))  # 4 log 2, KL 0
        2.772588...
    """
    total = 0.0
    for i, xb in _batches(np.asarray(x, np.float32)):
        mean, std = (tf.cast(t, tf.float32) for t in posterior(xb))
        kl = 0.5 * tf.reduce_sum(tf.square(mean) + tf.square(std) - 1.0 - 2.0 * tf.math.log(std), axis=-1)
        eps = tf.random.stateless_normal((samples, *mean.shape), seed=[seed, i])
        z = tf.reshape(mean + std * eps, (-1, mean.shape[-1]))
        out = tf.reshape(tf.cast(logits(z), tf.float32), (samples, len(xb), -1))
        flat = tf.reshape(xb, (1, len(xb), -1))
        log_px = tf.reduce_mean(tf.reduce_sum(flat * out - tf.nn.softplus(out), axis=-1), axis=0)
        total += float(tf.reduce_sum(kl - log_px))
    return total / len(x)


def bernoulli_nll(logits: Callable, x: np.ndarray) -> float:
    """Mean of the per-image sum of per-pixel binary cross-entropies, in nats (``logits``: ``x -> logits``).

    Example:
        >>> bernoulli_nll(lambda x: tf.zeros_like(x), np.ones((2, 3), np.float32))  # 3 pixels at p = 1/2
        2.0794415...
    """
    total = 0.0
    for _, xb in _batches(np.asarray(x, np.float32)):
        out = tf.cast(logits(xb), tf.float32)
        total += float(tf.reduce_sum(tf.nn.softplus(out) - xb * out))
    return total / len(x)


def logits_of_probabilities(p) -> tf.Tensor:
    """Logits of sigmoid outputs, clipped as Keras' ``binary_crossentropy`` clips them (1e-7).

    ``softplus(l) - x l`` of these logits equals ``-x log p - (1 - x) log(1 - p)`` of the
    clipped probabilities: the loss the keras.io model trains on.
    """
    eps = keras.config.epsilon()
    p = tf.clip_by_value(tf.cast(p, tf.float32), eps, 1.0 - eps)
    return tf.math.log(p) - tf.math.log1p(-p)


class FrechetScorer:
    """Frechet classifier distance of a generator's samples to the test split's features.

    The test features are computed once; the latent draws are the same for every call and
    for both sides (NumPy ``default_rng(seed)``, as ``GAN.sample`` draws them).
    """

    def __init__(self, extractor, x_test: np.ndarray, n_samples: int = FCD_SAMPLES, seed: int = 0):
        self.extractor, self.n_samples, self.seed = extractor, n_samples, seed
        self.reference = extractor.predict(x_test, batch_size=SCORE_BATCH)[0]

    def latents(self, latent_dim: int) -> np.ndarray:
        """The fixed latent draws ``(n_samples, latent_dim)``."""
        return np.random.default_rng(self.seed).standard_normal((self.n_samples, latent_dim)).astype(np.float32)

    def __call__(self, images: np.ndarray) -> float:
        from keras_ae.evaluation.sample_quality import frechet_distance

        features = self.extractor.predict(np.clip(images, 0.0, 1.0), batch_size=SCORE_BATCH)[0]
        return float(frechet_distance(features, self.reference))


@dataclass
class ScoringData:
    """The test split in every form a family scores on, and the FCD scorer (built on demand)."""

    x: np.ndarray
    noisy: np.ndarray
    binary: np.ndarray
    fcd: FrechetScorer | None = None


def make_test_data(x_test: np.ndarray) -> ScoringData:
    """The fixed noisy (std 0.5, seed 0, clipped) and binarized (seed 0) test sets."""
    return ScoringData(x_test, corrupt(x_test, "gaussian", NOISE_STD, seed=0), binarize(x_test, seed=0))


def scorer(family: str, side: str, model: keras.Model, test: ScoringData,
           elbo_samples: int = ELBO_SAMPLES) -> Callable[[], float]:
    """The no-argument score function of one side's model (the family's measure on the test split).

    Args:
        family: One of :data:`FAMILIES`.
        side: ``"keras.io"`` or ``"keras_ae"`` (how to reach the model's encoder, logits, samples).
        model: That side's model.
        test: The test split (:func:`make_test_data`; ``test.fcd`` set for ``"dcgan"``).
        elbo_samples: Samples of z per image in the VAE's ELBO.

    Returns:
        A function returning the current score (:data:`MEASURES` says which way is better).

    Example:
        >>> model, _ = keras_ae_side("dense", (8, 8, 1), seed=0)
        >>> score = scorer("dense", "keras_ae", model, make_test_data(x_digits[:16]))
        >>> 0 < score() < 64  # squared error of 64 pixels in [0, 1]
        True
    """
    if family == "dense":
        return lambda: float(squared_error_per_example(test.x, forward(model, test.x)).mean())
    if family == "conv_denoising":
        return lambda: float(psnr(test.x, forward(model, test.noisy)).mean())
    if family == "vae":
        if side == "keras_ae":
            return lambda: negative_elbo(model.posterior_params, model.decoder_output, test.binary, elbo_samples)
        latent = model.latent_dim

        def posterior(x):  # the keras.io encoder's [z_mean, z_log_var]
            params = model.encoder(x, training=False)
            return params[:, :latent], tf.exp(0.5 * params[:, latent:])

        return lambda: negative_elbo(posterior, lambda z: model.decoder(z, training=False), test.binary,
                                     elbo_samples)
    if family == "dcgan":
        if side == "keras_ae":
            return lambda: test.fcd(model.sample(test.fcd.n_samples, seed=test.fcd.seed, unit_range=True, verbose=0))
        return lambda: test.fcd(forward(model.generator, test.fcd.latents(model.latent_dim)))
    if family == "pixelcnn":
        if side == "keras_ae":
            return lambda: bernoulli_nll(lambda x: model.network(x, training=False), test.binary)
        return lambda: bernoulli_nll(lambda x: logits_of_probabilities(model(x, training=False)), test.binary)
    if family == "diffusion":  # the same deterministic DDIM walk from the same seed's noise, both sides
        if side == "keras_ae":
            return lambda: test.fcd(model.sample(test.fcd.n_samples, steps=DIFFUSION_STEPS, method="ddim",
                                                 seed=test.fcd.seed))
        return lambda: test.fcd(model.generate(test.fcd.n_samples, DIFFUSION_STEPS, seed=test.fcd.seed))
    if family == "vqvae":  # both sides' reconstruct take and give images in [0, 1]
        return lambda: float(squared_error_per_example(test.x, np.clip(model.reconstruct(test.x), 0.0, 1.0)).mean())
    return check_family(family)  # not a family: raises, naming them


# -- the two sides -----------------------------------------------------------------------------------
def keras_ae_side(family: str, shape: tuple, seed: int) -> tuple[keras.Model, dict[str, Any]]:
    """keras_ae's side of a race: the builder with its defaults, ``compile()``, and ``fit``'s arguments.

    Only what a user of the family's recipe passes: the batch size of that recipe
    (:data:`KERAS_AE_BATCH`), the noise of the denoising recipe, the VAE recipe's model and
    dynamic binarization, the seed, and for the VQ-VAE ``likelihood="gaussian"``: the
    reconstruction of grey images is the task (the default Bernoulli VQ-VAE refuses grey
    images and its error names that argument). Change defaults in the package and race again.

    Args:
        family: One of :data:`FAMILIES`.
        shape: Shape of one image.
        seed: Seed of the model's own random streams.

    Returns:
        ``(compiled model, fit keyword arguments)``; the data is the grey training images.
        ``epochs`` in the keyword arguments (absent: the race's huge number) would be what
        a user passes, for defaults that depend on it (learning-rate schedules).

    Example:
        >>> model, fit_kwargs = keras_ae_side("dense", (8, 8, 1), seed=0)
        >>> fit_kwargs
        {'batch_size': 256}
    """
    from keras_ae.models.dense import build_dense_ae
    from keras_ae.models.denoising import build_denoising_ae
    from keras_ae.models.diffusion import build_diffusion
    from keras_ae.models.gan import build_dcgan
    from keras_ae.models.pixelcnn import build_pixelcnn
    from keras_ae.models.vae import build_vae
    from keras_ae.models.vqvae import build_vqvae

    check_family(family)
    builders = {
        "dense": lambda: build_dense_ae(shape),
        "conv_denoising": lambda: build_denoising_ae(shape, noise="gaussian", level=NOISE_STD),
        "vae": lambda: build_vae(shape, hidden=(200, 200), latent_dim=50, dynamic_binarization=True, seed=seed),
        "dcgan": lambda: build_dcgan(shape, seed=seed),
        "pixelcnn": lambda: build_pixelcnn(shape, dynamic_binarization=True, seed=seed),
        "vqvae": lambda: build_vqvae(shape, likelihood="gaussian", seed=seed),
        "diffusion": lambda: build_diffusion(shape, seed=seed),
    }
    model = builders[family]()
    model.compile()
    return model, {"batch_size": KERAS_AE_BATCH[family]}


def keras_io_side(family: str, x_train: np.ndarray, seed: int) -> tuple[keras.Model, tuple, dict[str, Any]]:
    """The keras.io recipe's side of a race: its model, compiled its way, and its ``fit`` arguments.

    Settings from ``KERAS_IO_RECIPES`` (``recipes/keras_io_reference.py``): the dense AE with
    ``compile("adam", "binary_crossentropy")``; the denoising example's own network on inputs
    noised once up front; the keras.io VAE ``train_step`` on grey targets; the keras.io DCGAN
    ``train_step`` with Adam(1e-4); the keras.io PixelCNN on images binarized once (seed 0);
    the keras.io VQ-VAE trainer on images shifted to [-0.5, 0.5]; the keras.io DDIM model
    (``recipes/keras_io_ddim.py``) on images padded to 32x32, its normalizer adapted.

    Args:
        family: One of :data:`FAMILIES`.
        x_train: Grey training images in [0, 1].
        seed: Seed of the once-only training noise of the denoiser.

    Returns:
        ``(compiled model, fit positional arguments, fit keyword arguments)``.

    Example:
        >>> model, args, kwargs = keras_io_side("dense", x_digits, seed=0)
        >>> len(args), kwargs
        (2, {'batch_size': 256, 'shuffle': True})
    """
    check_family(family)
    shape = x_train.shape[1:]
    recipe = KERAS_IO_RECIPES[family]
    fit_kwargs = {"batch_size": recipe["batch_size"], "shuffle": True}
    adam = keras.optimizers.Adam(recipe["learning_rate"])
    if family == "dense":
        model = compile_keras_io(plain_dense_ae(shape, (128, 64), 32), recipe["loss"])
        return model, (x_train, x_train), fit_kwargs
    if family == "conv_denoising":
        model = keras_io_denoiser(shape)
        model.compile(optimizer=adam, loss=recipe["loss"])
        # Noised once, up front (the test set's noise is seed 0: a different stream).
        noisy = corrupt(x_train, "gaussian", recipe["noise_std"], seed=1000 + seed)
        return model, (noisy, x_train), fit_kwargs
    if family == "vae":
        model = plain_vae(shape)
        model.compile(optimizer=adam)
        return model, (x_train,), fit_kwargs
    if family == "dcgan":
        model = plain_dcgan(shape, learning_rate=recipe["learning_rate"], beta_1=recipe["beta_1"])
        return model, (x_train,), fit_kwargs
    if family == "diffusion":
        return keras_io_ddim(x_train), (x_train,), fit_kwargs
    if family == "vqvae":
        model = keras_io_vqvae(shape, recipe["latent_dim"], recipe["num_embeddings"], float(np.var(x_train)))
        model.compile(optimizer=adam)
        return model, (x_train - 0.5,), fit_kwargs
    model = keras_io_pixelcnn(shape, recipe["filters"], recipe["blocks"])
    model.compile(optimizer=adam, loss=recipe["loss"])
    binary = binarize(x_train, seed=0)  # binarized once: the same kind of data keras_ae draws every batch
    return model, (binary, binary), fit_kwargs


def check_family(family: str) -> str:
    """``family`` if it is one of :data:`FAMILIES`, else an error naming them."""
    return check_choice(family, "family", FAMILIES)


def code_map_nll(side: str, model: keras.Model, x_train: np.ndarray, test: ScoringData,
                 budget: float) -> dict[str, Any]:
    """Trains one VQ-VAE side's PixelCNN prior on its training code maps; the test maps' NLL.

    keras_ae: ``fit_prior`` with its defaults; keras.io: :func:`keras_io_vqvae_prior` compiled
    and fed the example's way (``KERAS_IO_RECIPES["vqvae"]["prior"]``). Each trains for
    ``budget`` seconds (:class:`QualityClock`, scored once at the end).

    Returns:
        ``nll`` (nats per test code map under the prior: both sides' maps are 7x7 of 128
        codes for MNIST), ``train_seconds``, ``epochs``, and the test maps' code ``perplexity``
        (the effective number of codes in use) and ``codes_in_use`` (the fraction used at all):
        a codebook that uses fewer codes is easier for its prior, so the NLLs compare priors
        only together with these. (The race's keras_ae VQ-VAE is Gaussian: its bound on
        -log p(x) would be a density, not comparable in nats.)
    """
    if side == "keras_ae":
        test_maps = model.code_maps(test.x)  # the prior's view: index / (num_codes - 1)
        usage = model.codebook_usage(test.x)
        clock = QualityClock(lambda: float(-model.prior.log_likelihood(test_maps).mean()), budget,
                             every_epochs=MAX_EPOCHS)
        model.fit_prior(x_train, epochs=MAX_EPOCHS, callbacks=[clock], verbose=0)
        return {"nll": clock.curve[-1][2], "train_seconds": round(clock.train_seconds, 2), "epochs": clock.epochs,
                "perplexity": round(usage["perplexity"], 2), "codes_in_use": round(usage["codes_in_use"], 3)}
    recipe = KERAS_IO_RECIPES["vqvae"]["prior"]
    train_maps, test_maps = model.code_indices(x_train), model.code_indices(test.x)
    num_codes = model.vqvae.get_layer("vector_quantizer").num_embeddings
    counts = np.bincount(test_maps.ravel(), minlength=num_codes).astype(np.float64)
    prior = keras_io_vqvae_prior(train_maps.shape[1:], num_codes, recipe["filters"], recipe["residual_blocks"],
                                 recipe["pixelcnn_layers"])
    prior.compile(optimizer=keras.optimizers.Adam(recipe["learning_rate"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def score():
        logits = forward(prior, test_maps)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=test_maps, logits=logits)
        return float(tf.reduce_mean(tf.reduce_sum(nll, axis=(1, 2))))

    clock = QualityClock(score, budget, every_epochs=MAX_EPOCHS)
    prior.fit(train_maps, train_maps, batch_size=recipe["batch_size"], epochs=MAX_EPOCHS, callbacks=[clock], verbose=0)
    return {"nll": clock.curve[-1][2], "train_seconds": round(clock.train_seconds, 2), "epochs": clock.epochs,
            "perplexity": round(float(perplexity(tf.constant(counts))), 2), "codes_in_use": float(np.mean(counts > 0))}


# -- the race ------------------------------------------------------------------------------------------
def run_side(family: str, side: str, x_train: np.ndarray, test: ScoringData, seed: int, budget: float,
             every: int, protocol: VAEProtocol = VAE_PROTOCOLS["race"], prior_budget: float = PRIOR_BUDGET,
             ) -> dict[str, Any]:
    """Seeds, builds and trains one side under ``budget`` training seconds; returns its curve.

    ``protocol`` (the VAE only) sets both sides' batch size, ``fit`` in one call or in
    repeated calls, and the ELBO's samples. The VQ-VAE's prior then trains for
    ``prior_budget`` seconds (:func:`code_map_nll`; 0: not at all).
    """
    keras.utils.set_random_seed(seed)
    if side == "keras_ae":
        model, fit_kwargs = keras_ae_side(family, x_train.shape[1:], seed)
        fit_args = (x_train,)
    else:
        model, fit_args, fit_kwargs = keras_io_side(family, x_train, seed)
    if family != "vae":
        protocol = VAE_PROTOCOLS["race"]
    if protocol.batch_size is not None:
        fit_kwargs = {**fit_kwargs, "batch_size": protocol.batch_size}
    clock = QualityClock(scorer(family, side, model, test, protocol.elbo_samples), budget, every)
    wall = time.perf_counter()
    if protocol.epochs_per_call is None:
        model.fit(*fit_args, **{"epochs": MAX_EPOCHS, **fit_kwargs}, callbacks=[clock], verbose=0)
    else:
        fit_in_calls(model, fit_args, fit_kwargs, clock, protocol.epochs_per_call)
    run = {"curve": [[round(t, 3), e, s] for t, e, s in clock.curve], "epochs": clock.epochs,
           "train_seconds": round(clock.train_seconds, 2), "score_seconds": round(clock.score_seconds, 2),
           "wall_seconds": round(time.perf_counter() - wall, 2), "batch_size": fit_kwargs.get("batch_size"),
           "trainable params": int(sum(np.prod(w.shape) for w in model.trainable_weights))}
    if family == "vqvae" and prior_budget > 0:
        run["prior"] = code_map_nll(side, model, x_train, test, prior_budget)
    return run


def race(family: str, x_train: np.ndarray, test: ScoringData, seed: int, budget: float, every: int,
         keras_io_first: bool = True, verbose: int = 1, vae_protocol: str = "race",
         prior_budget: float = PRIOR_BUDGET) -> dict[str, Any]:
    """Both sides of one family and seed, one after the other; returns both curves and the comparison.

    ``keras_io_first=False`` runs keras_ae first (alternate it over seeds, so neither side
    always runs while the other's leftovers are collected). ``vae_protocol`` names the
    VAE's :data:`VAE_PROTOCOLS` entry (other families ignore it); ``prior_budget`` the
    seconds of each VQ-VAE side's prior (:func:`code_map_nll`).
    """
    measure = MEASURES[check_family(family)]
    protocol_name = check_choice(vae_protocol, "vae_protocol", tuple(VAE_PROTOCOLS)) if family == "vae" else "race"
    protocol = VAE_PROTOCOLS[protocol_name]
    if protocol.elbo_samples != ELBO_SAMPLES:
        measure = Measure(f"{measure.name}, {protocol.elbo_samples} sample{'s' * (protocol.elbo_samples != 1)}",
                          measure.higher_is_better)
    sides = {}
    for side in (SIDES if keras_io_first else SIDES[::-1]):
        sides[side] = run_side(family, side, x_train, test, seed, budget, every, protocol, prior_budget)
        gc.collect()
        if verbose:
            curve = sides[side]["curve"]
            run = sides[side]
            print(f"  {family} seed {seed} {side:8s}: {run['epochs']} epochs in {run['train_seconds']} s, "
                  f"{len(curve)} scores, final {curve[-1][2]:.4g} (scoring {run['score_seconds']} s)")
            if "prior" in run:
                print(f"  {family} seed {seed} {side:8s} prior: {run['prior']['epochs']} epochs in "
                      f"{run['prior']['train_seconds']} s, test code-map NLL {run['prior']['nll']:.2f} nats")
    comparison = time_to_quality(sides["keras.io"]["curve"], sides["keras_ae"]["curve"], measure)
    if protocol.epochs_per_call is not None:
        every = protocol.epochs_per_call  # scored after each call
    return {"family": family, "protocol": protocol_name, "seed": seed, "budget_s": budget, "every_epochs": every,
            "measure": measure.name,
            "higher_is_better": measure.higher_is_better, "order": list(sides), "sides": sides, **comparison}


def table_row(result: dict[str, Any]) -> dict[str, Any]:
    """The printed / Markdown row of one race (numbers rounded, ``None`` as "never")."""
    def num(v, digits=2):
        return "never" if v is None else (round(v, digits) if isinstance(v, float) and math.isfinite(v) else v)

    io, ae = result["sides"]["keras.io"], result["sides"]["keras_ae"]
    protocol = result.get("protocol", "race")
    family = result["family"] if protocol == "race" else f"{result['family']} ({protocol})"
    return {"family": family, "seed": result["seed"], "measure": result["measure"],
            "better": "higher" if result["higher_is_better"] else "lower", "budget (s)": result["budget_s"],
            "keras.io best": num(result["keras.io best"], 3), "at (s)": num(result["keras.io best at (s)"], 1),
            "keras_ae reaches it at (s)": num(result["keras_ae reaches at (s)"], 1), "ratio": num(result["ratio"]),
            "keras.io final": num(result["keras.io final"], 3), "keras_ae final": num(result["keras_ae final"], 3),
            "epochs (keras.io / keras_ae)": f"{io['epochs']} / {ae['epochs']}",
            "train s (keras.io / keras_ae)": f"{io['train_seconds']:.0f} / {ae['train_seconds']:.0f}",
            "pass": "yes" if result["pass"] else "no"}


def save_curves(results: Sequence[dict[str, Any]], out: Path) -> list[Path]:
    """One PNG per family: test score vs training seconds, both sides, every seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for family in dict.fromkeys(r["family"] for r in results):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for r in (r for r in results if r["family"] == family):
            for side, color in (("keras.io", "tab:orange"), ("keras_ae", "tab:blue")):
                curve = np.asarray(r["sides"][side]["curve"], dtype=np.float64)
                ax.plot(curve[:, 0], curve[:, 2], color=color, marker=".",
                        linestyle="-" if r["seed"] % 2 == 0 else "--", label=f"{side}, seed {r['seed']}")
            ax.axhline(r["keras.io best"], color="tab:orange", linewidth=0.6, alpha=0.5)
        rows = [r for r in results if r["family"] == family]
        ax.set(xlabel="training seconds (scoring excluded)", ylabel=rows[0]["measure"],
               title=f"{family}: time to quality ({'higher' if rows[0]['higher_is_better'] else 'lower'} is better)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        path = out / f"{family}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def run_races(families: Sequence[str], seeds: Sequence[int], data, budget_scale: float = 1.0, quick: bool = False,
              every: int | None = None, cache_dir: str | None = None, dataset: str = "data",
              verbose: int = 1, vae_protocol: str = "race",
              on_race: Callable[[list[dict[str, Any]]], None] | None = None) -> list[dict[str, Any]]:
    """Every family's race for every seed; returns the race results (curves and comparisons).

    Args:
        families: Names from :data:`FAMILIES`.
        seeds: Seeds; each family races once per seed (keras.io first for even positions).
        data: ``((x_train, y_train), (x_test, y_test))`` images in [0, 1].
        budget_scale: Multiplies every budget (:data:`BUDGETS`, :data:`QUICK_BUDGETS` with ``quick``).
        quick: The few-second budgets of a smoke run.
        every: Score every this many epochs for every family (default :data:`EVERY`).
        cache_dir: Feature-classifier cache of the FCD (default ``~/.cache/keras_ae``).
        dataset: Dataset name in the classifier's cache file.
        verbose: Print a line per side.
        vae_protocol: How the VAE race calls ``fit`` and scores (:data:`VAE_PROTOCOLS`); ``every``
            does not apply to a protocol of repeated calls (scored after each call).
        on_race: Called with the results so far after every race (the recipe writes them to
            ``partial.json``, so a run stopped after hours keeps its finished races).

    Returns:
        One result per (family, seed), in order.

    Example:
        >>> results = run_races(["dense"], [0], load_dataset("digits"), quick=True)  # doctest: +SKIP
    """
    for family in families:
        check_family(family)
    check_choice(vae_protocol, "vae_protocol", tuple(VAE_PROTOCOLS))
    if every is not None and "vae" in families and VAE_PROTOCOLS[vae_protocol].epochs_per_call is not None:
        raise InputValidationError(f"every={every!r} does not apply to vae_protocol={vae_protocol!r}: it scores after "
                                   "each fit call. Leave every unset, or race the VAE with a one-fit protocol.")
    if not budget_scale > 0:
        raise InputValidationError(f"budget_scale must be > 0, got {budget_scale!r}.")
    (x_train, y_train), (x_test, y_test) = data
    test = make_test_data(x_test)
    if "dcgan" in families or "diffusion" in families:
        from keras_ae.evaluation import dataset_classifier

        # Trained (or loaded from the cache) once, before the race and outside every clock.
        extractor = dataset_classifier(x_train, y_train, dataset=f"{dataset}{len(x_train)}", x_test=x_test,
                                       y_test=y_test, cache_dir=cache_dir, seed=0, verbose=0)
        test.fcd = FrechetScorer(extractor, x_test, n_samples=500 if quick else FCD_SAMPLES)
    budgets = QUICK_BUDGETS if quick else BUDGETS
    warm_up()
    results = []
    for family in families:
        for i, seed in enumerate(seeds):
            results.append(race(family, x_train, test, seed, budgets[family] * budget_scale,
                                every or EVERY[family], keras_io_first=i % 2 == 0, verbose=verbose,
                                vae_protocol=vae_protocol,
                                prior_budget=(QUICK_PRIOR_BUDGET if quick else PRIOR_BUDGET) * budget_scale))
            if on_race is not None:
                on_race(results)
    return results


def write_partial(out: Path, results: Sequence[dict[str, Any]]) -> Path:
    """Writes the finished races to ``out/partial.json`` atomically (:func:`keras_ae.atomic.write_atomically`).

    Args:
        out: The recipe's output folder (created).
        results: The races finished so far.

    Returns:
        The JSON path.

    Example:
        >>> write_partial(Path("runs/ttq"), run_races(["dense"], [0], load_dataset("digits"), quick=True))
        ... # doctest: +SKIP
        PosixPath('runs/ttq/partial.json')
    """
    # json.dumps runs first: an unserializable value raises before any file is touched.
    text = json.dumps({"races": list(results), "written": time.strftime("%Y-%m-%d %H:%M:%S")})
    return write_text_atomically(out / "partial.json", text)


def warm_up() -> None:
    """A tiny fit and forward pass outside every clock.

    TensorFlow's one-off start-up costs in a process (thread pools, the first oneDNN kernels,
    Keras' first trace) would otherwise fall on whichever side trains first.
    """
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((64, 8, 8, 1), np.float32), np.zeros((64, 1), np.float32), batch_size=32, epochs=2, verbose=0)
    forward(model, np.zeros((4, 8, 8, 1), np.float32))


# -- Markdown --------------------------------------------------------------------------------------------
QUALITY_TITLE = "## Time to quality"


def quality_markdown(results: Sequence[dict[str, Any]], command: str, figures: str = "<out>") -> list[str]:
    """Markdown lines of the time-to-quality section (title, how to read it, the table).

    Example:
        >>> quality_markdown([], "python recipes/time_to_quality.py")[0]
        '## Time to quality'
    """
    lines = [QUALITY_TITLE, "",
             f"Written by `{command}`. Per family and seed, the keras.io recipe of the model (its architecture, "
             "training loop and hyper-parameters, `recipes/keras_io_reference.py`) and keras_ae's builder defaults "
             "(`model.compile()`, `fit` with the keras_ae recipe's batch size; the PixelCNN with `fit`'s default, "
             "32) were seeded and trained one after the "
             "other in one process, each for the same budget of training seconds (scoring excluded), and scored on "
             "the test split every few epochs. 'at (s)': when the keras.io side first reached its best score; "
             "'keras_ae reaches it at (s)': when keras_ae first scored at least as well; 'ratio': the first over "
             "the second; 'pass': ratio >= 2 and keras_ae's final score at least as good as keras.io's. Curves: "
             f"`{figures}/<family>.png`, every scoring in `results.json`.", "",
             format_table([table_row(r) for r in results]), ""]
    return lines + prior_lines(results)


def prior_lines(results: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines of the VQ-VAE priors trained after the race (none without a VQ-VAE race).

    Example:
        >>> prior_lines([])
        []
    """
    rows = [r for r in results if all("prior" in r["sides"][side] for side in SIDES)]
    if not rows:
        return []
    lines = ["After each VQ-VAE side's race, its PixelCNN prior over its training code maps trained for the same "
             "seconds (keras.io: the example's prior and settings; keras_ae: `fit_prior`'s defaults); the test code "
             "maps' NLL under it (nats per map of 128 codes, 7x7 for MNIST), and how many codes the test maps use "
             "in effect (perplexity: a codebook that uses fewer codes is easier for its prior):", ""]
    for r in rows:
        io, ae = r["sides"]["keras.io"]["prior"], r["sides"]["keras_ae"]["prior"]
        line = (f"- seed {r['seed']}: keras.io {io['nll']:.2f} ({io['epochs']} epochs, {io['train_seconds']:.0f} s), "
                f"keras_ae {ae['nll']:.2f} ({ae['epochs']} epochs, {ae['train_seconds']:.0f} s)")
        if "perplexity" in io and "perplexity" in ae:
            line += f"; code perplexity keras.io {io['perplexity']:.1f} / keras_ae {ae['perplexity']:.1f}"
        lines.append(line)
    return lines + [""]


def replace_section(path: Path, lines: Sequence[str], title: str = QUALITY_TITLE) -> None:
    """Puts ``lines`` in the Markdown file ``path`` in place of its ``title`` section (or at the end)."""
    text = path.read_text() if path.is_file() else ""
    block = "\n".join(lines).rstrip("\n") + "\n"
    start = text.find(f"\n{title}\n") + 1 if f"\n{title}\n" in text else (0 if text.startswith(f"{title}\n") else -1)
    if start < 0:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block
    else:
        end = text.find("\n## ", start + len(title))
        text = text[:start] + block + ("\n" + text[end + 1:] if end >= 0 else "")
    path.write_text(text)


# -- command line --------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments.

    Example:
        >>> parse_args(["--families", "dense", "vae", "--seeds", "0"]).families
        ['dense', 'vae']
    """
    parser = recipe_parser("time_to_quality", __doc__.splitlines()[0], dataset="mnist", epochs=0)
    for action in parser._actions:  # the budget ends every fit: the shared --epochs flag does not apply
        if action.dest == "epochs":
            action.help = argparse.SUPPRESS
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES, help="families to race")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="one race per seed")
    parser.add_argument("--budget-scale", type=float, default=1.0,
                        help="multiplies the training budgets (seconds per side: " +
                             ", ".join(f"{k} {v:g}" for k, v in BUDGETS.items()) + ")")
    parser.add_argument("--every", type=int, default=None,
                        help="score every N epochs for every family (default per family: " +
                             ", ".join(f"{k} {v}" for k, v in EVERY.items()) + ")")
    parser.add_argument("--vae-protocol", default="race", choices=tuple(VAE_PROTOCOLS),
                        help="how both sides of the VAE race call fit and score: race (one fit, each side's batch, "
                             "10-sample ELBO every 2 epochs), batch128 (both at batch 128), fit5 (fit(x, epochs=5, "
                             "batch_size=128) in a loop, scored after each call), one_sample (race, 1-sample ELBO)")
    parser.add_argument("--quick", action="store_true", help="smoke run: digits, budgets of a few seconds")
    parser.add_argument("--cache-dir", default=None,
                        help="feature-classifier cache for the FCD (default ~/.cache/keras_ae)")
    args = parser.parse_args(argv)
    if args.quick:
        args.dataset = "digits"
    return args


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Runs the races, prints the table, writes ``results.json`` and one PNG per family.

    Example:
        >>> main(["--quick", "--families", "dense", "--seeds", "0"])  # doctest: +SKIP
    """
    args = parse_args(argv)
    data = load_recipe_data(args)
    (x_train, _), (x_test, _) = data
    print(f"data: {args.dataset}, {len(x_train)} train / {len(x_test)} test; families {' '.join(args.families)}; "
          f"seeds {args.seeds}")
    started = time.perf_counter()
    results = run_races(args.families, args.seeds, data, args.budget_scale, args.quick, args.every, args.cache_dir,
                        dataset=args.dataset, vae_protocol=args.vae_protocol,
                        on_race=lambda done: write_partial(Path(args.out), done))
    out = Path(args.out)
    figures = save_curves(results, out)
    summary = {"races": results, "figures": [str(p) for p in figures], "budgets": {
        f: (QUICK_BUDGETS if args.quick else BUDGETS)[f] * args.budget_scale for f in args.families},
        "keras_io_recipes": {f: KERAS_IO_RECIPES[f] for f in args.families},
        "keras_ae_batch": {f: KERAS_AE_BATCH[f] for f in args.families}, "vae_protocol": args.vae_protocol,
        "seconds": round(time.perf_counter() - started, 1)}
    write_results(out, summary, [table_row(r) for r in results], args)
    print(f"figures: {', '.join(str(p) for p in figures)}; total {summary['seconds']} s")
    return results


if __name__ == "__main__":
    main()
