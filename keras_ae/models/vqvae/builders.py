"""``build_vqvae``, the builder of the ``"vqvae"`` family (``keras-ae train vqvae``), its
convolutional networks, and :func:`get_code_prior`, the gated PixelCNN over code maps."""

from __future__ import annotations

import math

from typing import Sequence

import keras

from keras_ae.errors import InputValidationError
from keras_ae.layers.vector_quantizer import CODEBOOK_UPDATES, VectorQuantizer, check_codebook_size
from keras_ae.models.common import (as_image_shape, as_units, check_example_size, check_layer_budget,
                                   check_parameter_budget)
from keras_ae.models.pixelcnn import CLASS_MAP_CHANNELS, PixelCNN, build_pixelcnn
from keras_ae.models.vqvae.model import LIKELIHOODS, VQVAE
from keras_ae.registry import register_builder
from keras_ae.validation import check_bool, check_float, check_model_seed
from keras_ae.validation import check_choice, check_int


def _residual(h, filters: int, name: str):
    """``h + conv1x1(relu(conv3x3(relu(h))))``: the residual block of the VQ-VAE paper."""
    y = keras.layers.Activation("relu")(h)
    y = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_conv3")(y)
    y = keras.layers.Conv2D(h.shape[-1], 1, name=f"{name}_conv1")(y)
    return keras.layers.Add(name=f"{name}_add")([h, y])


def get_vq_encoder(image_shape: Sequence[int], filters: Sequence[int], code_dim: int,
                   residual_blocks: int = 2) -> keras.Model:
    """Stride-2 4x4 convolutions ``filters``, residual blocks, then a 1x1 convolution to ``code_dim``.

    Args:
        image_shape: ``(h, w, c)`` of one image.
        filters: Feature maps of each stride-2 convolution; each halves the height and width.
        code_dim: Channels of the output code map ``z_e``.
        residual_blocks: Residual blocks (3x3 then 1x1 convolutions, ``filters[-1]`` maps) before the output.

    Returns:
        A functional ``keras.Model`` named ``"encoder"``, ``images -> z_e`` of shape
        ``(h / 2**len(filters), w / 2**len(filters), code_dim)`` (rounded up).

    Example:
        >>> get_vq_encoder((28, 28, 1), (32, 64), 16).output_shape
        (None, 7, 7, 16)
    """
    inputs = keras.Input(image_shape, name="images")
    h = inputs
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, 4, strides=2, padding="same", activation="relu", name=f"down_{i}")(h)
    h = keras.layers.Conv2D(filters[-1], 3, padding="same", name="features")(h)
    for b in range(residual_blocks):
        h = _residual(h, filters[-1], f"residual_{b}")
    h = keras.layers.Activation("relu")(h)
    return keras.Model(inputs, keras.layers.Conv2D(code_dim, 1, name="z_e")(h), name="encoder")


def get_vq_decoder(image_shape: Sequence[int], code_map_shape: Sequence[int], filters: Sequence[int],
                   code_dim: int, residual_blocks: int = 2) -> keras.Model:
    """The encoder mirrored: 3x3 convolution, residual blocks, stride-2 transposed convolutions, logits / means.

    Args:
        image_shape: ``(h, w, c)`` of one image (the output has ``c`` channels).
        code_map_shape: ``(h', w')``, the height and width of the code maps it takes.
        filters: The encoder's feature maps; the transposed convolutions use them in reverse order.
        code_dim: Channels of the quantized code map ``z_q``.
        residual_blocks: Residual blocks after the first 3x3 convolution.

    Returns:
        A functional ``keras.Model`` named ``"decoder"``, ``z_q -> outputs`` of shape
        ``(h' * 2**len(filters), w' * 2**len(filters), c)``, linear (logits or means).

    Example:
        >>> get_vq_decoder((28, 28, 1), (7, 7), (32, 64), 16).output_shape
        (None, 28, 28, 1)
    """
    inputs = keras.Input((*code_map_shape, code_dim), name="z_q")
    h = keras.layers.Conv2D(filters[-1], 3, padding="same", name="features")(inputs)
    for b in range(residual_blocks):
        h = _residual(h, filters[-1], f"residual_{b}")
    h = keras.layers.Activation("relu")(h)
    for i, f in enumerate(reversed(filters)):
        h = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation="relu", name=f"up_{i}")(h)
    outputs = keras.layers.Conv2D(image_shape[-1], 3, padding="same", name="outputs")(h)
    return keras.Model(inputs, outputs, name="decoder")


def get_code_prior(code_map_shape: Sequence[int], num_codes: int, filters: int = 64, blocks: int = 4,
                   dropout: float = 0.0, first_kernel_size: int = 5, seed: int | None = None,
                   num_classes: int | None = None) -> PixelCNN:
    """A gated PixelCNN over ``(h', w')`` maps of ``num_codes`` categories (one-hot inputs, softmax outputs).

    Code ``k`` is stored as the grey level ``k / (num_codes - 1)``: :class:`PixelCNN` with
    ``levels=num_codes`` and ``input_encoding="one_hot"``. The first (5x5) layer takes the
    ``num_codes`` one-hot channels and costs most of the network; with 4 more 3x3 blocks
    every position of a 7x7 map still sees all positions before it. ``num_classes=K`` makes
    it a class-conditional prior ``p(codes | y)`` (the class code and a learned map per class in every gate).

    Args:
        code_map_shape: ``(h', w')``, the height and width of the encoder's code maps.
        num_codes: Codebook size: categories per position (the PixelCNN's ``levels``, >= 2).
        filters: Feature maps of each gated block.
        blocks: Gated blocks after the first layer.
        dropout: Dropout rate inside the blocks during training, in [0, 1).
        first_kernel_size: Kernel size of the first (mask A) layer.
        seed: Seed of the prior's random stream (the seeds its sampler draws when called with
            ``seed=None``); ``None``: unseeded.
        num_classes: ``None`` (unconditional), or ``K`` classes for ``p(codes | y)``.

    Returns:
        A :class:`PixelCNN` named ``"prior"`` over ``(h', w', 1)`` maps with ``levels=num_codes``.

    Raises:
        InputValidationError: settings :func:`~keras_ae.models.pixelcnn.build_pixelcnn` refuses
            (e.g. ``num_codes < 2`` or a negative ``blocks``).

    Example:
        >>> prior = get_code_prior((7, 7), 64, filters=8, blocks=1)
        >>> prior.image_shape, prior.levels
        ((7, 7, 1), 64)
        >>> get_code_prior((7, 7), 64, filters=8, blocks=1, num_classes=10).num_classes
        10
    """
    h, w = code_map_shape
    return build_pixelcnn((h, w, 1), filters=filters, blocks=blocks, gated=True, levels=num_codes,
                          first_kernel_size=first_kernel_size, input_encoding="one_hot", dropout=dropout, seed=seed,
                          name="prior", num_classes=num_classes)


def vqvae_size(image_shape: tuple[int, int, int], num_codes: int, code_dim: int, filters: Sequence[int],
               residual_blocks: int, prior: bool = True, prior_filters: int = 64, prior_blocks: int = 4,
               first_kernel_size: int = 5, num_classes: int | None = None) -> tuple[int, int]:
    """``(parameters, layers)`` of :func:`build_vqvae`'s model (codebook and its EMA copy, networks, prior), counted
    without building it.

    Args:
        image_shape: ``(h, w, c)`` of one image.
        num_codes: Codebook size.
        code_dim: Size of each code vector.
        filters: Feature maps of the encoder's stride-2 convolutions.
        residual_blocks: Residual blocks of the encoder and of the decoder each.
        prior: Whether the model holds the PixelCNN prior over code maps.
        prior_filters: Feature maps of each gated block of the prior.
        prior_blocks: Gated blocks of the prior after its first layer.
        first_kernel_size: Kernel size of the prior's first (mask A) layer.
        num_classes: Classes of a class-conditional prior, or ``None``.

    Returns:
        ``(parameters, layers)``: the weights the model would hold and its layer count.

    Example:
        >>> model = build_vqvae((8, 8, 1), num_codes=8, code_dim=4, filters=(8,), prior=False)
        >>> vqvae_size((8, 8, 1), 8, 4, (8,), 2, prior=False)[0] == model.count_params()
        True
        >>> vqvae_size((28, 28, 1), 128, 16, (32, 64), 2)  # the default model
        (1087729, 41)
    """
    channels, last = image_shape[-1], filters[-1]
    blocks = residual_blocks * 2 * (9 * last * last + last + last * last + last)  # encoder and decoder
    widths = [channels, *filters]
    down = sum(16 * a * b + b for a, b in zip(widths[:-1], widths[1:]))
    up_widths = [last, *reversed(filters)]
    up = sum(16 * a * b + b for a, b in zip(up_widths[:-1], up_widths[1:]))
    networks = (down + 9 * last * last + last + last * code_dim + code_dim  # encoder: stride-2 convs, features, z_e
                + 9 * code_dim * last + last + up + 9 * filters[0] * channels + channels + blocks)
    codebook = 2 * num_codes * code_dim + 2 * num_codes
    parameters, layers = networks + codebook, 2 * (len(filters) + 5 * residual_blocks + 4)
    if prior:  # gated blocks: vertical, link, horizontal and output convolutions; one-hot codes in
        f, k0 = prior_filters, first_kernel_size
        first = ((k0 // 2 + 1) * k0 + k0) * num_codes * 2 * f + 4 * f * f + f * f + 7 * f
        later = (2 * 3 + 3) * f * 2 * f + 4 * f * f + f * f + 7 * f  # 3x3 kernels on f maps
        parameters += first + prior_blocks * later + f * f + f + f * num_codes + num_codes  # and the output head
        layers += prior_blocks + 5
        if num_classes is not None:  # the class maps (ClassMap), and two projections of code + map per gated block
            d, cells = CLASS_MAP_CHANNELS, math.prod(-(-side // 2 ** len(filters)) for side in image_shape[:2])
            parameters += num_classes * cells * d + (prior_blocks + 1) * 2 * (num_classes + d) * 2 * f
            layers += 3
    return parameters, layers


@register_builder("vqvae")
def build_vqvae(
    image_shape: Sequence[int] = (28, 28, 1),
    num_codes: int = 128,
    code_dim: int = 16,
    filters: Sequence[int] = (32, 64),
    residual_blocks: int = 2,
    likelihood: str = "bernoulli",
    beta: float = 0.25,
    codebook_update: str = "ema",
    decay: float = 0.99,
    dead_after: int = 20,
    restart_dead_codes: bool = True,
    dynamic_binarization: bool = False,
    prior: bool = True,
    prior_filters: int = 64,
    prior_blocks: int = 4,
    prior_dropout: float = 0.0,
    seed: int | None = None,
    name: str = "vqvae",
    num_classes: int | None = None,
) -> VQVAE:
    """A VQ-VAE with a gated PixelCNN prior; 28x28 images get 7x7 code maps of 128 codes.

    Args:
        image_shape: ``(height, width[, channels])``; height and width divisible by
            ``2 ** len(filters)`` (each stride-2 convolution halves them).
        num_codes: Codebook size K.
        code_dim: Dimension of each code vector.
        filters: Channels of the stride-2 convolutions (the decoder mirrors them).
        residual_blocks: Residual blocks at the code resolution, in encoder and decoder.
        likelihood: ``"bernoulli"`` (binary data) or ``"gaussian"``.
        beta: Commitment loss weight.
        codebook_update: ``"ema"`` (moving averages) or ``"loss"`` (the codebook loss).
        decay: EMA decay.
        dead_after: Steps without use after which a code is dead (and restarted).
        restart_dead_codes: Re-initialise dead codes from encoder outputs of the batch.
        dynamic_binarization: Re-binarize [0, 1] inputs every step (Bernoulli only).
        prior: Build the PixelCNN prior over the code maps (train it with ``fit_prior``).
        prior_filters: Feature maps of the prior's gated blocks.
        prior_blocks: Gated blocks after the first.
        prior_dropout: Dropout inside the prior's blocks.
        seed: Seed of the codebook initialisation and the model's random streams.
        name: Model name.
        num_classes: ``None``, or ``K`` to make the prior class-conditional, ``p(codes | y)``
            (the auto-encoder itself stays unconditional): train it with ``fit_prior(x, y)``
            and draw a class with ``sample(n, labels=...)``. Needs ``prior=True``.

    Returns:
        A :class:`VQVAE`.

    Example:
        >>> model = build_vqvae((28, 28, 1), num_codes=64)
        >>> model.encoder.output_shape, model.code_map_shape, model.num_codes
        ((None, 7, 7, 16), (7, 7), 64)
        >>> build_vqvae((8, 8, 1), num_codes=8, code_dim=2, filters=(4,), prior_filters=4, num_classes=10).num_classes
        10
    """
    shape = check_example_size(as_image_shape(image_shape, "image_shape", "A VQ-VAE"))
    filters = as_units(filters, "filters", allow_empty=False)
    num_codes, code_dim = check_codebook_size(num_codes, code_dim, codebook_update)  # as the saved quantizer
    residual_blocks = check_int(residual_blocks, "residual_blocks", minimum=0)
    prior_filters = check_int(prior_filters, "prior_filters", minimum=1)
    prior_blocks = check_int(prior_blocks, "prior_blocks", minimum=0)
    num_classes = None if num_classes is None else check_int(num_classes, "num_classes", minimum=1)
    if num_classes is not None and not prior:
        raise InputValidationError("num_classes conditions the prior over the codes: it needs prior=True.")
    # Before 2 ** len(filters) below and before anything is built.
    parameters, layers = vqvae_size(shape, num_codes, code_dim, filters, residual_blocks, bool(prior), prior_filters,
                                    prior_blocks, num_classes=num_classes)
    check_layer_budget(layers, "VQ-VAE", "use fewer filters levels, residual_blocks or prior_blocks")
    check_parameter_budget(parameters, "VQ-VAE", advice="reduce num_codes, code_dim, filters or prior_filters")
    check_choice(likelihood, "likelihood", LIKELIHOODS)
    check_choice(codebook_update, "codebook_update", CODEBOOK_UPDATES)
    prior = check_bool(prior, "prior")
    seed = check_model_seed(seed)
    prior_dropout = check_float(prior_dropout, "prior_dropout", 0.0, 1.0, include_maximum=False)
    factor = 2 ** len(filters)
    if shape[0] % factor or shape[1] % factor:
        raise InputValidationError(
            f"image_shape {shape[:2]} is not divisible by 2 ** len(filters) = {factor}: the decoder could not "
            "return the input size. Pad or crop the images, or use fewer filters (fewer stride-2 layers).")
    code_map_shape = (shape[0] // factor, shape[1] // factor)
    encoder = get_vq_encoder(shape, filters, code_dim, residual_blocks)
    decoder = get_vq_decoder(shape, code_map_shape, filters, code_dim, residual_blocks)
    quantizer = VectorQuantizer(num_codes, code_dim, beta=beta, codebook_update=codebook_update, decay=decay,
                                dead_after=dead_after, restart_dead_codes=restart_dead_codes, seed=seed,
                                name="quantizer")
    code_prior = get_code_prior(code_map_shape, num_codes, prior_filters, prior_blocks, prior_dropout,
                                seed=seed, num_classes=num_classes) if prior else None
    return VQVAE(encoder, decoder, quantizer, prior=code_prior, likelihood=likelihood,
                 dynamic_binarization=dynamic_binarization, seed=seed, name=name)
