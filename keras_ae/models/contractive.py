"""Contractive auto-encoders (Rifai et al. 2011): penalise the encoder's Jacobian.

The loss is ``reconstruction + contraction * mean_i ||df(x_i)/dx_i||_F^2``: the code
may follow only the directions the data needs for reconstruction (the manifold's
tangent directions) and becomes insensitive to all others. How the Frobenius norm is
computed is chosen per encoder (see :mod:`keras_ae.jacobian`): in closed form for one
dense layer, exactly when the Jacobian is small, by random projections otherwise.

Rifai et al. tie the decoder to the encoder (``tied=True``): with an untied decoder the
penalty can be lowered by shrinking the code and scaling the decoder's weights up.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_ae.data.corruption import Corruption
from keras_ae.errors import InputValidationError
from keras_ae.jacobian import DEFAULT_MEMORY_LIMIT, JacobianPenalty
from keras_ae.models.base import AutoEncoder
from keras_ae.models.reconstruction import reconstruction_loss
from keras_ae.models.common import as_shape, as_units, output_activation_for
from keras_ae.models.conv import get_conv_decoder, get_conv_encoder
from keras_ae.models.dense import get_dense_decoder, get_dense_encoder
from keras_ae.models.tied import get_tied_decoder
from keras_ae.validation import check_choice
from keras_ae.registry import register_builder, register_family


@register_family("contractive")
class ContractiveAutoEncoder(AutoEncoder):
    """An :class:`AutoEncoder` with the contractive penalty ``lambda ||J_f(x)||_F^2``.

    Args:
        encoder: The encoder; dense chains (Flatten/Dense/Activation) get the fast paths.
        decoder: The decoder (omit it with ``tied_decoder``).
        contraction: The penalty weight ``lambda`` (reported as ``contraction`` in the
            history: ``lambda`` times the batch mean of ``||J||_F^2``).
        jacobian: ``"auto"``, ``"closed_form"``, ``"exact"`` or ``"stochastic"``.
        n_projections: Random projections per example for ``"stochastic"``.
        jacobian_memory_limit: Bytes the exact Jacobian may take; larger batches are
            refused with the estimated size (``None``: no limit).
        tied_decoder: If given (``{"activation": ..., "output_activation": ...}``), the
            decoder is the encoder's transpose (``get_tied_decoder``), rebuilt on load.
        seed: Seed of the random projections.
        **kwargs: Passed to :class:`AutoEncoder` (``loss``, ``corruption``, ``name``...).

    Example:
        >>> model = build_contractive_ae((8, 8, 1), hidden=(16,), code_dim=4, contraction=1e-3)
        >>> model.compile()
        >>> history = model.fit(x_digits, epochs=1, verbose=0)
        >>> sorted(history.history)
        ['contraction', 'loss', 'reconstruction']
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model | None = None,
        contraction: float = 1e-3,
        jacobian: str = "auto",
        n_projections: int = 1,
        jacobian_memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
        tied_decoder: dict | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ):
        if tied_decoder is not None:
            decoder = get_tied_decoder(encoder, **tied_decoder)
        elif decoder is None:
            raise InputValidationError("ContractiveAutoEncoder needs a decoder (or tied_decoder={...}).")
        if not np.isfinite(contraction) or contraction < 0:
            raise InputValidationError(f"contraction must be a finite number >= 0, got {contraction}.")
        # Keras locks a model's state once built, and AutoEncoder.__init__ ends by building
        # it: settings are plain attributes set first, the tracker is created in build().
        # The projections' random state is not worth saving and the penalty object only
        # refers to the encoder's layers, so neither is tracked either.
        settings = dict(
            contraction=float(contraction), jacobian_method=jacobian, seed=seed,
            tied_decoder=dict(tied_decoder) if tied_decoder is not None else None,
            jacobian_penalty=JacobianPenalty(encoder, jacobian, n_projections, jacobian_memory_limit),
            seed_generator=keras.random.SeedGenerator(seed),
        )
        for key, value in settings.items():
            object.__setattr__(self, key, value)
        super().__init__(encoder, decoder, **kwargs)

    def build(self, input_shape=None):
        if "contraction" not in self.penalty_trackers:
            self.add_penalty_tracker("contraction")
        super().build(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        if self.tied_decoder is not None:  # rebuilt from the encoder's kernels: the key stays, holding None
            config["decoder"] = None
        penalty = self.jacobian_penalty
        config.update({
            "contraction": self.contraction, "jacobian": self.jacobian_method,
            "n_projections": penalty.n_projections, "jacobian_memory_limit": penalty.memory_limit,
            "tied_decoder": self.tied_decoder, "seed": self.seed,
        })
        return config

    @property
    def resolved_jacobian(self) -> str:
        """The method actually used (what ``"auto"`` chose for this encoder)."""
        return self.jacobian_penalty.method

    # -- the penalty ---------------------------------------------------------------------
    def compute_penalties(self, inputs, code, training: bool = False, outputs=None) -> dict[str, tf.Tensor]:
        """Adds ``contraction = lambda * mean ||J||_F^2`` to the base penalties.

        ``outputs`` are the encoder's layer outputs when the caller already has them
        (deep dense encoders), so the penalty reuses the reconstruction's forward pass.
        """
        penalties = super().compute_penalties(inputs, code, training)
        if self.contraction == 0:
            penalties["contraction"] = tf.zeros((), tf.float32)
            return penalties
        sq = self.jacobian_penalty.squared_norms(inputs, code=code, outputs=outputs, seed=self.seed_generator,
                                                 training=training)
        penalties["contraction"] = self.contraction * tf.reduce_mean(sq)
        return penalties

    def compute_losses(self, x, target, training: bool = False) -> dict[str, tf.Tensor]:
        if self.contraction == 0 or not self.jacobian_penalty.shares_forward:
            return super().compute_losses(x, target, training)
        # Deep dense encoders: one pass through the encoder's own layers gives the code
        # and the hidden outputs the penalty needs (the base class would discard them).
        inputs = self.corruption(x, training=training) if self.corruption is not None else x
        code, outputs = self.jacobian_penalty.forward(inputs, training=training)
        output = self.decoder(code, training=training)
        rec = tf.reduce_mean(reconstruction_loss(target, output, self.loss_kind))
        terms = {"reconstruction": rec, **self.compute_penalties(inputs, code, training, outputs=outputs)}
        total = tf.add_n(list(terms.values()))
        if self.losses:
            total = total + tf.add_n([tf.cast(loss, tf.float32) for loss in self.losses])
        return {"loss": total, **terms}

    def fit(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """``AutoEncoder.fit``; first refuses an exact Jacobian that would not fit in memory.

        Example:
            >>> model = build_contractive_ae((8, 8, 1), hidden=(16,), code_dim=4, jacobian="exact",
            ...                              jacobian_memory_limit=10_000)
            >>> model.compile()
            >>> model.fit(x_digits, batch_size=128)
            Traceback (most recent call last):
            ...
            keras_ae.jacobian.JacobianTooLargeError: The exact Jacobian (batch 128 x code 4 x input 64, float32)
            needs ...
        """
        self.jacobian_penalty.check_memory(_batch_size_of(x, batch_size))
        return super().fit(x, y, batch_size, *args, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """``AutoEncoder.evaluate`` with the same memory check as :meth:`fit`."""
        self.jacobian_penalty.check_memory(_batch_size_of(x, batch_size))
        return super().evaluate(x, y, batch_size, *args, **kwargs)


def _batch_size_of(x, batch_size: int | None) -> int | None:
    if isinstance(x, tf.data.Dataset):
        first = tf.nest.flatten(x.element_spec)[0]
        return first.shape[0] if first.shape.rank else None
    if isinstance(x, (np.ndarray, list)) or tf.is_tensor(x):
        return min(batch_size or 32, len(x))
    return batch_size


@register_builder("contractive")
def build_contractive_ae(
    input_shape: int | Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (),
    code_dim: int = 500,
    activation: str = "sigmoid",
    code_activation: str = "sigmoid",
    contraction: float = 1e-3,
    jacobian: str = "auto",
    n_projections: int = 1,
    tied: bool = False,
    loss: str = "bce",
    output_activation: str | None = None,
    architecture: str = "dense",
    filters: Sequence[int] = (32, 32),
    corruption: Corruption | None = None,
    jacobian_memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    seed: int | None = None,
    name: str = "contractive_ae",
) -> ContractiveAutoEncoder:
    """A contractive auto-encoder; by default Rifai et al.'s one sigmoid layer (closed form).

    Args:
        input_shape: Shape of one example.
        hidden: Dense encoder hidden widths before the code (the decoder mirrors them).
        code_dim: Code size (may be overcomplete).
        activation: Hidden activation.
        code_activation: Code activation (sigmoid, tanh, relu, softplus, elu, linear
            keep the dense fast paths).
        contraction: Penalty weight ``lambda`` on ``||J||_F^2``. The reconstruction loss is
            a per-pixel mean, so useful values are ~``1e-4``-``1e-2`` for 784 pixels.
        jacobian: ``"auto"`` (default), ``"closed_form"`` (one dense layer), ``"exact"``,
            or ``"stochastic"`` (``n_projections`` random projections per example).
        n_projections: Projections per example for ``"stochastic"``.
        tied: Decoder kernels are the encoder's transposed (dense only; as in Rifai et al.).
        loss: ``"bce"`` or ``"mse"``.
        output_activation: Override the output activation implied by ``loss``.
        architecture: ``"dense"`` or ``"conv"`` (``filters`` + a dense ``code_dim`` code;
            penalised with ``exact`` / ``stochastic``).
        filters: Conv filters per block (``architecture="conv"``).
        corruption: Optional training-time corruption (a contractive denoiser).
        jacobian_memory_limit: Bytes the exact Jacobian may take.
        seed: Seed of the random projections.
        name: Model name.

    Returns:
        A :class:`ContractiveAutoEncoder`; its history reports ``loss``,
        ``reconstruction`` and ``contraction``.

    Example:
        >>> build_contractive_ae(784, hidden=(500, 250), code_dim=30, jacobian="auto").resolved_jacobian
        'stochastic'
        >>> build_contractive_ae((8, 8, 1), hidden=(16,), code_dim=4).resolved_jacobian  # small: exact
        'exact'
    """
    check_choice(architecture, "architecture", ("dense", "conv"))
    shape = as_shape(input_shape)
    out_act = output_activation_for(loss, output_activation)
    hidden = as_units(hidden, "hidden")
    decoder = tied_decoder = None
    if architecture == "conv":
        if tied:
            raise InputValidationError("tied=True needs architecture='dense'.")
        encoder = get_conv_encoder(shape, filters, code_dim, activation=activation)
        decoder = get_conv_decoder(shape, tuple(reversed(as_units(filters, "filters"))), code_dim,
                                   activation=activation, output_activation=out_act)
    else:
        encoder = get_dense_encoder(shape, hidden, code_dim, activation, code_activation)
        if tied:
            tied_decoder = {"activation": activation, "output_activation": out_act}
        else:
            decoder = get_dense_decoder(code_dim, tuple(reversed(hidden)), shape, activation, out_act)
    return ContractiveAutoEncoder(
        encoder, decoder, contraction=contraction, jacobian=jacobian, n_projections=n_projections,
        jacobian_memory_limit=jacobian_memory_limit, tied_decoder=tied_decoder, seed=seed,
        loss=loss, corruption=corruption, name=name,
    )


__all__ = ["ContractiveAutoEncoder", "build_contractive_ae"]
