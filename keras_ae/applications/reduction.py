"""Dimensionality reduction in scikit-learn style: any keras_ae auto-encoder as a transformer.

:class:`AutoEncoderTransformer` trains an auto-encoder in ``fit`` and maps data to its
codes in ``transform`` (and back with ``inverse_transform``), so an auto-encoder can
replace ``PCA`` inside a ``Pipeline`` and its code size can be tuned by ``GridSearchCV``
like any other hyper-parameter.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import keras
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from keras_ae.errors import InputValidationError
from keras_ae.random import seeded
from keras_ae.validation import check_array, check_choice


def resolve_builder(builder: str | Callable[..., keras.Model]) -> Callable[..., keras.Model]:
    """A builder function from a name in ``keras_ae.models.BUILDERS`` or a callable.

    Args:
        builder: A key of ``keras_ae.models.BUILDERS`` (e.g. ``"dense"``), or a callable, returned as is.

    Returns:
        The builder callable.

    Raises:
        UnknownNameError: If ``builder`` is a string that names no builder.

    Example:
        >>> resolve_builder("dense").__name__
        'build_dense_ae'
    """
    if callable(builder):
        return builder
    from keras_ae.models import BUILDERS

    return BUILDERS[check_choice(builder, "builder", sorted(BUILDERS))]


class AutoEncoderTransformer(TransformerMixin, BaseEstimator):
    """A scikit-learn transformer that reduces data to an auto-encoder's codes.

    Args:
        builder: A keras_ae builder name (``"dense"``, ``"conv"``, ``"tied"``, ``"sparse"``,
            ``"denoising"``, ...) or any callable ``builder(input_shape, code_dim=..., loss=...,
            **builder_kwargs)`` returning a keras_ae auto-encoder.
        code_dim: Code size (the number of output features).
        builder_kwargs: Extra keyword arguments for the builder (e.g. ``{"hidden": (64,)}``).
        input_shape: Per-example shape the flat features are reshaped to (e.g. ``(28, 28, 1)``
            for a convolutional builder); ``None`` keeps vectors.
        loss: ``"bce"``, ``"mse"`` or ``"auto"`` (``"bce"`` when the training data lie in
            [0, 1], ``"mse"`` otherwise, e.g. after ``StandardScaler``).
        epochs: Training epochs.
        batch_size: Training batch size.
        learning_rate: Adam learning rate.
        verbose: Keras ``fit`` verbosity.
        random_state: Seed for Keras, NumPy and Python before building (``None``: no seeding).

    Attributes:
        model_: The trained auto-encoder.
        n_features_in_: Number of input features seen in ``fit``.
        loss_: The reconstruction loss used.
        history_: ``fit``'s history dict.

    Example:
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn.linear_model import LogisticRegression
        >>> pipe = make_pipeline(AutoEncoderTransformer(code_dim=8, epochs=2, builder_kwargs={"hidden": (16,)}),
        ...                      LogisticRegression())
        >>> accuracy = pipe.fit(x_digits.reshape(-1, 64), y_digits).score(x_digits_test.reshape(-1, 64), y_digits_test)
        >>> 0 <= accuracy <= 1
        True
    """

    def __init__(
        self,
        builder: str | Callable[..., keras.Model] = "dense",
        code_dim: int = 8,
        builder_kwargs: Mapping[str, Any] | None = None,
        input_shape: Sequence[int] | None = None,
        loss: str = "auto",
        epochs: int = 20,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        verbose: int = 0,
        random_state: int | None = None,
    ):
        # scikit-learn convention: store the arguments untouched; validate in fit.
        self.builder = builder
        self.code_dim = code_dim
        self.builder_kwargs = builder_kwargs
        self.input_shape = input_shape
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.verbose = verbose
        self.random_state = random_state

    # -- input checks -------------------------------------------------------------------
    def _check_x(self, x, name: str = "X", fitted: bool = True) -> np.ndarray:
        x = check_array(x, name)
        if x.ndim != 2:
            raise InputValidationError(
                f"`{name}` has shape {x.shape}; scikit-learn transformers take 2-D (n_samples, n_features) "
                "data. Flatten images with x.reshape(len(x), -1) and pass input_shape=... to restore them."
            )
        if fitted and x.shape[1] != self.n_features_in_:
            raise InputValidationError(
                f"`{name}` has {x.shape[1]} features, but {type(self).__name__} was fitted with "
                f"{self.n_features_in_} features."
            )
        return x

    def _example_shape(self, n_features: int) -> tuple[int, ...]:
        if self.input_shape is None:
            return (n_features,)
        shape = tuple(int(d) for d in self.input_shape)
        if int(np.prod(shape)) != n_features:
            raise InputValidationError(
                f"input_shape={shape} holds {int(np.prod(shape))} values, but X has {n_features} features."
            )
        return shape

    # -- scikit-learn API ------------------------------------------------------------------
    def fit(self, X, y=None):
        """Builds and trains the auto-encoder on ``X`` (``y`` is ignored).

        Args:
            X: Training data ``(n_samples, n_features)``.
            y: Ignored (present for Pipeline compatibility).

        Returns:
            ``self``.

        Example:
            >>> transformer = AutoEncoderTransformer(code_dim=4, epochs=1, builder_kwargs={"hidden": (16,)})
            >>> transformer.fit(x_digits.reshape(-1, 64)).n_features_in_, transformer.loss_  # data in [0, 1]: bce
            (64, 'bce')
        """
        x = self._check_x(X, fitted=False)
        shape = self._example_shape(x.shape[1])
        loss = check_choice(self.loss, "loss", ("auto", "bce", "mse"))
        if loss == "auto":
            loss = "bce" if x.min() >= 0.0 and x.max() <= 1.0 else "mse"
        build = resolve_builder(self.builder)
        with seeded(self.random_state):  # the caller's global seeds are restored afterwards
            model = build(shape, code_dim=self.code_dim, loss=loss, **dict(self.builder_kwargs or {}))
            model.compile(optimizer=keras.optimizers.Adam(self.learning_rate))
            history = model.fit(x.reshape((-1, *shape)), epochs=self.epochs, batch_size=self.batch_size,
                                verbose=self.verbose, shuffle=True)
        self.model_ = model
        self.loss_ = loss
        self.n_features_in_ = x.shape[1]
        self.history_ = dict(history.history)
        return self

    def transform(self, X) -> np.ndarray:
        """Codes of ``X`` as a 2-D array ``(n_samples, code_features)``.

        Example:
            >>> transformer = AutoEncoderTransformer(code_dim=4, epochs=1, builder_kwargs={"hidden": (16,)})
            >>> transformer.fit(x_digits.reshape(-1, 64)).transform(x_digits_test.reshape(-1, 64)).shape
            (64, 4)
        """
        check_is_fitted(self, "model_")
        x = self._check_x(X)
        codes = self.model_.codes(x.reshape((-1, *self.model_.example_shape)))
        return codes.reshape(len(x), -1)

    def inverse_transform(self, X) -> np.ndarray:
        """Reconstructions ``(n_samples, n_features)`` decoded from codes.

        Example:
            >>> x = x_digits.reshape(-1, 64)
            >>> transformer = AutoEncoderTransformer(code_dim=4, epochs=1, builder_kwargs={"hidden": (16,)}).fit(x)
            >>> transformer.inverse_transform(transformer.transform(x[:5])).shape
            (5, 64)
        """
        check_is_fitted(self, "model_")
        codes = check_array(X, "codes")
        width = int(np.prod(self.model_.code_shape))
        if codes.ndim != 2 or codes.shape[1] != width:
            raise InputValidationError(f"codes have shape {codes.shape}; expected (n_samples, {width}).")
        images = self.model_.decode(codes.reshape((-1, *self.model_.code_shape)))
        return images.reshape(len(codes), -1)

    def score(self, X, y=None) -> float:
        """Negative mean squared reconstruction error (higher is better, as scikit-learn wants).

        Example:
            >>> x = x_digits.reshape(-1, 64)
            >>> transformer = AutoEncoderTransformer(code_dim=4, epochs=1, builder_kwargs={"hidden": (16,)}).fit(x)
            >>> transformer.score(x) < 0  # higher is better
            True
        """
        check_is_fitted(self, "model_")
        x = self._check_x(X)
        x_hat = self.inverse_transform(self.transform(x))
        return -float(np.mean((x_hat - x) ** 2))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output feature names ``code0, code1, ...`` (for ``set_output`` / pandas)."""
        check_is_fitted(self, "model_")
        return np.array([f"code{i}" for i in range(int(np.prod(self.model_.code_shape)))], dtype=object)
