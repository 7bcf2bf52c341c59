"""``fit_latent_sampler``: ex-post density estimation on a trained auto-encoder's codes (Ghosh et al. 2020).

| ``kind`` | density over the codes ``z_i = codes(x_i)`` | fitted by |
| --- | --- | --- |
| ``"gmm"`` | a mixture of ``n_components`` Gaussians (full covariances) | scikit-learn's EM, seeded |
| ``"maf"`` (or ``"flow"``) | a masked autoregressive flow of ``flow_steps`` MADEs | maximum likelihood, seeded |
| ``"aggregate"`` (VAEs) | ``q(z) = mean_i q(z|x_i)`` over up to ``max_codes`` examples | the encoder |

A plain or regularized auto-encoder has no prior to sample; its codes fill a region of
code space that a fitted density describes, and decoding draws from it gives samples.
A VAE's prior ``N(0, I)`` puts mass where the aggregate posterior has none (the "holes");
sampling the aggregate posterior itself, a mixture of the training examples' posteriors,
avoids them (the prior the VampPrior of Tomczak & Welling 2018 approximates).
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.models.latent_sampler.densities import COVARIANCES, GaussianMixtureDensity, MaskedAutoregressiveDensity
from keras_ae.models.latent_sampler.model import KINDS, LatentSampler, code_shape_of
from keras_ae.random import seeded
from keras_ae.training.batches import iterate_batches
from keras_ae.validation import check_array, check_choice, check_float, check_int, check_verbose, short_repr

# "flow" names the masked autoregressive flow too.
KIND_NAMES = (*KINDS, "flow")
DENSITY_KINDS = ("gmm", "maf", "flow")
# Encoder passes of the aggregate posterior's parameters.
_ENCODE_BATCH = 256
# The flow's held-out codes: training stops when their likelihood stops rising. Measured on the
# 8-d codes of a dense auto-encoder of the 1,438 digits (5 steps of (64, 64) MADEs, batches of
# 128): held-out log p(z) -16.41 nats after 25 epochs, -16.44 after 50, -17.30 after 100 and
# -746.7 after 200 (a few test codes where the overfitted flow has no mass), while the training
# codes' rose from -16.06 to -13.92; a 10-component GMM scored -15.73. With early stopping
# (patience 10) the flow kept epoch 50 of 60: held-out -16.31.
VALIDATION_FRACTION = 0.1
_MIN_VALIDATION = 10  # fewer held-out codes than this: no early stopping
# A dataset is read whole (the mixture's EM and the aggregate posterior need every example at
# once); more examples than this is most likely an endless ``repeat()``.
MAX_STREAMED_EXAMPLES = 1_000_000


class _DensityTrainer(keras.Model):
    """Maximum likelihood of a trainable density on codes: the loss is ``-mean log p(z)`` (nats per code)."""

    def __init__(self, density: keras.layers.Layer, **kwargs):
        super().__init__(**kwargs)
        self.density = density
        self.nll_tracker = keras.metrics.Mean(name="nll")

    @property
    def metrics(self):
        return [self.nll_tracker]

    def call(self, z):
        return self.density.log_prob(z)

    def train_step(self, data):
        z = keras.utils.unpack_x_y_sample_weight(data)[0]
        variables = self.density.trainable_variables
        with tf.GradientTape() as tape:
            nll = -tf.reduce_mean(self.density.log_prob(z))
        self.optimizer.apply_gradients(zip(tape.gradient(nll, variables), variables))
        self.nll_tracker.update_state(nll)
        return {"nll": self.nll_tracker.result()}

    def test_step(self, data):
        z = keras.utils.unpack_x_y_sample_weight(data)[0]
        self.nll_tracker.update_state(-tf.reduce_mean(self.density.log_prob(z)))
        return {"nll": self.nll_tracker.result()}


def _check_flow_settings(flow_steps, flow_hidden, epochs, batch_size, learning_rate, patience) -> tuple:
    flow_steps = check_int(flow_steps, "flow_steps", minimum=1)
    if isinstance(flow_hidden, (str, bytes)) or not isinstance(flow_hidden, Sequence) or not flow_hidden:
        raise InputValidationError(
            f"`flow_hidden` must be a non-empty sequence of layer widths, got {short_repr(flow_hidden)}.")
    flow_hidden = tuple(check_int(u, "flow_hidden", minimum=1) for u in flow_hidden)
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    learning_rate = check_float(learning_rate, "learning_rate", minimum=0.0, include_minimum=False)
    patience = None if patience is None else check_int(patience, "patience", minimum=1)
    return flow_steps, flow_hidden, epochs, batch_size, learning_rate, patience


def fit_code_density(codes: np.ndarray, kind: str = "gmm", n_components: int = 10, covariance: str = "full",
                     flow_steps: int = 5, flow_hidden: Sequence[int] = (64, 64), epochs: int = 100,
                     batch_size: int = 128, learning_rate: float = 1e-3, patience: int | None = 10, seed: int = 0,
                     verbose: int = 0) -> tuple[keras.layers.Layer, dict]:
    """Fits a density to code vectors: the density of :func:`fit_latent_sampler`, without an auto-encoder.

    Args:
        codes: Code vectors ``(n, D)`` (converted to float32 and checked for NaN or infinite values).
        kind: ``"gmm"`` (scikit-learn ``GaussianMixture``) or ``"maf"`` / ``"flow"`` (a masked
            autoregressive flow trained by maximum likelihood on the standardized codes).
        n_components: Mixture components (``"gmm"``), at most ``n``.
        covariance: ``"full"`` or ``"diag"`` covariances (``"gmm"``).
        flow_steps: MADEs of the flow (``"maf"``).
        flow_hidden: Hidden widths of each MADE (``"maf"``).
        epochs: Most passes over the codes (``"maf"``).
        batch_size: Codes per training step (``"maf"``).
        learning_rate: Adam's step size (``"maf"``).
        patience: Early stopping (``"maf"``): a random 10% of the codes is held out, training
            stops after ``patience`` epochs without a better held-out likelihood and keeps the
            best weights (a flow overfits a few thousand codes within 100 epochs; see
            :data:`VALIDATION_FRACTION`). ``None``: train on every code for ``epochs``.
        seed: Seeds the fit (EM's initialisation; the flow's weights and batch order), an int in
            ``[0, 2**32 - 1]``; the caller's global random state is left as it was.
        verbose: 1 shows the flow's training progress.

    Returns:
        ``(density, facts)``: the fitted :class:`~keras_ae.models.latent_sampler.densities.GaussianMixtureDensity`
        or :class:`~keras_ae.models.latent_sampler.densities.MaskedAutoregressiveDensity`, and a dict of
        facts about the fit (the flow's mean negative log-likelihood per epoch, ``"nll_history"``, and
        of the held-out codes, ``"val_nll_history"``).

    Example:
        >>> ring = np.random.default_rng(0).normal(size=(300, 2))
        >>> density, facts = fit_code_density(ring, kind="gmm", n_components=2)
        >>> density.log_prob(ring[:3].astype("float32")).shape
        TensorShape([3])
    """
    kind = check_choice(kind, "density kind", DENSITY_KINDS)
    kind = "maf" if kind == "flow" else kind
    codes = check_array(codes, "codes")
    if codes.ndim != 2:
        raise InputValidationError(f"`codes` has shape {codes.shape}; a density is fitted to vectors (n, D).")
    seed = check_int(seed, "seed", minimum=0, maximum=2**32 - 1)
    verbose = check_verbose(verbose)
    n, d = codes.shape
    if kind == "gmm":
        n_components = check_int(n_components, "n_components", minimum=1)
        covariance = check_choice(covariance, "covariance", COVARIANCES)
        if n < n_components:
            raise InputValidationError(
                f"A mixture of n_components={n_components} Gaussians needs at least as many codes, got {n}; pass "
                "more examples or a smaller n_components.")
        density = GaussianMixtureDensity(d, n_components, covariance)  # size bounds before the fit
        return density, _fit_gmm(density, codes, seed)
    settings = _check_flow_settings(flow_steps, flow_hidden, epochs, batch_size, learning_rate, patience)
    if n < 2:
        raise InputValidationError(f"A flow is fitted to at least 2 codes, got {n}.")
    return _fit_maf(codes, *settings, seed=seed, verbose=verbose)


def _fit_gmm(density: GaussianMixtureDensity, codes: np.ndarray, seed: int) -> dict:
    from sklearn.mixture import GaussianMixture  # scikit-learn is imported only when a mixture is fitted

    gmm = GaussianMixture(density.num_components, covariance_type=density.covariance, random_state=seed)
    gmm.fit(codes.astype(np.float64))
    scales = np.linalg.cholesky(gmm.covariances_) if density.covariance == "full" else np.sqrt(gmm.covariances_)
    density.set_parameters(gmm.weights_, gmm.means_, scales)
    return {"converged": bool(gmm.converged_), "em_iterations": int(gmm.n_iter_),
            "train_log_prob": float(gmm.score(codes.astype(np.float64)))}


def _fit_maf(codes: np.ndarray, flow_steps: int, flow_hidden: tuple, epochs: int, batch_size: int,
             learning_rate: float, patience: int | None, seed: int,
             verbose: int) -> tuple[MaskedAutoregressiveDensity, dict]:
    held_out = int(round(VALIDATION_FRACTION * len(codes))) if patience is not None else 0
    order = np.random.default_rng(seed).permutation(len(codes))
    if held_out < _MIN_VALIDATION:
        held_out = 0
    train, validation = codes[order[held_out:]], (codes[order[:held_out]] if held_out else None)
    callbacks = [] if validation is None else [
        keras.callbacks.EarlyStopping(monitor="val_nll", mode="min", patience=patience, restore_best_weights=True)]
    with seeded(seed):  # the MADEs' initial weights and fit's batch order
        density = MaskedAutoregressiveDensity(codes.shape[1], steps=flow_steps, hidden_units=flow_hidden)
        std = train.std(axis=0)
        density.set_standardization(train.mean(axis=0), np.where(std > 0, std, 1.0))
        trainer = _DensityTrainer(density, name="density_trainer")
        trainer.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=False)
        history = trainer.fit(train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose,
                              validation_data=validation, callbacks=callbacks).history
    facts = {"nll_history": [float(v) for v in history["nll"]]}
    if validation is not None:
        facts["val_nll_history"] = [float(v) for v in history["val_nll"]]
        facts["held_out_codes"] = held_out
        facts["best_epoch"] = int(np.argmin(facts["val_nll_history"])) + 1  # its weights are kept
    final = facts.get("val_nll_history", facts["nll_history"])
    if not np.isfinite(min(final)):
        raise InputValidationError(f"The flow's training diverged (negative log-likelihood {final[-1]}); "
                                   "lower learning_rate or use kind='gmm'.")
    return density, facts


def _aggregate_posterior(model, x: np.ndarray, max_codes: int, seed: int) -> tuple[GaussianMixtureDensity, dict]:
    rows = np.sort(np.random.default_rng(seed).choice(len(x), size=min(len(x), max_codes), replace=False))
    locs, scales = [], []
    for start in range(0, len(rows), _ENCODE_BATCH):
        loc, scale = model.posterior_params(x[rows[start:start + _ENCODE_BATCH]])
        locs.append(loc.numpy())
        scales.append(scale.numpy())
    locs, scales = np.concatenate(locs), np.concatenate(scales)
    density = GaussianMixtureDensity(locs.shape[1], len(rows), "diag")
    density.set_parameters(np.ones(len(rows)), locs, scales)
    return density, {"posteriors": len(rows)}


def _read_dataset(model, x: tf.data.Dataset) -> np.ndarray:
    """The examples of a ``tf.data`` dataset (``x`` or ``(x, y)``, batched or not) as one array.

    Each batch is checked as the model's inference methods check it (shape, range, NaN);
    labels are dropped; reading stops with an error past :data:`MAX_STREAMED_EXAMPLES`.
    """
    parts, count = [], 0
    for batch in iterate_batches(x, _ENCODE_BATCH, model._inference_spec("encode"), "x",
                                 where="fit_latent_sampler"):
        parts.append(np.asarray(batch, np.float32))
        count += len(parts[-1])
        if count > MAX_STREAMED_EXAMPLES:
            raise InputValidationError(
                f"fit_latent_sampler reads a dataset whole and stopped after {MAX_STREAMED_EXAMPLES:,} examples: "
                "is it repeated forever? Pass a finite dataset (for example `dataset.take(n)`).")
    if not parts:
        raise InputValidationError("fit_latent_sampler got an empty dataset; it needs examples to fit a density to.")
    return np.concatenate(parts)


def _check_model(model, kind: str) -> tuple[int, ...]:
    if not callable(getattr(model, "codes", None)):
        raise InputValidationError(
            f"A latent sampler fits a density to `model.codes(x)`; {type(model).__name__} has no codes method "
            "(use an auto-encoder or a VAE).")
    code_shape = code_shape_of(model)
    if kind == "aggregate":
        if not callable(getattr(model, "posterior_params", None)):
            raise InputValidationError(
                f"kind='aggregate' samples a VAE's aggregate posterior; {type(model).__name__} has no Gaussian "
                "posterior q(z|x). Use kind='gmm' or 'maf' for other auto-encoders.")
        if getattr(model, "flow", None) is not None:
            raise InputValidationError(
                "kind='aggregate' stores Gaussian posteriors; this VAE's posterior is a flow. Use kind='gmm' or 'maf'.")
    return code_shape


def fit_latent_sampler(model: keras.Model, x: np.ndarray | tf.data.Dataset, kind: str = "gmm", n_components: int = 10,
                       covariance: str = "full", max_codes: int = 10_000, flow_steps: int = 5,
                       flow_hidden: Sequence[int] = (64, 64), epochs: int = 100, batch_size: int = 128,
                       learning_rate: float = 1e-3, patience: int | None = 10, seed: int = 0,
                       verbose: int = 0) -> LatentSampler:
    """Makes a trained auto-encoder generative: a density fitted to its codes of ``x``, decoded by its decoder.

    Every argument is checked before any work, so a refused call leaves ``model`` as it was.

    Args:
        model: A trained auto-encoder (anything with ``codes(x)`` and a ``decoder`` sub-model
            taking one code: the auto-encoder families, an RAE, a VAE; not a class-conditional model).
        x: Training examples ``(n, *example_shape)`` in the model's data range, or a finite
            ``tf.data.Dataset`` of them (``x`` or ``(x, y)``, labels ignored; batched or not),
            read whole, each batch checked like an array.
        kind: ``"gmm"``, ``"maf"`` (alias ``"flow"``), or ``"aggregate"`` for a VAE (see the module docstring).
        n_components: Mixture components (``"gmm"``), at most ``n``.
        covariance: ``"full"`` or ``"diag"`` (``"gmm"``).
        max_codes: Posteriors stored (``"aggregate"``): a random subset of ``x`` of at most this size.
        flow_steps: MADEs of the flow (``"maf"``).
        flow_hidden: Hidden widths of each MADE (``"maf"``).
        epochs: Most passes over the codes (``"maf"``).
        batch_size: Codes per training step (``"maf"``).
        learning_rate: Adam's step size (``"maf"``).
        patience: Early stopping on 10% held-out codes (``"maf"``, see :func:`fit_code_density`);
            ``None``: none.
        seed: Seeds the fit (an int in ``[0, 2**32 - 1]``) and the sampler's random stream.
        verbose: 1 shows the flow's training progress.

    Returns:
        A :class:`~keras_ae.models.latent_sampler.model.LatentSampler`: ``sample(n, seed=)``,
        ``sample_codes``, ``log_prob``; saved with ``model.save("x.keras")``, exported with a
        ``sample`` signature by :func:`keras_ae.export`.

    Raises:
        InputValidationError: a model without codes or decoder (or a conditional one), bad data,
            an unknown ``kind``, ``"aggregate"`` for a model without a Gaussian posterior, or
            fewer codes than ``n_components``.

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> ae.compile()
        >>> _ = ae.fit(x_digits, epochs=1, verbose=0)
        >>> sampler = fit_latent_sampler(ae, x_digits, kind="gmm", n_components=3, seed=0)
        >>> sampler.sample(8, seed=1).shape, sampler.kind
        ((8, 8, 8, 1), 'gmm')

        A VAE sampled from its aggregate posterior instead of its prior:

        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> fit_latent_sampler(vae, x_digits, kind="aggregate", max_codes=100).density.num_components
        100
    """
    kind = check_choice(kind, "latent sampler kind", KIND_NAMES)
    kind = "maf" if kind == "flow" else kind
    code_shape = _check_model(model, kind)
    seed = check_int(seed, "seed", minimum=0, maximum=2**32 - 1)
    verbose = check_verbose(verbose)
    if kind == "gmm":
        n_components = check_int(n_components, "n_components", minimum=1)
        covariance = check_choice(covariance, "covariance", COVARIANCES)
    elif kind == "maf":
        _check_flow_settings(flow_steps, flow_hidden, epochs, batch_size, learning_rate, patience)
    else:
        max_codes = check_int(max_codes, "max_codes", minimum=1)
    example_shape = tuple(getattr(model, "example_shape", model.decoder.output_shape[1:]))
    if isinstance(x, tf.data.Dataset):
        x = _read_dataset(model, x)
    x = check_array(x, "x", expected_shape=example_shape, value_range=getattr(model, "input_range", None),
                    range_hint=getattr(model, "_range_hint", ""))
    if kind == "gmm" and len(x) < n_components:
        raise InputValidationError(
            f"A mixture of n_components={n_components} Gaussians needs at least as many codes, got {len(x)} "
            "examples; pass more examples or a smaller n_components.")
    if kind == "aggregate":
        density, facts = _aggregate_posterior(model, x, max_codes, seed)
        n = len(x)
    else:
        codes = model.codes(x)
        if tuple(codes.shape[1:]) != code_shape:
            raise InputValidationError(f"`model.codes(x)` has shape {codes.shape[1:]} per example but the decoder "
                                       f"takes {code_shape}; a latent sampler needs codes the decoder decodes.")
        codes = check_array(codes.reshape(len(codes), -1), "codes")  # a diverged model's NaN codes stop here
        density, facts = fit_code_density(codes, kind, n_components=n_components, covariance=covariance,
                                          flow_steps=flow_steps, flow_hidden=flow_hidden, epochs=epochs,
                                          batch_size=batch_size, learning_rate=learning_rate, patience=patience,
                                          seed=seed, verbose=verbose)
        n = len(codes)
    info = {"method": f"ex-post density ({kind})", "kind": kind, "examples": int(n), "autoencoder": model.name,
            **facts}
    return LatentSampler(model, density, kind=kind, seed=seed, info=info, name=f"{model.name}_{kind}_sampler")


__all__ = ["fit_code_density", "fit_latent_sampler"]
