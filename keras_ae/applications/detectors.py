"""``AnomalyDetector``: a trained keras_ae model and a scoring rule, calibrated and served as one object.

The detector follows the scikit-learn / PyOD conventions: :meth:`~AnomalyDetector.fit`
calibrates on held-out *normal* data (it never trains the wrapped model), then
:meth:`~AnomalyDetector.decision_function` (higher = more anomalous),
:meth:`~AnomalyDetector.predict` (``score > threshold_``, 0/1), :meth:`~AnomalyDetector.predict_proba`,
:meth:`~AnomalyDetector.p_value` and :meth:`~AnomalyDetector.score_map`. It is a ``keras.Model``,
so it saves as one ``.keras`` file (the wrapped model and the calibration scores together) and
``keras_ae.export(detector, name)`` writes one SavedModel whose signatures carry the threshold and
the calibration scores: ``anomaly_score`` (``serving_default``), ``score_map``, ``is_anomaly``,
``p_value`` and, for [0, 1] images, their ``*_uint8`` twins.

Scores (one graph function per rule, run by the Python methods and by the export alike):

=================  ====================================  =============================================
``score``          models                                per-example score; ``score_map``
=================  ====================================  =============================================
``reconstruction`` any auto-encoder (dense, conv, Conv1D  squared error, summed; per pixel / feature /
                   windows, tables with ``standardize``)  timestep (channels summed). Table models
                                                          compare standardized values, as their loss.
``elbo``           VAE (Gaussian posterior)              negative ELBO (nats), analytic KL and
                                                          ``samples`` fixed draws of the noise
``iwae``           VAE (Gaussian posterior)              negative IWAE bound L_k, k = ``samples``
                                                          fixed draws; map as for ``elbo``:
                                                          ``-log p(x_d | z)`` at the posterior mean
``nll``            PixelCNN, PixelRNN                    exact NLL (nats); per-pixel conditional NLL
``nll``            RealNVP                               dequantization bound with fixed noise
                                                          (nats); no map (the Jacobian couples pixels)
=================  ====================================  =============================================

Every random draw is fixed at construction from ``seed`` (NumPy's PCG64) and is the same for every
example, so a score depends on the example only: the same number in Python, in a SavedModel and
in any batch. The VAE's ``samples`` draws are moment-matched (mean 0, variance 1 per latent
dimension), so a few of them estimate the expected log-likelihood without a shared offset.
A Bernoulli VAE scores grey [0, 1] images with ``x log p + (1 - x) log(1 - p)``, the expected
log-likelihood of a binarization ``b ~ Bernoulli(x)`` (``log p(b|z)`` is linear in ``b``).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from keras_ae.applications.anomaly import threshold_report
from keras_ae.errors import InputValidationError
from keras_ae.export.endpoints import ExportOptions, data_name, describe_data, image_endpoints
from keras_ae.graph_checks import assert_on_grid
from keras_ae.models.autoregressive import AutoregressiveModel
from keras_ae.models.base import AutoEncoder
from keras_ae.models.flow.model import BINS, RealNVP
from keras_ae.models.serialization import from_nested_config
from keras_ae.models.vae import VAE, FlowVAE
from keras_ae.registry import register_family
from keras_ae.validation import check_array, check_choice, check_float, check_int, check_seed

SCORES = ("reconstruction", "elbo", "iwae", "nll")
DEFAULT_FALSE_POSITIVE_RATE = 0.05
# Fixed, moment-matched noise draws of the VAE scores (decoder passes per example). Measured on digits
# (latent 4, 64 binarized test images) against keras_ae's 4,000-sample ELBO, mean / mean |difference| in nats:
# 4 draws +0.62 / 0.62, 8 +0.21 / 0.21, 16 -0.02 / 0.04, 32 +0.02 / 0.04 (plain draws: 16 -0.13 / 0.15,
# scrambled Sobol: 16 +0.46 / 0.46). Fixed draws give every example the same offset, so 16 is enough.
DEFAULT_SAMPLES = 16


def _not_fitted(what: str):
    from sklearn.exceptions import NotFittedError

    return NotFittedError(f"This AnomalyDetector is not calibrated yet: call fit(x_normal) on held-out normal data "
                          f"before {what}.")


@register_family("anomaly_detector", serving_default="anomaly_score")
class AnomalyDetector(keras.Model):
    """An anomaly detector made of a trained keras_ae model and a scoring rule, calibrated on normal data.

    ``fit`` is the scikit-learn / PyOD calibration, not Keras' training loop: a detector is
    not trained (train the wrapped model with its own ``fit`` first), and the names ``fit``,
    ``predict`` and ``evaluate`` keep the meaning they have in scikit-learn and PyOD so that
    the detector drops into code written for those libraries. ``detector(x)`` returns the
    scores as a tensor.

    Args:
        model: A trained keras_ae model: an auto-encoder (``score="reconstruction"``), a VAE
            (also ``"elbo"``, ``"iwae"``), a PixelCNN / PixelRNN or RealNVP (``"nll"``).
        score: ``"reconstruction"``, ``"elbo"``, ``"iwae"`` or ``"nll"`` (see the module docstring).
        false_positive_rate: Fraction of the (normal) calibration scores above the threshold,
            in (0, 1); default 0.05 when ``contamination`` is not given either.
        contamination: PyOD's alternative: the expected fraction of anomalies in the
            calibration data, in (0, 0.5]; the threshold is the ``1 - contamination``
            quantile of its scores. Give at most one of the two.
        samples: Fixed noise draws of the ``"elbo"`` / ``"iwae"`` scores (k of the bound).
        seed: Seed of those draws and of RealNVP's fixed dequantization noise.
        batch_size: Examples per graph call in the Python methods.

    Attributes:
        decision_scores_: Scores of the calibration data, in their order (float64).
        calibration_: The same scores, sorted (float64 values of float32 scores).
        threshold_: Alarm threshold; ``predict`` flags ``score > threshold_``.
        labels_: ``decision_scores_ > threshold_`` as 0/1 (PyOD's attribute).

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)  # train it on normal data first
        >>> detector = AnomalyDetector(ae).fit(x_digits)
        >>> x_test = np.concatenate([x_digits_test, 1 - x_digits_test])  # inverted digits as anomalies
        >>> detector.predict(x_test).shape, detector.predict_proba(x_test).shape
        ((128,), (128, 2))
        >>> round(float(detector.labels_.mean()), 2)  # the false-positive rate on the calibration data
        0.05
    """

    def __init__(self, model: keras.Model, score: str = "reconstruction", false_positive_rate: float | None = None,
                 contamination: float | None = None, samples: int = DEFAULT_SAMPLES, seed: int = 0,
                 batch_size: int = 256, **kwargs: Any):
        super().__init__(**kwargs)
        self.score = check_choice(score, "score", SCORES)
        self._check_model(model)
        if false_positive_rate is not None and contamination is not None:
            raise InputValidationError("Give false_positive_rate (normal calibration data) or contamination (the "
                                       "expected anomaly fraction of the calibration data), not both.")
        if false_positive_rate is not None:
            false_positive_rate = check_float(false_positive_rate, "false_positive_rate", minimum=0.0, maximum=1.0,
                                              include_minimum=False, include_maximum=False)
        if contamination is not None:
            contamination = check_float(contamination, "contamination", minimum=0.0, maximum=0.5,
                                        include_minimum=False)
        self.model = model
        self.false_positive_rate = false_positive_rate
        self.contamination = contamination
        self.samples = check_int(samples, "samples", minimum=1, maximum=10_000)
        self.seed = check_seed(seed)
        if self.seed is None:
            raise InputValidationError("seed must be an int: the detector's noise is fixed so that scores repeat.")
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        object.__setattr__(self, "_compiled", {})  # graph functions of the Python methods, by name
        self.build(None)

    def build(self, input_shape=None):
        self.built = True  # the wrapped model is built; the calibration is plain arrays (see save_own_variables)

    # -- configuration ---------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(model=keras.saving.serialize_keras_object(self.model), score=self.score,
                      false_positive_rate=self.false_positive_rate, contamination=self.contamination,
                      samples=self.samples, seed=self.seed, batch_size=self.batch_size)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return from_nested_config(cls, config, ("model",), custom_objects)

    def get_params(self, deep: bool = False) -> dict:
        """The constructor's arguments, as given (scikit-learn's ``get_params``).

        Example:
            >>> AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)).get_params()["score"]
            'reconstruction'
        """
        return {"model": self.model, "score": self.score, "false_positive_rate": self.false_positive_rate,
                "contamination": self.contamination, "samples": self.samples, "seed": self.seed,
                "batch_size": self.batch_size}

    def save_own_variables(self, store):
        """Keras saving hook: the calibration scores and the threshold go into the ``.keras`` weights file.

        Their number is known only after :meth:`fit` and changes with every calibration, so
        they are stored as arrays rather than as weights of a fixed shape.
        :func:`keras_ae.saving.load_model` accepts up to 65,536 of them (its bound on an array
        that matches no weight's shape).
        """
        super().save_own_variables(store)
        if self.is_fitted:
            store["decision_scores"] = self.decision_scores_.astype(np.float32)
            store["threshold"] = np.asarray(self.threshold_, np.float64)

    def load_own_variables(self, store):
        """Keras loading hook: restores what :meth:`save_own_variables` stored (nothing for an unfitted detector)."""
        if "decision_scores" in set(store.keys()):
            scores = np.asarray(store["decision_scores"], np.float32)
            self._set_calibration(scores, float(np.asarray(store["threshold"])))

    @property
    def wrapped_model(self) -> keras.Model:
        """The scoring model (read by :func:`keras_ae.export.is_trained`: a detector is as trained as its model)."""
        return self.model

    # -- checks ------------------------------------------------------------------------------
    def _check_model(self, model: Any) -> None:
        fits = {"reconstruction": (AutoEncoder,), "elbo": (VAE,), "iwae": (VAE,), "nll": (AutoregressiveModel, RealNVP)}
        advice = {"reconstruction": "an auto-encoder (build_dense_ae, build_conv_ae, build_conv1d_ae, build_vae, ...)",
                  "elbo": "a VAE (build_vae)", "iwae": "a VAE (build_vae)",
                  "nll": "a PixelCNN, PixelRNN or RealNVP (build_pixelcnn, build_pixelrnn, build_realnvp)"}
        if not isinstance(model, fits[self.score]):
            raise InputValidationError(f"score={self.score!r} needs {advice[self.score]}, got "
                                       f"{type(model).__name__}.")
        if self.score in ("elbo", "iwae") and isinstance(model, FlowVAE):
            raise InputValidationError(f"score={self.score!r} draws fixed Gaussian noise for q(z|x); a FlowVAE's "
                                       "posterior is a flow. Use score='reconstruction' for it.")

    @property
    def example_shape(self) -> tuple[int, ...]:
        """Shape of one input example (without the batch axis)."""
        model = self.model
        shape = model.image_shape if isinstance(model, (AutoregressiveModel, RealNVP)) else model.example_shape
        return tuple(int(d) for d in shape)

    @property
    def input_range(self) -> tuple[float, float] | None:
        """Value range of the inputs (``(0, 1)`` for images of [0, 1] models, ``None`` for real data)."""
        if isinstance(self.model, (AutoregressiveModel, RealNVP)):
            return (0.0, 1.0)
        return self.model.input_range

    @property
    def has_score_map(self) -> bool:
        """Whether the score splits over pixels / features / timesteps (all rules but RealNVP's)."""
        return not isinstance(self.model, RealNVP)

    def _check_has_map(self) -> None:
        if not self.has_score_map:
            raise InputValidationError(
                "A RealNVP's likelihood has no per-pixel split: its log-determinant couples every pixel, so "
                "score_map is not defined for it. Use decision_function (the whole image's NLL) instead.")

    @property
    def map_shape(self) -> tuple[int, ...]:
        """Shape of one score map: the example shape without its channel axis (vectors keep theirs)."""
        shape = self.example_shape
        return shape[:-1] if len(shape) >= 2 else shape

    def validate_inputs(self, x, name: str = "x") -> np.ndarray:
        """Checks ``x`` as the wrapped model does (shape, NaN/inf, range, grey levels); returns float32.

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2))
            >>> detector.validate_inputs(x_digits_test * 255)
            Traceback (most recent call last):
            ...
            keras_ae.errors.InputValidationError: `x` has values outside [0, 1] ...
        """
        model = self.model
        if isinstance(x, np.ndarray) and x.size == 0 and x.ndim == len(self.example_shape) + 1:
            return check_array(x, name, expected_shape=self.example_shape, allow_empty=True)
        if isinstance(model, (AutoregressiveModel, RealNVP)):
            return model.validate_images(x, name)
        if isinstance(model, VAE):
            return model.validate_inputs(x, name, purpose="encode")  # grey images for any likelihood
        return model.validate_inputs(x, name)

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "threshold_")

    def _check_fitted(self, what: str) -> None:
        if not self.is_fitted:
            raise _not_fitted(what)

    # -- the scores as graph functions (Python methods and exports run these) --------------------
    def _noise(self) -> np.ndarray:
        """The fixed draws: ``(samples, latent_dim)`` normals (VAE), or uniform dequantization noise (RealNVP)."""
        rng = np.random.default_rng(self.seed)
        if isinstance(self.model, RealNVP):
            return rng.random(self.example_shape).astype(np.float32)
        eps = rng.standard_normal((self.samples, self.model.latent_dim))
        if self.samples >= 2:  # moment matching: each latent dimension's draws have mean 0 and variance 1 exactly
            eps = (eps - eps.mean(axis=0)) / eps.std(axis=0)
        return eps.astype(np.float32)

    def _on_grid(self, x: tf.Tensor) -> tf.Tensor:
        if isinstance(self.model, AutoregressiveModel):
            return assert_on_grid(x, self.model.levels, data_name(self.example_shape),
                                  "for this model" + (" (binarize them first)" if self.model.binary else ""))
        if isinstance(self.model, RealNVP):
            return assert_on_grid(x, BINS, "images", "(8-bit images k / 255)")
        return x

    def _sum_channels(self, per_value: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(per_value, axis=-1) if len(self.example_shape) >= 2 else per_value

    def _vae_bound(self, x: tf.Tensor) -> tf.Tensor:
        """Negative ELBO or negative L_k, nats ``(batch,)``, with the fixed draws ``z = mu + sigma * eps``."""
        vae = self.model
        loc, scale = vae.posterior_params(x)
        q = tfd.MultivariateNormalDiag(loc=loc, scale_diag=scale)
        eps = tf.constant(self._noise())
        z = loc[None] + scale[None] * eps[:, None, :]  # (samples, batch, latent)
        log_px = vae.data_log_prob(z, x)  # (samples, batch)
        if self.score == "elbo":
            if vae.has_analytic_kl():
                kl = vae.kl_divergence(q)
            else:
                kl = tf.reduce_mean(q.log_prob(z) - vae.prior.log_prob(z), axis=0)
            return kl - tf.reduce_mean(log_px, axis=0)
        log_w = log_px + vae.prior.log_prob(z) - q.log_prob(z)
        return math.log(self.samples) - tf.reduce_logsumexp(log_w, axis=0)

    def _vae_map(self, x: tf.Tensor) -> tf.Tensor:
        """``-log p(x_d | z)`` per data value at the posterior mean (the reconstruction term's share)."""
        vae = self.model
        z = vae.posterior_params(x)[0]
        out = vae.decoder_output(z)
        if vae.likelihood == "bernoulli":
            log_p = x * out - tf.nn.softplus(out)
        elif vae.standardization is not None:
            log_p = tfd.Normal(vae.standardized(out), vae.observation_stddev()).log_prob(vae.standardized(x))
        else:
            log_p = vae.decode(z).distribution.log_prob(x)
        return -log_p

    def _value_map(self, x: tf.Tensor) -> tf.Tensor:
        """The per-value score (before channels are summed), float32 ``(batch, *example_shape)``."""
        model = self.model
        if self.score == "reconstruction":
            output = model(x, training=False)
            return tf.square(model.standardized(x) - model.standardized(output))
        if self.score in ("elbo", "iwae"):
            return self._vae_map(x)
        self._check_has_map()
        logits = tf.cast(model(x, training=False), tf.float32)
        if model.binary:
            return -(x * logits - tf.math.softplus(logits))
        level = tf.cast(tf.round(x * (model.levels - 1)), tf.int32)
        return -tf.gather(tf.nn.log_softmax(logits), level, axis=-1, batch_dims=4)

    def graph_scores(self, x: tf.Tensor) -> tf.Tensor:
        """Anomaly scores of a batch tensor, float32 ``(batch,)``: what the export and the Python methods run.

        Args:
            x: Float32 tensor ``(batch, *example_shape)``, checked by the caller.

        Returns:
            Float32 tensor ``(batch,)``, higher = more anomalous.

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2))
            >>> detector.graph_scores(tf.constant(x_digits_test[:3])).shape
            TensorShape([3])
        """
        x = self._on_grid(tf.cast(x, tf.float32))
        if self.score in ("elbo", "iwae"):
            return self._vae_bound(x)
        if isinstance(self.model, RealNVP):
            noise = tf.broadcast_to(tf.constant(self._noise()), tf.shape(x))
            return -self.model.log_prob(x, noise=noise)
        value_map = self._value_map(x)
        return tf.reduce_sum(tf.reshape(value_map, [tf.shape(value_map)[0], -1]), axis=1)

    def graph_score_map(self, x: tf.Tensor) -> tf.Tensor:
        """Score map of a batch tensor, float32 ``(batch, *map_shape)`` (see :meth:`score_map`).

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2))
            >>> detector.graph_score_map(tf.constant(x_digits_test[:3])).shape
            TensorShape([3, 8, 8])
        """
        return self._sum_channels(self._value_map(self._on_grid(tf.cast(x, tf.float32))))

    def graph_p_value(self, scores: tf.Tensor) -> tf.Tensor:
        """Conformal p-values ``(1 + #{calibration >= s}) / (n + 1)`` of score tensors, float32.

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)).fit(x_digits)
            >>> np.allclose(detector.graph_p_value(tf.constant([-1.0, 1e9])), [1.0, 1 / 257])  # 256 scores
            True
        """
        self._check_fitted("graph_p_value()")
        calibration = tf.constant(self.calibration_.astype(np.float32))
        # Comparisons and a sum (no searchsorted): builtin ops in TFLite too; O(batch x n) memory.
        above = tf.reduce_sum(tf.cast(calibration[None, :] >= scores[:, None], tf.int32), axis=1)
        return tf.cast(above + 1, tf.float32) / float(len(self.calibration_) + 1)

    def call(self, inputs, training: bool = False):
        """The anomaly scores of ``inputs`` (a batch tensor), as :meth:`graph_scores`."""
        return self.graph_scores(inputs)

    def _run(self, name: str, x, fn) -> np.ndarray:
        """``fn`` compiled once (input signature of any batch size), over ``x`` in batches of ``batch_size``."""
        x = self.validate_inputs(x)
        if name not in self._compiled:
            spec = tf.TensorSpec((None, *self.example_shape), tf.float32)
            self._compiled[name] = tf.function(fn, input_signature=[spec], autograph=False)
        if len(x) == 0:
            shape = (0,) if name == "scores" else (0, *self.map_shape)
            return np.zeros(shape, np.float32)
        compiled = self._compiled[name]
        parts = [compiled(tf.constant(x[i: i + self.batch_size])).numpy() for i in range(0, len(x), self.batch_size)]
        return np.concatenate(parts)

    # -- scikit-learn / PyOD API -----------------------------------------------------------------
    def decision_function(self, x) -> np.ndarray:
        """Anomaly scores (higher = more anomalous); needs no calibration.

        Args:
            x: Examples ``(n, *example_shape)`` as the wrapped model takes them.

        Returns:
            Float64 array ``(n,)`` (float32 values: the numbers the export returns).

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4))
            >>> detector.decision_function(x_digits_test).shape
            (64,)
        """
        return self._run("scores", x, self.graph_scores).astype(np.float64)

    def score_samples(self, x) -> np.ndarray:
        """The same scores as :meth:`decision_function` (the name of the older detector's method).

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4))
            >>> bool(np.array_equal(detector.score_samples(x_digits_test), detector.decision_function(x_digits_test)))
            True
        """
        return self.decision_function(x)

    def score_map(self, x) -> np.ndarray:
        """Where each example is anomalous: the score split over pixels, features or timesteps.

        Reconstruction: the squared error per value; ``elbo`` / ``iwae``: ``-log p(x_d | z)`` at
        the posterior mean; ``nll`` (PixelCNN / PixelRNN): each pixel's conditional NLL. Channels
        are summed, so an image's map is ``(height, width)``, a window's ``(length,)``, a table
        row's ``(features,)``; for reconstruction and ``nll`` the map sums to the score.

        Args:
            x: Examples.

        Returns:
            Float32 array ``(n, *map_shape)``.

        Raises:
            InputValidationError: for a RealNVP detector (its likelihood does not split per pixel).

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4))
            >>> detector.score_map(x_digits_test[:2]).shape
            (2, 8, 8)
        """
        self._check_has_map()
        return self._run("score_map", x, self.graph_score_map)

    def fit(self, x, y=None) -> "AnomalyDetector":
        """Calibrates on held-out normal data; the wrapped model must be trained already.

        Sets ``decision_scores_``, ``calibration_`` (sorted), ``threshold_`` (the
        ``1 - false_positive_rate`` or ``1 - contamination`` quantile of the scores) and
        ``labels_``. Calibrate on data the model was not trained on: training data
        reconstructs better than new normal data, which would put the threshold too low.

        Args:
            x: Normal examples (with about ``contamination`` anomalies if that was given).
            y: Ignored (PyOD's convention).

        Returns:
            ``self``.

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4),
            ...                            contamination=0.1).fit(x_digits)
            >>> detector.decision_scores_.shape, round(float(detector.labels_.mean()), 1)
            ((256,), 0.1)
        """
        del y
        scores = self._run("scores", x, self.graph_scores)
        if len(scores) == 0:
            raise InputValidationError("fit() needs at least one calibration example.")
        tail = self.contamination or self.false_positive_rate or DEFAULT_FALSE_POSITIVE_RATE
        # A float32 threshold: the exported graph compares float32 scores with it, as predict() does here.
        threshold = float(np.float32(np.quantile(scores.astype(np.float64), 1.0 - tail)))
        self._set_calibration(scores, threshold)
        return self

    def _set_calibration(self, scores: np.ndarray, threshold: float) -> None:
        scores = np.asarray(scores, np.float32).astype(np.float64)
        self.decision_scores_ = scores
        self.calibration_ = np.sort(scores)
        self.threshold_ = threshold
        self.labels_ = (scores > threshold).astype(int)

    calibrate = fit

    def predict(self, x) -> np.ndarray:
        """Anomaly flags, PyOD's convention: 1 where ``score > threshold_``, else 0.

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)).fit(x_digits)
            >>> flags = detector.predict(x_digits_test)
            >>> flags.dtype, set(flags.tolist()) <= {0, 1}
            (dtype('int64'), True)
        """
        self._check_fitted("predict()")
        return (self.decision_function(x) > self.threshold_).astype(np.int64)

    def p_value(self, x) -> np.ndarray:
        """Conformal p-values ``(1 + #{calibration scores >= s}) / (n_cal + 1)``, in (0, 1].

        Under the null (``x`` exchangeable with the calibration data),
        ``P(p_value <= a) <= a``; small values are anomalous.

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)).fit(x_digits)
            >>> p = detector.p_value(x_digits_test)
            >>> bool(p.min() > 0 and p.max() <= 1)
            True
        """
        self._check_fitted("p_value()")
        scores = self.decision_function(x)
        n = len(self.calibration_)
        above = n - np.searchsorted(self.calibration_, scores, side="left")
        return (1.0 + above) / (n + 1.0)

    def predict_proba(self, x) -> np.ndarray:
        """``[[P(normal), P(anomaly)], ...]`` with ``P(anomaly) = 1 - p_value``: the empirical CDF
        of the calibration scores at the score, ``#{calibration < s} / (n + 1)``.

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)).fit(x_digits)
            >>> proba = detector.predict_proba(x_digits_test)
            >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1))
            ((64, 2), True)
        """
        p = self.p_value(x)
        return np.stack([p, 1.0 - p], axis=1)

    def evaluate(self, x, y) -> dict[str, float]:
        """ROC AUC and average precision of the scores; precision / recall / F1 / false-alarm rate at ``threshold_``.

        Args:
            x: Test examples.
            y: 0/1 labels (1 = anomaly), both present.

        Returns:
            ``{"roc_auc", "average_precision", "precision", "recall", "f1", "false_positive_rate", "threshold"}``.

        Example:
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)).fit(x_digits)
            >>> x_test = np.concatenate([x_digits_test, 1 - x_digits_test])
            >>> sorted(detector.evaluate(x_test, np.repeat([0, 1], 64)))[:3]
            ['average_precision', 'f1', 'false_positive_rate']
        """
        self._check_fitted("evaluate()")
        return threshold_report(self.decision_function(x), y, self.threshold_)

    # -- serving ----------------------------------------------------------------------------------
    def serving_endpoints(self, options: ExportOptions) -> list:
        """``anomaly_score``, ``score_map`` (not for RealNVP), ``is_anomaly`` (int32 0/1, as :meth:`predict`),
        ``p_value`` (the calibration scores are constants of the graph) and, for [0, 1] images,
        ``*_uint8`` twins. Inputs are checked in the graph (shape, NaN/inf, range; grey levels
        for PixelCNN / RealNVP).

        Example:
            >>> from keras_ae.export import ExportOptions
            >>> detector = AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)).fit(x_digits)
            >>> [e.name for e in detector.serving_endpoints(ExportOptions(uint8=False))]
            ['anomaly_score', 'score_map', 'is_anomaly', 'p_value']
        """
        self._check_fitted("export")
        x = data_name(self.example_shape)
        threshold = tf.constant(self.threshold_, tf.float32)  # exactly threshold_: fit() keeps it float32

        def anomaly_score(**inputs):
            return {"score": self.graph_scores(inputs[x])}

        def score_map(**inputs):
            return {"score_map": self.graph_score_map(inputs[x])}

        def is_anomaly(**inputs):
            scores = self.graph_scores(inputs[x])
            return {"is_anomaly": tf.cast(scores > threshold, tf.int32), "score": scores}

        def p_value(**inputs):
            scores = self.graph_scores(inputs[x])
            return {"p_value": self.graph_p_value(scores), "score": scores}

        functions = [("anomaly_score", anomaly_score, [], f"{x} -> score (higher = more anomalous)")]
        if self.has_score_map:
            functions.append(("score_map", score_map, [], f"{x} -> score_map {list(self.map_shape)}"))
        functions += [("is_anomaly", is_anomaly, [], f"{x} -> is_anomaly (int32, score > threshold), score"),
                      ("p_value", p_value, [], f"{x} -> p_value (conformal, {len(self.calibration_)} calibration "
                                               "scores), score")]
        return image_endpoints(x, self.example_shape, self.input_range, options, functions)

    def serving_metadata(self) -> dict:
        """Facts recorded in an export's metadata: input, score rule, threshold, calibration size."""
        from keras_ae.registry import family_of

        family = family_of(self.model)
        return {
            "input": describe_data(data_name(self.example_shape), self.example_shape, self.input_range),
            "score": self.score,
            "score_map_shape": [None, *self.map_shape] if self.has_score_map else None,
            "model_family": family.name if family else None,
            "threshold": self.threshold_ if self.is_fitted else None,
            "false_positive_rate": self.false_positive_rate,
            "contamination": self.contamination,
            "calibration_size": len(self.calibration_) if self.is_fitted else 0,
            "samples": self.samples if self.score in ("elbo", "iwae") else None,
            "seed": self.seed,
        }

    def tflite_refusal(self) -> str | None:
        """Why this detector cannot be converted to TFLite, or ``None`` (reconstruction scores of
        the auto-encoder families convert).

        Example:
            >>> AnomalyDetector(build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2)).tflite_refusal() is None
            True
        """
        from keras_ae.export.tflite import TFLITE_FAMILIES
        from keras_ae.registry import family_of

        family = family_of(self.model)
        if self.score == "reconstruction" and family is not None and family.name in TFLITE_FAMILIES:
            return None
        return (f"TFLite export of a detector supports score='reconstruction' over the auto-encoder families "
                f"({', '.join(f for f in TFLITE_FAMILIES if f != 'anomaly_detector')}), not score={self.score!r} "
                f"over {type(self.model).__name__}. Export a SavedModel instead (format='savedmodel').")


__all__ = ["DEFAULT_FALSE_POSITIVE_RATE", "SCORES", "AnomalyDetector"]
