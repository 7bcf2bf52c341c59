"""The :class:`RealNVP` normalizing flow (Dinh et al. 2017) on 8-bit images.

Data, and what the likelihood means. The model scores 8-bit images ``x``: float arrays
holding ``k / 255`` (``k`` in 0..255; uint8 arrays are divided by 255 first). A flow is a
density on continuous values, so ``x`` is *dequantized*: ``y = (k + u) / 256`` with
``u ~ U[0, 1)^D`` fills the bin of ``k``. The probability of the discrete image is the
density integrated over its bin, and by Jensen's inequality (Theis et al. 2016;
Ho et al. 2019)::

    log P(x) = log E_u[p_Y((k + u) / 256)] - D log 256
            >= E_u[log p_Y((k + u) / 256)] - D log 256,

``D = height * width * channels``. :meth:`RealNVP.log_likelihood` estimates the right
side (nats per image) with ``num_samples`` draws of ``u``, and
``bits_per_dim = -log_likelihood / (D log 2)``: the number published for flows on
MNIST and CIFAR-10 (RealNVP 1.06 bits/dim on MNIST).

The density of ``y`` is exact: the logit transform (a ``tfp.bijectors`` chain)
``h = logit(alpha + (1 - 2 alpha) y)`` and the flow ``z = f(h)`` give, by the change of
variables,

    log p_Y(y) = log N(z; 0, I) + log |det df/dh| + sum log((1 - 2 alpha) / (s (1 - s))),
    s = alpha + (1 - 2 alpha) y.

``f`` is Dinh et al.'s multi-scale architecture: per scale, affine couplings with
checkerboard masks, a squeeze (2x2 blocks of pixels to channels), couplings with channel
masks, then half of the channels is factored out to the Gaussian; the last scale has
checkerboard couplings only. The latent ``z`` of an image is one flat vector of ``D``
numbers (the factored-out parts, scale by scale, then the last scale's output).

:meth:`RealNVP.encode` and :meth:`RealNVP.decode` are the bijection between 8-bit images
(at the centres of their bins) and latents; :meth:`RealNVP.forward` /
:meth:`RealNVP.inverse` the exact one between continuous ``y`` and ``z``.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from keras_ae.errors import InputValidationError
from keras_ae.layers.coupling import AffineCoupling
from keras_ae.models.common import (as_image_shape, check_example_size, check_int, check_layer_budget,
                                   check_parameter_budget, check_size)
from keras_ae.models.flow.likelihood import BINS, LOG2, RealNVPLikelihood
from keras_ae.models.flow.networks import (coupling_network_layer_count, coupling_network_parameter_count,
                                           get_coupling_network)
from keras_ae.models.flow.sampling import RealNVPSampling
from keras_ae.models.flow.serving import RealNVPServing
from keras_ae.validation import MAX_SCALES
from keras_ae.registry import register_family
from keras_ae.validation import check_model_seed
from keras_ae.training import DataSpec, Trainer
from keras_ae.training.batches import compiled
from keras_ae.random import batch_noise, next_stateless_seed
from keras_ae.replicas import nonempty_batch
from keras_ae.validation import check_array, check_on_grid

tfb = tfp.bijectors

RANGE_HINT = "RealNVP scores 8-bit images: pass uint8 arrays, or floats k / 255 (x.astype('float32') / 255)."
# Fixed dequantization noise of validation and test steps: evaluate() is deterministic.
_EVAL_SEED = (1234, 0)


def logit_bijector(alpha: float) -> tfb.Bijector:
    """``y -> logit(alpha + (1 - 2 alpha) y)``: data in [0, 1] to the real line (Dinh et al. Sec. 4.1).

    Args:
        alpha: The margin in [0, 0.5) that keeps 0 and 1 away from the logit's infinities.

    Returns:
        A ``tfp.bijectors.Chain`` named ``"logit"``.

    Example:
        >>> b = logit_bijector(0.05)  # Dinh et al.'s margin
        >>> round(float(b.forward(0.5)), 6), round(float(b.inverse(b.forward(0.3))), 6)
        (0.0, 0.3)
    """
    return tfb.Chain([tfb.Invert(tfb.Sigmoid()), tfb.Shift(alpha), tfb.Scale(1.0 - 2.0 * alpha)], name="logit")


def realnvp_size(image_shape: tuple[int, int, int], scales: int, couplings: int, final_couplings: int, filters: int,
                 blocks: int) -> tuple[int, int]:
    """``(parameters, layers)`` of a :class:`RealNVP`, counted without building it.

    Example:
        >>> flow = build_realnvp((8, 8, 1), filters=8, blocks=1)
        >>> realnvp_size((8, 8, 1), 2, 3, 4, 8, 1)[0] == flow.count_params()
        True
    """
    channels, parameters, n_couplings = image_shape[-1], 0, 0
    for scale in range(scales):
        last = scale == scales - 1
        n_checker = final_couplings if last else couplings
        # checkerboard: the image and its mask in, log-scales and shifts of every channel out
        parameters += n_checker * (coupling_network_parameter_count(channels + 1, channels, filters, blocks) + channels)
        n_couplings += n_checker
        if not last:
            channels *= 4  # the squeeze
            half = channels // 2
            parameters += couplings * (coupling_network_parameter_count(half, half, filters, blocks) + half)
            n_couplings += couplings
            channels = half  # half goes to z
    return parameters, n_couplings * coupling_network_layer_count(blocks)


def _squeeze(h):
    return tf.nn.space_to_depth(h, 2)


def _unsqueeze(h):
    return tf.nn.depth_to_space(h, 2)


@register_family("flow", serving_default="log_likelihood")
class RealNVP(RealNVPLikelihood, RealNVPSampling, RealNVPServing, Trainer, keras.Model):
    """A multi-scale RealNVP flow with exact log-densities, sampling and the bijection.

    Args:
        image_shape: ``(height, width[, channels])``; height and width divisible by
            ``2 ** (scales - 1)``.
        scales: Number of scales; each but the last squeezes and factors out half.
        couplings: Checkerboard couplings, then channel couplings, per scale but the last.
        final_couplings: Checkerboard couplings of the last scale.
        filters: Feature maps of the coupling ResNets.
        blocks: Residual blocks per coupling ResNet.
        alpha: The logit transform's margin, in (0, 0.5): ``logit(alpha + (1 - 2 alpha) y)``.
        seed: Seed of the model's random stream (training dequantization, ``seed=None`` draws).
        info: JSON-serializable facts kept with the model.

    Example:
        >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
        >>> x = np.arange(64, dtype=np.uint8).reshape(1, 8, 8, 1)  # an 8-bit image (floats k / 255 work too)
        >>> flow.log_likelihood(x).shape, flow.encode(x).shape  # nats per image; latents (n, D)
        ((1,), (1, 64))
        >>> np.array_equal(flow.decode(flow.encode(x)), x / np.float32(255))  # the bijection
        True

        Training on 8-bit MNIST (minutes on a CPU, so not run here):

        ```python
        flow = build_realnvp((28, 28, 1), filters=64, blocks=1)
        flow.compile(optimizer=keras.optimizers.Adam(1e-3))
        history = flow.fit(x_train, epochs=20, batch_size=64)  # loss: bits/dim; also nll (nats/image)
        print(flow.bits_per_dim(x_test, num_samples=4).mean())
        ```
    """

    loss_refusal = "RealNVP owns its loss (the dequantized NLL in bits/dim); don't pass loss= to compile()."

    def __init__(self, image_shape, scales: int = 2, couplings: int = 3, final_couplings: int = 4, filters: int = 64,
                 blocks: int = 2, alpha: float = 1e-5, seed: int | None = None, info: dict | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.image_shape = check_example_size(
            as_image_shape(image_shape, what="RealNVP", alternative="a flow on vectors is not built in"))
        self.scales = check_size(scales, "scales", MAX_SCALES, "each scale but the last halves height and width")
        self.couplings = check_int(couplings, "couplings", minimum=1)
        self.final_couplings = check_int(final_couplings, "final_couplings", minimum=1)
        self.filters = check_int(filters, "filters", minimum=1)
        self.blocks = check_int(blocks, "blocks", minimum=0)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 < alpha < 0.5:
            raise InputValidationError(f"`alpha` must be a number in (0, 0.5), got {alpha!r}.")
        self.alpha = float(alpha)
        self.seed = check_model_seed(seed)
        object.__setattr__(self, "info", dict(info or {}))
        h, w, c = self.image_shape
        factor = 2 ** (self.scales - 1)
        if h % factor or w % factor:
            raise InputValidationError(
                f"{self.scales} scales squeeze {self.scales - 1} time(s): height and width must be divisible by "
                f"{factor}, got {h}x{w}. Use fewer scales or pad the images.")
        # Sizes a saved config declares are bounded here, before any coupling network is built.
        parameters, layers = realnvp_size(self.image_shape, self.scales, self.couplings, self.final_couplings,
                                          self.filters, self.blocks)
        check_layer_budget(layers, "RealNVP", "reduce scales, couplings, final_couplings or blocks")
        check_parameter_budget(parameters, "RealNVP", advice="reduce filters, blocks or the number of couplings")
        self.flow_layers, plan = [], []
        shape = (h, w, c)
        for scale in range(self.scales):
            last = scale == self.scales - 1
            steps = []
            for i in range(self.final_couplings if last else self.couplings):
                steps.append(self._add_coupling(shape, "checkerboard", i % 2, f"s{scale}_checker_{i}"))
            if not last:
                shape = (shape[0] // 2, shape[1] // 2, 4 * shape[2])
                squeezed = []
                for i in range(self.couplings):
                    squeezed.append(self._add_coupling(shape, "channel", i % 2, f"s{scale}_channel_{i}"))
                steps = (steps, squeezed, shape)
                shape = (shape[0], shape[1], shape[2] // 2)  # half the channels go to z
            plan.append(steps)
        object.__setattr__(self, "_plan", plan)  # indices into flow_layers, per scale
        self.bijector = logit_bijector(self.alpha)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="flow_seed")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")
        object.__setattr__(self, "_compiled", {})
        self.built = True  # every coupling network is a functional model, built at construction

    def _add_coupling(self, shape, mask: str, parity: int, name: str) -> int:
        h, w, c = shape
        if mask == "checkerboard":
            net = get_coupling_network((h, w, c + 1), c, self.filters, self.blocks, name=f"{name}_net")
        else:
            net = get_coupling_network((h, w, c // 2), c // 2, self.filters, self.blocks, name=f"{name}_net")
        self.flow_layers.append(AffineCoupling(net, mask=mask, parity=parity, name=name))
        return len(self.flow_layers) - 1

    def get_config(self) -> dict:
        config = super().get_config()  # name, trainable, dtype (policy)
        config.update(image_shape=list(self.image_shape), scales=self.scales, couplings=self.couplings,
                      final_couplings=self.final_couplings, filters=self.filters, blocks=self.blocks,
                      alpha=self.alpha, seed=self.seed, info=self.info)
        return config

    def build(self, input_shape=None):
        self.built = True

    @property
    def num_dims(self) -> int:
        """``D``, the dimensions of one image (for bits/dim)."""
        return int(np.prod(self.image_shape))

    # -- the bijection y <-> z ---------------------------------------------------------------
    def forward(self, y) -> tuple[tf.Tensor, tf.Tensor]:
        """Continuous images ``y`` in (0, 1) to latents: ``(z (batch, D), log |det dz/dy| (batch,))``.

        The log-det includes the logit transform's.

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> z, log_det = flow.forward(tf.fill((2, 8, 8, 1), 0.5))
            >>> z.shape, log_det.shape
            (TensorShape([2, 64]), TensorShape([2]))
        """
        y = tf.cast(y, tf.float32)
        h = self.bijector.forward(y)
        log_det = self.bijector.forward_log_det_jacobian(y, event_ndims=3)
        zs = []
        for steps in self._plan:
            if isinstance(steps, tuple):
                checker, channel, _ = steps
                for i in checker:
                    h, ld = self.flow_layers[i].forward(h)
                    log_det += ld
                h = _squeeze(h)
                for i in channel:
                    h, ld = self.flow_layers[i].forward(h)
                    log_det += ld
                half = h.shape[-1] // 2
                zs.append(tf.reshape(h[..., half:], (-1, int(np.prod(h.shape[1:])) // 2)))
                h = h[..., :half]
            else:
                for i in steps:
                    h, ld = self.flow_layers[i].forward(h)
                    log_det += ld
                zs.append(tf.reshape(h, (-1, int(np.prod(h.shape[1:])))))
        return tf.concat(zs, axis=-1), log_det

    def inverse(self, z) -> tf.Tensor:
        """Latents ``(batch, D)`` to continuous images ``y`` (the inverse of :meth:`forward`).

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> y = tf.random.uniform((2, 8, 8, 1), 0.1, 0.9)
            >>> bool(tf.reduce_max(tf.abs(flow.inverse(flow.forward(y)[0]) - y)) < 1e-5)
            True
        """
        z = tf.cast(z, tf.float32)
        n = tf.shape(z)[0]
        # Split z into the factored-out parts and the last scale's output.
        sizes, shapes = [], []
        for steps in self._plan:
            if isinstance(steps, tuple):
                sh, sw, sc = steps[2]
                shapes.append((sh, sw, sc // 2))
            else:
                shapes.append(shapes[-1] if shapes else self.image_shape)
            sizes.append(int(np.prod(shapes[-1])))
        parts = tf.split(z, sizes, axis=-1)
        h = tf.reshape(parts[-1], (n, *shapes[-1]))
        for steps, part, shape in reversed(list(zip(self._plan, parts, shapes))):
            if isinstance(steps, tuple):
                checker, channel, _ = steps
                h = tf.concat([h, tf.reshape(part, (n, *shape))], axis=-1)
                for i in reversed(channel):
                    h = self.flow_layers[i].inverse(h)[0]
                h = _unsqueeze(h)
                for i in reversed(checker):
                    h = self.flow_layers[i].inverse(h)[0]
            else:
                for i in reversed(steps):
                    h = self.flow_layers[i].inverse(h)[0]
        return self.bijector.inverse(h)

    # -- densities ----------------------------------------------------------------------------
    def log_density(self, y) -> tf.Tensor:
        """Exact ``log p_Y(y)`` of continuous images ``y`` in (0, 1), nats per image (float32 ``(batch,)``).

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> flow.log_density(tf.fill((3, 8, 8, 1), 0.5)).shape
            TensorShape([3])
        """
        z, log_det = self.forward(y)
        base = -0.5 * tf.reduce_sum(tf.square(z), axis=-1) - 0.5 * self.num_dims * math.log(2.0 * math.pi)
        return base + log_det

    def dequantize(self, x, noise) -> tf.Tensor:
        """``y = (k + u) / 256`` for 8-bit images ``x = k / 255`` and noise ``u`` in [0, 1).

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> float(flow.dequantize(tf.ones((1, 8, 8, 1)), tf.fill((1, 8, 8, 1), 0.5))[0, 0, 0, 0])
            0.998046875
        """
        k = tf.round(tf.cast(x, tf.float32) * (BINS - 1))
        return (k + tf.cast(noise, tf.float32)) / BINS

    def log_prob(self, x, noise=None, seed=(0, 0)) -> tf.Tensor:
        """One-draw estimate of the dequantization bound on ``log P(x)``, nats per image.

        ``log p_Y((k + u) / 256) - D log 256`` (see the module docstring); its mean over
        ``u`` is the bound :meth:`log_likelihood` reports.

        Args:
            x: Tensor of 8-bit images ``k / 255``, ``(batch, h, w, c)`` (not checked: see
                :meth:`log_likelihood` for checked input).
            noise: The dequantization noise ``u`` in [0, 1), shaped like ``x``; ``None``
                draws it from ``seed``.
            seed: Stateless seed pair for the noise.

        Returns:
            float32 ``(batch,)``.

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> flow.log_prob(tf.zeros((2, 8, 8, 1))).shape
            TensorShape([2])
        """
        x = tf.cast(x, tf.float32)
        if noise is None:
            noise = tf.random.stateless_uniform(tf.shape(x), seed=tf.cast(seed, tf.int32))
        return self.log_density(self.dequantize(x, noise)) - self.num_dims * math.log(BINS)

    def call(self, inputs, training=False):
        """Latents of 8-bit images at the centres of their bins (what :meth:`encode` returns)."""
        return self.forward(self.dequantize(inputs, tf.fill(tf.shape(inputs), 0.5)))[0]

    # -- input checks --------------------------------------------------------------------------
    def validate_images(self, x, name: str = "x") -> np.ndarray:
        """8-bit images as float32 ``k / 255``: uint8 arrays are divided by 255, floats must be on that grid.

        Raises:
            InputValidationError: for a wrong shape, NaN/inf, values outside [0, 1] or off
                the grid of 256 levels.

        Example:
            >>> flow = build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1)
            >>> float(flow.validate_images(np.full((1, 8, 8, 1), 255, np.uint8)).max())
            1.0
            >>> flow.validate_images(np.full((1, 8, 8, 1), 0.5))
            Traceback (most recent call last):
            ...
            keras_ae.errors.InputValidationError: `x` has values off the 8-bit grid of 256 levels, ... (e.g. 0.5). ...
        """
        if isinstance(x, np.ndarray) and x.dtype == np.uint8:
            x = x.astype(np.float32) / (BINS - 1)
        x = check_array(x, name, value_range=(0.0, 1.0), range_hint=RANGE_HINT)
        if x.ndim == 3 and self.image_shape[-1] == 1:
            x = x[..., None]
        if x.shape[1:] != self.image_shape:
            raise InputValidationError(
                f"`{name}` has per-image shape {x.shape[1:]}; the model expects {self.image_shape}.")
        return check_on_grid(x, BINS, name, RANGE_HINT)

    def check_data(self, x, y, names, training: bool):
        """``fit``/``evaluate`` hook: 8-bit images only (see :meth:`validate_images`; ``y`` is
        refused by ``fit``: ``data_spec`` has no targets)."""
        return self.validate_images(x, names[0]), None

    def data_spec(self, training: bool) -> DataSpec:
        """``fit``/``evaluate`` hook: image batches in [0, 1] on the grid k / 255."""
        return DataSpec(self.image_shape, (0.0, 1.0), RANGE_HINT, levels=BINS)

    def _inference_spec(self) -> DataSpec:
        """What a dataset fed to :meth:`encode` or :meth:`log_likelihood` holds: 8-bit images, labels ignored."""
        return DataSpec(self.image_shape, (0.0, 1.0), RANGE_HINT, targets="ignored", levels=BINS)

    # -- training --------------------------------------------------------------------------------
    @property
    def metrics(self):
        return [self.loss_tracker, self.nll_tracker, self.bpd_tracker]

    def compute_losses(self, x, noise, training: bool = False) -> dict[str, tf.Tensor]:
        """Loss terms of one batch (float32): ``loss`` (bits per dimension, + layer losses),
        ``nll`` (nats per image) and ``bits_per_dim`` of ``x`` dequantized by ``noise``.

        ``training`` is the hook signature every family shares; the coupling networks hold no
        batch statistics or dropout, so both modes compute the same.
        """
        nll = -tf.reduce_mean(self.log_prob(x, noise))
        bpd = nll / (self.num_dims * LOG2)
        loss = bpd
        if self.losses:  # layer regularizers
            loss = loss + tf.add_n([tf.cast(penalty, tf.float32) for penalty in self.losses])
        return {"loss": loss, "nll": nll, "bits_per_dim": bpd}

    def train_step(self, data):
        # Under tf.distribute an empty replica batch becomes one example weighted 0.
        x, batch = nonempty_batch(keras.utils.unpack_x_y_sample_weight(data)[0])
        x = tf.cast(x, tf.float32)
        # Fresh dequantization noise every step, drawn per example of the global batch:
        # a mirrored step equals one device.
        noise = batch_noise("uniform", tf.shape(x), next_stateless_seed(self.seed_generator))
        return self.minimize(lambda: self.compute_losses(x, noise, training=True), batch)

    def test_step(self, data):
        x, batch = nonempty_batch(keras.utils.unpack_x_y_sample_weight(data)[0])
        x = tf.cast(x, tf.float32)
        noise = batch_noise("uniform", tf.shape(x), tf.constant(_EVAL_SEED, tf.int32))
        return self.update_trackers(self.compute_losses(x, noise, training=False), batch)

    # -- compiled steps, shared by the likelihood and the bijection on 8-bit images --------
    def _compiled_fn(self, key: str, fn, spec):
        # No tensor-dependent Python control flow: AutoGraph has nothing to convert.
        return compiled(self._compiled, key, fn, spec, autograph=False)


__all__ = ["BINS", "RealNVP", "logit_bijector"]
