"""``build_vae``, the builder of the ``"vae"`` family (``keras-ae train vae``), and its network helpers:
dense or convolutional encoders with a posterior-parameter head, and decoders of ``(latent_dim,)`` codes."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import numpy as np

from keras_ae.models.common import as_image_shape, as_shape, as_units, check_activation
from keras_ae.models.conv import get_conv_decoder, get_conv_encoder
from keras_ae.errors import InputValidationError
from keras_ae.layers.vamp_prior import VampPrior
from keras_ae.models.dense import check_standardize, get_dense_decoder, get_dense_encoder, standardization_layer
from keras_ae.models.vae.conditional_networks import conditional_decoder, conditional_encoder
from keras_ae.models.vae.flow_vae import FlowVAE
from keras_ae.models.vae.flows import FLOWS, PosteriorFlow
from keras_ae.models.vae.model import ARCHITECTURES, LIKELIHOODS, STANDARD_NORMAL, VAE
from keras_ae.registry import register_builder
from keras_ae.validation import check_array, check_choice, check_int, check_num_classes, short_repr


def _features_to_posterior(features: keras.Model, shape: tuple[int, ...], width: int,
                           standardize: np.ndarray | None = None) -> keras.Model:
    """Wraps a user's feature extractor into an encoder with a posterior-parameter head."""
    inputs = keras.Input(shape=shape, name="inputs")
    h = inputs if standardize is None else standardization_layer(standardize)(inputs)
    h = features(h)
    if len(h.shape) > 2:
        h = keras.layers.Flatten()(h)
    params = keras.layers.Dense(width, name="posterior_params")(h)
    return keras.Model(inputs, params, name="encoder")


def _named_decoder(decoder: keras.Model, latent_dim: int, standardize: np.ndarray | None = None) -> keras.Model:
    inputs = keras.Input(shape=(latent_dim,), name="code")
    h = decoder(inputs)
    if standardize is not None:
        h = standardization_layer(standardize, invert=True)(h)
    return keras.Model(inputs, h, name="decoder")


def _conditional_networks(shape: tuple[int, ...], latent_dim: int, num_classes: int, width: int,
                          encoder: str | keras.Model, decoder: str | keras.Model, hidden: Sequence[int],
                          filters: Sequence[int], act: Callable[[str], str],
                          standardize: np.ndarray | None) -> tuple[keras.Model, keras.Model]:
    """The encoder ``[x, labels]`` and decoder ``[z, labels]`` of a conditional VAE (arguments as
    :func:`build_vae`'s; ``act`` maps ``"dense"``/``"conv"`` to the hidden activation)."""
    def kind(network, name: str):
        if isinstance(network, keras.Model):
            return network, "dense"
        check_choice(network, name, ARCHITECTURES)
        if network == "conv":
            as_image_shape(shape, "input_shape", "A convolutional VAE", "use architecture='dense' for vectors")
        return network, network

    enc_kind, enc_act = kind(encoder, "encoder")
    dec_kind, dec_act = kind(decoder, "decoder")
    enc = conditional_encoder(shape, num_classes, width, enc_kind, as_units(hidden, "hidden"),
                              as_units(filters, "filters"), act(enc_act), standardize)
    dec = conditional_decoder(shape, latent_dim, num_classes, dec_kind, tuple(reversed(as_units(hidden, "hidden"))),
                              tuple(reversed(as_units(filters, "filters"))), act(dec_act), standardize)
    return enc, dec


def _vamp_prior(shape: tuple[int, ...], num_pseudo_inputs: int | None, likelihood: str,
                standardize: np.ndarray | None, seed: int | None, examples: np.ndarray | None = None) -> VampPrior:
    """The VampPrior of ``build_vae(prior="vamp")``: pseudo-inputs that start like data.

    With ``examples`` (training examples), the pseudo-inputs start at ``K`` of them drawn with
    ``seed``. Otherwise [0, 1] likelihoods start at N(0.5, 0.1) and are clipped to [0, 1] (the
    paper's hard tanh); a Gaussian likelihood leaves them unbounded, starting at N(0, 1), or at
    random training rows when ``standardize`` holds them (the encoder takes raw units).
    """
    count = 500 if num_pseudo_inputs is None else num_pseudo_inputs  # K = 500: the paper's MNIST setting
    bounded = likelihood != "gaussian"
    prior = VampPrior(count, shape, value_range=(0.0, 1.0) if bounded else None, init_mean=0.5 if bounded else 0.0,
                      init_stddev=0.1 if bounded else 1.0, seed=seed, name="vamp_prior")
    source = examples if examples is not None else standardize
    if source is not None:
        rng = np.random.default_rng(None if prior.seed is None else prior.seed % 2**64)
        rows = rng.permutation(len(source))[:prior.num_pseudo_inputs] if len(source) >= prior.num_pseudo_inputs \
            else rng.integers(len(source), size=prior.num_pseudo_inputs)
        prior.pseudo_inputs.assign(np.asarray(source, np.float32)[rows].reshape(prior.pseudo_inputs.shape))
    return prior


@register_builder("vae")
def build_vae(
    input_shape: int | Sequence[int] = (28, 28, 1),
    latent_dim: int = 50,
    encoder: str | keras.Model = "dense",
    decoder: str | keras.Model | None = None,
    hidden: Sequence[int] = (200, 200),
    filters: Sequence[int] = (32, 64),
    activation: str | None = None,
    likelihood: str = "bernoulli",
    beta: float = 1.0,
    prior: Any = STANDARD_NORMAL,
    dynamic_binarization: bool = False,
    objective: str = "elbo",
    k: int = 1,
    posterior_flow: str | None = None,
    flow_steps: int = 2,
    flow_hidden: Sequence[int] | None = None,
    flow_context_dim: int | None = None,
    min_scale: float = 1e-4,
    max_scale: float = 10.0,
    seed: int | None = None,
    kl_warmup_steps: int = 0,
    name: str = "vae",
    standardize: np.ndarray | None = None,
    num_classes: int | None = None,
    num_pseudo_inputs: int | None = None,
    pseudo_inputs: np.ndarray | None = None,
) -> VAE:
    """A variational auto-encoder; by default the IWAE paper's 784-[200, 200]-50 model.

    Args:
        input_shape: Shape of one example, e.g. ``(28, 28, 1)``.
        latent_dim: Dimension of z (2 for latent scatter plots and the manifold figure).
        encoder: ``"dense"`` (hidden widths ``hidden``), ``"conv"`` (stride-2
            convolutions ``filters``), or a Keras model mapping ``x`` to features; a
            ``Dense(2 * latent_dim)`` posterior head is added to it.
        decoder: ``"dense"``, ``"conv"``, a Keras model mapping ``(latent_dim,)`` to
            ``input_shape`` logits / means, or ``None`` to mirror the encoder
            (``"dense"`` for a custom encoder).
        hidden: Dense encoder widths; the dense decoder mirrors them.
        filters: Convolution channels; the conv decoder mirrors them.
        activation: Hidden activation; ``None`` means ``"elu"`` for dense networks (it reaches the
            IWAE paper's ``"tanh"`` network's test ELBO in about 2.7x fewer epochs) and ``"relu"`` for
            conv networks.
        likelihood: ``"bernoulli"``, ``"continuous_bernoulli"`` or ``"gaussian"``.
        beta: KL weight (1 = the ELBO).
        prior: ``"standard_normal"``, ``"vamp"`` (a :class:`~keras_ae.layers.vamp_prior.VampPrior`,
            Tomczak & Welling 2018: the mixture of the posteriors at ``num_pseudo_inputs`` learned
            pseudo-inputs; unconditional, no flow), a prior layer or a ``tfd.Distribution`` (see :class:`VAE`).
        dynamic_binarization: Re-binarize [0, 1] inputs every step (Bernoulli only).
        objective: ``"elbo"`` or ``"iwae"`` (train on the bound L_k, Burda et al. 2016).
        k: Importance samples of the IWAE objective (1 for the ELBO).
        posterior_flow: ``None`` (diagonal Gaussian posterior), ``"iaf"`` (inverse
            autoregressive flow, Kingma et al. 2016) or ``"realnvp"``: a :class:`FlowVAE`.
        flow_steps: Flow steps, >= 1.
        flow_hidden: Hidden widths of each step's network; ``None`` means ``(4 * latent_dim,)``.
        flow_context_dim: Width of the context ``h`` the encoder passes to the flow
            (0: none); ``None`` means ``latent_dim``.
        min_scale: Floor on the posterior standard deviation.
        max_scale: Ceiling on the posterior standard deviation.
        seed: Seed of the model's sampling stream.
        kl_warmup_steps: Steps over which the KL weight rises linearly to 1 (KL annealing,
            Bowman et al. 2016; 0: none). ELBO only.
        name: Model name.
        standardize: Raw training rows ``(n, columns)`` of a table (``None``: none). The
            encoder starts with a ``keras.layers.Normalization`` adapted on them and the
            decoder ends with its inverse: the VAE takes raw rows, and reconstructions,
            decoded means and samples come back in raw units. p(x|z) is a Gaussian on the
            standardized row (so every column counts equally): the loss, ``elbo`` and
            ``log_likelihood`` are in nats of standardized rows (raw-unit densities differ by
            the constant ``-sum(log std)``). Needs ``likelihood="gaussian"``, a
            ``(columns,)`` ``input_shape`` and a dense or custom (not ``"conv"``) network.
        num_classes: ``K`` for a conditional VAE (Sohn et al. 2015; ``None``: unconditional).
            The encoder takes ``[x, labels]`` and the decoder ``[z, labels]`` (int32 class ids,
            one-hot encoded inside the networks): a dense encoder appends the one-hot label to
            the flattened ``x``, a conv encoder appends it as ``K`` constant channels, a custom
            encoder's features get it before the posterior head; every decoder sees ``z`` and the
            one-hot label concatenated (a custom decoder must take ``(latent_dim + K,)``
            vectors). Train with ``fit(x, y)``; ``sample``, ``elbo``, ``log_likelihood``,
            ``codes``, ``reconstruct`` and ``interpolate`` take ``labels``.
        num_pseudo_inputs: Pseudo-inputs ``K`` of ``prior="vamp"`` (``None``: 500, the paper's
            MNIST setting); refused with any other prior.
        pseudo_inputs: Training examples ``(n, *input_shape)`` the pseudo-inputs of
            ``prior="vamp"`` start from (``K`` of them, drawn with ``seed``); ``None``: noise
            around grey. Measured on mnist10k (784-200-200-50, KL warm-up): after 35 epochs the
            reconstruction term is 110.1 nats from training images against 142.1 from noise.

    Returns:
        A :class:`VAE` (a :class:`FlowVAE` with ``posterior_flow``) with ``.encoder`` and
        ``.decoder`` sub-models.

    Example:
        >>> vae = build_vae((28, 28, 1), latent_dim=50, dynamic_binarization=True)
        >>> vae.encoder.output_shape, vae.decoder.output_shape
        ((None, 100), (None, 28, 28, 1))
        >>> iaf = build_vae((28, 28, 1), latent_dim=50, posterior_flow="iaf", flow_steps=2)
        >>> iaf.encoder.output_shape  # means, stddevs and the flow's context h
        (None, 150)

        A table in raw units:

        >>> rows = np.random.default_rng(0).normal([0.0, 1e4], [1.0, 1e3], (64, 2))
        >>> table_vae = build_vae((2,), latent_dim=1, hidden=(8,), likelihood="gaussian", standardize=rows)
        >>> table_vae.reconstruct(rows[:3]).shape
        (3, 2)

        A conditional VAE of the digits, p(x|y):

        >>> cvae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), num_classes=10)
        >>> cvae.encoder.input_shape, cvae.decoder.input_shape
        ([(None, 8, 8, 1), (None, 1)], [(None, 2), (None, 1)])
        >>> cvae.sample(3, seed=0, labels=[0, 1, 7]).shape
        (3, 8, 8, 1)

        A VampPrior (Tomczak & Welling 2018): p(z) mixes the posteriors at 20 learned pseudo-inputs,
        so the KL term is a Monte Carlo estimate:

        >>> vamp = build_vae((8, 8, 1), latent_dim=2, hidden=(16,), prior="vamp", num_pseudo_inputs=20)
        >>> tuple(vamp.prior_layer.pseudo_inputs.shape), vamp.has_analytic_kl()
        ((20, 8, 8, 1), False)
    """
    shape = as_shape(input_shape)
    latent_dim = check_int(latent_dim, "latent_dim", minimum=1)
    activation = None if activation is None else check_activation(activation)
    check_choice(likelihood, "likelihood", LIKELIHOODS)
    if standardize is not None:
        if likelihood != "gaussian":
            raise InputValidationError(
                "standardize= models standardized real-valued rows: pass likelihood='gaussian', got likelihood="
                f"{short_repr(likelihood)}.")
        standardize = check_standardize(standardize, shape)
        if "conv" in (encoder, decoder):
            raise InputValidationError("standardize= takes table rows: use encoder='dense' (or a Keras model), "
                                       "not 'conv'.")
    if decoder is None:
        decoder = encoder if isinstance(encoder, str) else "dense"
    if isinstance(prior, str) and prior == "vamp":
        examples = None
        if pseudo_inputs is not None:
            examples = check_array(pseudo_inputs, "pseudo_inputs")
            if examples.ndim != len(shape) + 1 or tuple(examples.shape[1:]) != shape or not len(examples):
                raise InputValidationError(f"pseudo_inputs must be training examples of shape (n, *{shape}) with n "
                                           f">= 1, got shape {examples.shape}.")
        prior = _vamp_prior(shape, num_pseudo_inputs, likelihood, standardize, seed, examples)
    elif num_pseudo_inputs is not None or pseudo_inputs is not None:
        given = f"num_pseudo_inputs={short_repr(num_pseudo_inputs)}" if num_pseudo_inputs is not None \
            else "pseudo_inputs"
        raise InputValidationError(f"{given} sets the pseudo-inputs of prior='vamp'; the prior here is another one.")
    flow = None
    if posterior_flow is not None:
        context = latent_dim if flow_context_dim is None else flow_context_dim
        flow = PosteriorFlow(latent_dim, kind=check_choice(posterior_flow, "posterior_flow", FLOWS), steps=flow_steps,
                             hidden_units=(4 * latent_dim,) if flow_hidden is None else as_units(
                                 flow_hidden, "flow_hidden", allow_empty=False),
                             context_dim=context, name="posterior_flow")
    width = 2 * latent_dim + (flow.context_dim if flow is not None else 0)

    # ELU for dense networks: the IWAE paper's tanh held the VAE back. On mnist10k (batch 100, one-sample test
    # ELBO, 60 s of training) the default VAE reached 107.5 nats after 26 epochs with ELU against 72 / 68 with tanh
    # (seeds 1 / 0); SiLU took 36 and ReLU 40. After recipes/vae.py's 500 epochs ELU scores 97.27 / 93.04 / 91.84
    # nats (ELBO / IWAE k=50 / k=5000) against tanh's 100.58 / 96.23 / 94.98.
    def act(kind: str) -> str:
        return activation or ("elu" if kind == "dense" else "relu")

    if num_classes is not None:
        num_classes = check_num_classes(num_classes)
        enc, dec = _conditional_networks(shape, latent_dim, num_classes, width, encoder, decoder, hidden, filters,
                                         act, standardize)
    elif isinstance(encoder, keras.Model):
        enc = _features_to_posterior(encoder, shape, width, standardize)
    elif check_choice(encoder, "encoder", ARCHITECTURES) == "dense":
        enc = get_dense_encoder(shape, hidden, width, act("dense"), standardize=standardize)
    else:
        enc = get_conv_encoder(as_image_shape(shape, "input_shape", "A convolutional VAE",
                                              "use architecture='dense' for vectors"),
                               filters, width, activation=act("conv"))
    if num_classes is not None:
        pass  # built with the encoder
    elif isinstance(decoder, keras.Model):
        dec = _named_decoder(decoder, latent_dim, standardize)
    elif check_choice(decoder, "decoder", ARCHITECTURES) == "dense":
        dec = get_dense_decoder(latent_dim, tuple(reversed(as_units(hidden, "hidden"))), shape, act("dense"), "linear",
                                standardize=standardize)
    else:
        dec = get_conv_decoder(as_image_shape(shape, "input_shape", "A convolutional VAE",
                                              "use architecture='dense' for vectors"),
                               tuple(reversed(as_units(filters, "filters"))), latent_dim,
                               activation=act("conv"), output_activation="linear")
    settings = dict(likelihood=likelihood, beta=beta, prior=prior, dynamic_binarization=dynamic_binarization,
                    objective=objective, k=k, min_scale=min_scale, max_scale=max_scale, seed=seed,
                    kl_warmup_steps=kl_warmup_steps, num_classes=num_classes, name=name)
    if flow is not None:
        return FlowVAE(enc, dec, latent_dim, flow=flow, **settings)
    return VAE(enc, dec, latent_dim, **settings)


def build_vae_variant(cls: type, input_shape: int | Sequence[int], vae_kwargs: dict, refused: Sequence[str] = (),
                      **extra: Any) -> VAE:
    """A ``cls`` (a :class:`VAE` subclass with a loss of its own) on what ``build_vae(input_shape, **vae_kwargs)``
    builds: its networks, prior and settings, plus ``cls``'s own arguments ``extra``.

    Args:
        cls: The VAE subclass (e.g. :class:`~keras_ae.models.vae.beta_tcvae.BetaTCVAE`).
        input_shape: Shape of one example.
        vae_kwargs: :func:`build_vae` arguments.
        refused: ``build_vae`` arguments ``cls`` does not take (e.g. ``"objective"``), refused by name.
        **extra: ``cls``'s own arguments.

    Returns:
        The ``cls`` model.

    Example:
        >>> build_vae_variant(VAE, (8, 8, 1), dict(latent_dim=2, hidden=(8,), beta=4.0)).beta
        4.0
    """
    for key in refused:
        if key in vae_kwargs:
            raise InputValidationError(f"{cls.__name__} takes no {key}= (got {short_repr(vae_kwargs[key])}).")
    vae = build_vae(input_shape, **vae_kwargs)
    prior = vae.prior_layer if vae.prior_layer is not None else vae._fixed_prior
    return cls(vae.encoder, vae.decoder, vae.latent_dim, likelihood=vae.likelihood, beta=vae.beta,
               prior=STANDARD_NORMAL if prior is None else prior, dynamic_binarization=vae.dynamic_binarization,
               min_scale=vae.min_scale, max_scale=vae.max_scale, seed=vae.seed, kl_warmup_steps=vae.kl_warmup_steps,
               num_classes=vae.num_classes, name=vae.name, **extra)
