"""Unsupervised pretraining, then fine-tuning with few labels (Hinton & Salakhutdinov 2006; Erhan et al. 2010).

An auto-encoder (plain, denoising or contractive) is trained on all training images
without labels, end to end; or, as in stacked denoising auto-encoders (Vincent et al.
2010), one layer at a time (:func:`greedy_layerwise_pretrain`). Its encoder plus a
softmax layer becomes a classifier, fine-tuned on a small labelled subset (e.g. 100
images per class). Baselines: the same classifier from random initialisation, and a
linear probe (logistic regression) on the frozen codes.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.models.base import AutoEncoder
from keras_ae.models.contractive import build_contractive_ae
from keras_ae.models.dense import build_dense_ae, get_dense_encoder
from keras_ae.models.denoising import build_denoising_ae
from keras_ae.random import seeded
from keras_ae.validation import check_array, check_choice, check_int

#: The greedy layer-wise kind of :func:`compare_pretraining` (not an auto-encoder of
#: :func:`build_pretraining_ae`: a stack of one-hidden-layer denoising auto-encoders).
STACKED = "stacked"
#: The auto-encoders of :func:`build_pretraining_ae`.
PRETRAINING_KINDS = ("plain", "denoising", "contractive")
#: The kinds :func:`compare_pretraining` accepts: :data:`PRETRAINING_KINDS` plus ``"stacked"``.
COMPARISON_KINDS = PRETRAINING_KINDS + (STACKED,)


def labelled_subset(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` random examples of every class (sorted).

    Args:
        y: Integer labels ``(n,)``.
        per_class: Examples kept per class.
        seed: Random seed.

    Returns:
        Sorted int64 indices.

    Raises:
        InputValidationError: if a class has fewer than ``per_class`` examples.

    Example:
        >>> labelled_subset(np.array([0, 0, 1, 1, 1]), 1, seed=0).shape
        (2,)
    """
    y = np.asarray(y).reshape(-1)
    per_class = check_int(per_class, "per_class", minimum=1)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(y):  # one draw per class (10 classes), not per example
        members = np.flatnonzero(y == label)
        if len(members) < per_class:
            raise InputValidationError(f"Class {label} has only {len(members)} examples; per_class={per_class}.")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def labelled_split(y: np.ndarray, per_class: int, val_per_class: int = 0,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint labelled training and validation indices, ``per_class`` / ``val_per_class`` of every class.

    Args:
        y: Integer labels ``(n,)``.
        per_class: Training examples per class.
        val_per_class: Validation examples per class (``0``: an empty validation set).
        seed: Random seed.

    Returns:
        ``(train_indices, val_indices)``, each sorted.

    Example:
        >>> train, val = labelled_split(np.array([0, 0, 0, 1, 1, 1]), 2, 1)
        >>> len(train), len(val), len(set(train) & set(val))
        (4, 2, 0)
    """
    both = labelled_subset(y, per_class + val_per_class, seed)
    if not val_per_class:
        return both, both[:0]
    rng = np.random.default_rng(seed + 1)
    y = np.asarray(y).reshape(-1)
    val = np.concatenate([rng.choice(both[y[both] == label], val_per_class, replace=False) for label in np.unique(y)])
    return np.setdiff1d(both, val), np.sort(val)


def build_pretraining_ae(
    kind: str,
    input_shape: Sequence[int] = (28, 28, 1),
    hidden: Sequence[int] = (1000, 500),
    code_dim: int = 250,
    noise_level: float = 0.5,
    contraction: float = 1e-3,
) -> AutoEncoder:
    """The auto-encoder whose encoder is pretrained: dense, ReLU hidden units.

    Args:
        kind: ``"plain"``, ``"denoising"`` (masking noise) or ``"contractive"``.
        input_shape: Shape of one example.
        hidden: Encoder hidden widths (the classifier's hidden layers), ReLU.
        code_dim: Code size (the classifier's last hidden layer).
        noise_level: Fraction of pixels masked (``"denoising"``).
        contraction: Contractive penalty weight (``"contractive"``).

    Returns:
        An untrained :class:`AutoEncoder`.

    Example:
        >>> build_pretraining_ae("denoising", (8, 8, 1), hidden=(32,), code_dim=16).code_shape
        (16,)
    """
    check_choice(kind, "pretraining auto-encoder", PRETRAINING_KINDS)
    common = dict(hidden=hidden, code_dim=code_dim, code_activation="relu")
    if kind == "plain":
        return build_dense_ae(input_shape, name="plain_ae", **common)
    if kind == "denoising":
        return build_denoising_ae(input_shape, noise="masking", level=noise_level, architecture="dense", **common)
    return build_contractive_ae(input_shape, activation="relu", contraction=contraction, **common)


def layerwise_daes(
    x: np.ndarray,
    hidden: Sequence[int] = (1000, 500, 250),
    noise: str = "masking",
    level: float = 0.25,
    epochs: int = 100,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
    verbose: int = 0,
) -> list[AutoEncoder]:
    """Greedy layer-wise training: one one-hidden-layer denoising auto-encoder per layer (Vincent et al. 2010).

    Layer ``i`` is ``build_denoising_ae`` with no hidden layer and a ``hidden[i]``-unit
    ReLU code, trained to reconstruct the clean codes of layers ``< i`` from their
    corrupted version; only its input is corrupted, and the next layer is trained on the
    clean codes (``encoder.predict``, no corruption). The first layer sees images in
    [0, 1] (sigmoid output, cross-entropy, noisy values clipped to [0, 1]); the layers
    above see unbounded ReLU codes (linear output, squared error, no clipping).

    Args:
        x: Training inputs (images in [0, 1]), ``(n, ...)``.
        hidden: Units of the stacked layers, bottom first (the last one is the code).
        noise: Corruption of each layer's input (``"masking"``, ``"gaussian"``, ``"salt_pepper"``).
        level: Fraction of masked units (or noise standard deviation).
        epochs: Epochs of every layer (``0``: untrained, the seeded initialisation).
        batch_size: Batch size.
        learning_rate: Adam learning rate.
        seed: Layer ``i`` is built and trained under ``keras_ae.random.seeded(seed + i)``,
            so runs with different ``epochs`` start from the same weights.
        verbose: Keras ``fit`` verbosity (also prints one line per layer when non-zero).

    Returns:
        The trained auto-encoders, bottom first; stack them with :func:`stack_encoders`.

    Example:
        >>> daes = layerwise_daes(x_digits, hidden=(32, 16), epochs=1)
        >>> [dae.code_shape for dae in daes], daes[1].example_shape  # layer 2 reads layer 1's codes
        ([(32,), (16,)], (32,))
    """
    x = check_array(x, "x")
    hidden = tuple(check_int(units, "hidden units", minimum=1) for units in hidden)
    if not hidden:
        raise InputValidationError("hidden must name at least one layer, e.g. (1000, 500, 250).")
    epochs = check_int(epochs, "epochs", minimum=0)
    daes, inputs = [], x
    for i, units in enumerate(hidden):
        first = i == 0
        with seeded(seed + i):  # layer i's weights and batch order; the caller's seeds are restored
            dae = build_denoising_ae(
                inputs.shape[1:], noise=noise, level=level, architecture="dense", hidden=(), code_dim=units,
                code_activation="relu", loss="bce" if first else "mse", clip=(0.0, 1.0) if first else None,
                name=f"layer_{i}_dae")
            dae.compile(optimizer=keras.optimizers.Adam(learning_rate))
            if verbose:
                print(f"Layer {i + 1}/{len(hidden)}: {int(np.prod(inputs.shape[1:]))} -> {units} denoising AE "
                      f"({noise} {level:g})")
            if epochs:
                dae.fit(inputs, epochs=epochs, batch_size=batch_size, verbose=verbose)
            daes.append(dae)
            if i + 1 < len(hidden):  # the next layer learns from clean codes; its own DAE corrupts them
                inputs = dae.encoder.predict(inputs, batch_size=512, verbose=0)
    return daes


def stack_encoders(daes: Sequence[AutoEncoder], name: str = "stacked_encoder") -> keras.Model:
    """The encoders of layer-wise auto-encoders as one dense encoder (their decoders are dropped).

    The result is ``get_dense_encoder`` with the same widths and ReLU units as the end-to-end
    encoder of :func:`build_pretraining_ae`, so both fine-tune in the same network.

    Args:
        daes: One-hidden-layer auto-encoders of :func:`layerwise_daes`, bottom first.
        name: Model name.

    Returns:
        A ``keras.Model`` ``x -> code``: its Dense layers hold copies of the auto-encoders' weights.

    Example:
        >>> encoder = stack_encoders(layerwise_daes(x_digits, hidden=(32, 16), epochs=0))
        >>> [layer.name for layer in encoder.layers if layer.weights], encoder.output_shape
        (['dense_0', 'code'], (None, 16))
    """
    if not daes:
        raise InputValidationError("stack_encoders needs at least one auto-encoder.")
    units = [dae.code_shape[-1] for dae in daes]
    encoder = get_dense_encoder(daes[0].example_shape, hidden=units[:-1], code_dim=units[-1],
                                activation="relu", code_activation="relu", name=name)
    dense = [layer for layer in encoder.layers if layer.weights]
    for layer, dae in zip(dense, daes):
        layer.set_weights(dae.encoder.get_layer("code").get_weights())
    return encoder


def greedy_layerwise_pretrain(x: np.ndarray, *args: Any, **kwargs: Any) -> keras.Model:
    """A stacked denoising auto-encoder's encoder: :func:`layerwise_daes`, then :func:`stack_encoders`.

    With ``epochs`` per layer it costs about what ``epochs`` of the end-to-end
    auto-encoder of the same widths cost (every layer is encoded and decoded once).
    ``level=0.25`` is Vincent et al.'s (2010) masking level for MNIST.

    Args:
        x: Training inputs (images in [0, 1]).
        *args: The other arguments of :func:`layerwise_daes`, with its defaults: ``hidden``
            (widths, bottom first; the last is the code), ``noise``, ``level``, ``epochs`` (per
            layer), ``batch_size``, ``learning_rate``, ``seed`` and ``verbose``.
        **kwargs: The same, by name.

    Returns:
        The stacked encoder, ready for :func:`fine_tune` or :func:`build_classifier`.

    Example:
        >>> encoder = greedy_layerwise_pretrain(x_digits, hidden=(32, 16), epochs=1)
        >>> build_classifier(encoder, 10).output_shape
        (None, 10)
    """
    return stack_encoders(layerwise_daes(x, *args, **kwargs))


def build_classifier(encoder: keras.Model, n_classes: int, trainable: bool = True,
                     seed: int | None = None, name: str = "classifier") -> keras.Model:
    """Encoder + softmax layer; the encoder is copied, so the auto-encoder stays intact.

    Args:
        encoder: A (pretrained or fresh) encoder ``x -> code``.
        n_classes: Number of classes.
        trainable: Fine-tune the encoder (``True``) or keep it frozen.
        seed: Seed of the softmax layer's initialisation.
        name: Model name.

    Returns:
        A compiled-ready ``keras.Model`` ``x -> class probabilities``.

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> build_classifier(ae.encoder, 10).output_shape  # a softmax layer on a copy of the encoder
        (None, 10)
    """
    copy = keras.models.clone_model(encoder)
    copy.set_weights(encoder.get_weights())
    copy.trainable = trainable
    outputs = keras.layers.Dense(
        check_int(n_classes, "n_classes", minimum=1), activation="softmax", name="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
    )(copy.output)
    return keras.Model(copy.input, outputs, name=name)


def train_classifier(model: keras.Model, x: np.ndarray, y: np.ndarray, epochs: int = 60, batch_size: int = 32,
                     learning_rate: float = 1e-3, verbose: int = 0) -> keras.Model:
    """Trains a softmax classifier with Adam and cross-entropy (the same recipe for every row).

    The model is compiled here (Adam, sparse categorical cross-entropy, accuracy metric) and
    fitted on shuffled batches; only its trainable layers change.

    Args:
        model: A classifier ``x -> class probabilities``, e.g. from :func:`build_classifier`.
        x: Training inputs, shaped as ``model``'s input.
        y: Integer class labels ``(n,)``.
        epochs: Training epochs.
        batch_size: Batch size.
        learning_rate: Adam learning rate.
        verbose: Keras verbosity.

    Returns:
        ``model`` itself, compiled and trained in place.

    Raises:
        InputValidationError: If ``x`` is not a finite array of ``model``'s input shape.

    Example:
        >>> clf = build_classifier(build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4).encoder, 10)
        >>> clf = train_classifier(clf, x_digits, y_digits, epochs=1)
        >>> round(float(clf.optimizer.learning_rate), 6)
        0.001
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(check_array(x, "x", expected_shape=model.input_shape[1:]), np.asarray(y), epochs=epochs,
              batch_size=batch_size, verbose=verbose, shuffle=True)
    return model


def fine_tune(encoder: keras.Model, x: np.ndarray, y: np.ndarray, n_classes: int, head_epochs: int = 30,
              epochs: int = 60, head_learning_rate: float = 1e-3, learning_rate: float = 1e-4,
              batch_size: int = 32, seed: int | None = None, verbose: int = 0) -> keras.Model:
    """Probe, then fine-tune (Kumar et al. 2022): train the softmax layer on frozen codes, then all layers gently.

    Starting the full fine-tuning from a trained softmax layer (not a random one) and a
    small learning rate keeps the pretrained features instead of overwriting them with
    the large early gradients of a random head.

    Args:
        encoder: A pretrained encoder (copied, not modified).
        x, y: The labelled examples.
        n_classes: Number of classes.
        head_epochs: Epochs of the softmax layer alone (frozen encoder).
        epochs: Epochs of the whole network.
        head_learning_rate: Adam learning rate of the first stage.
        learning_rate: Adam learning rate of the second stage.
        batch_size: Batch size.
        seed: Seed of the softmax layer's initialisation.
        verbose: Keras verbosity.

    Returns:
        The trained classifier.

    Example:
        >>> encoder = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4).encoder
        >>> clf = fine_tune(encoder, x_digits, y_digits, 10, head_epochs=1, epochs=1)
        >>> clf.output_shape
        (None, 10)
    """
    model = build_classifier(encoder, n_classes, seed=seed)
    for layer in model.layers[:-1]:
        layer.trainable = False
    train_classifier(model, x, y, head_epochs, batch_size, head_learning_rate, verbose)
    for layer in model.layers:
        layer.trainable = True
    return train_classifier(model, x, y, epochs, batch_size, learning_rate, verbose)


def classification_error(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` whose most probable class is not ``y``.

    Args:
        model: A classifier ``x -> class probabilities``.
        x: Inputs, shaped as ``model``'s input.
        y: Integer class labels ``(n,)``.

    Returns:
        The misclassification rate, a float in [0, 1].

    Example:
        >>> encoder = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4).encoder
        >>> clf = build_classifier(encoder, 10)  # untrained: an error of about 0.9
        >>> 0 <= classification_error(clf, x_digits_test, y_digits_test) <= 1
        True
    """
    probabilities = model.predict(check_array(x, "x"), batch_size=512, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) != np.asarray(y).reshape(-1)))


def linear_probe_error(encoder: keras.Model, x_train: np.ndarray, y_train: np.ndarray,
                       x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Test error of logistic regression on frozen (standardised) codes.

    Args:
        encoder: A (pretrained) encoder, used as is; its codes are flattened per example.
        x_train: Inputs the probe is fitted on, shaped as the encoder expects.
        y_train: Integer class labels of ``x_train``, ``(n_train,)``.
        x_test: Inputs the error is measured on.
        y_test: Integer class labels of ``x_test``, ``(n_test,)``.

    Returns:
        The probe's misclassification rate on the test split, a float in [0, 1].

    Raises:
        InputValidationError: If ``x_train`` or ``x_test`` is not a finite, non-empty array.

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> 0 <= linear_probe_error(ae.encoder, x_digits, y_digits, x_digits_test, y_digits_test) <= 1
        True
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def codes(x):
        return encoder.predict(check_array(x, "x"), batch_size=512, verbose=0).reshape(len(x), -1)

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(codes(x_train), np.asarray(y_train))
    return float(1.0 - probe.score(codes(x_test), np.asarray(y_test)))


def compare_pretraining(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
    kinds: Sequence[str] | None = None, per_class: int = 100, pretrain_epochs: int = 100,
    finetune_epochs: int = 60, hidden: Sequence[int] = (1000, 500), code_dim: int = 250,
    scratch_learning_rates: Sequence[float] = (1e-3, 3e-4), val_per_class: int = 0, seed: int = 0,
    verbose: int = 0, stacked_level: float = 0.25,
) -> list[dict]:
    """Pretrain on all of ``x_train``, fine-tune on ``per_class`` labels per class, compare.

    Rows, all with the same network (dense ``hidden`` + ``code_dim`` + softmax):

    - ``scratch (lr=...)``: random initialisation, Adam for ``finetune_epochs``, one row
      per learning rate in ``scratch_learning_rates``;
    - ``<kind> + fine-tune``: pretrained encoder, the same one-stage training (first
      scratch learning rate);
    - ``<kind> + probe, fine-tune``: pretrained encoder, :func:`fine_tune` (softmax layer
      on frozen codes, then all layers at a 10x lower learning rate);
    - ``<kind> linear probe``: logistic regression on the frozen codes.

    Kind ``"stacked"`` pretrains greedily, layer by layer (:func:`greedy_layerwise_pretrain`,
    ``pretrain_epochs`` per layer, masking ``stacked_level``) instead of end to end; its
    encoder has the same widths, so its rows differ from the others only in pretraining.

    Args:
        x_train, y_train: Training images (all used unlabelled) and labels (a few used).
        x_test, y_test: Test split.
        kinds: Auto-encoders to pretrain, among :data:`COMPARISON_KINDS` (default: all).
        per_class: Labelled examples per class.
        pretrain_epochs: Auto-encoder epochs.
        finetune_epochs: Classifier epochs (every row; ``fine_tune``'s second stage).
        hidden: Hidden widths.
        code_dim: Code size.
        scratch_learning_rates: Learning rates tried for the from-scratch network.
        val_per_class: Labelled validation examples per class, drawn from ``x_train``
            disjoint from the training labels; each row then also gets ``val_error``, so
            that learning rates and methods are chosen without looking at the test split
            (see :func:`select_by_validation`). ``0``: no validation subset.
        seed: Seed for the subsets and initialisations.
        verbose: Keras verbosity.
        stacked_level: Masking level of every layer of kind ``"stacked"``.

    Returns:
        Rows ``{"method", "pretraining", "test_error", "labels"}`` (plus ``"val_error"``).

    Example:
        ```python
        rows = compare_pretraining(x_train, y_train, x_test, y_test, per_class=100)  # minutes
        ```
    """
    kinds = tuple(check_choice(k, "pretraining kind", COMPARISON_KINDS) for k in
                  (kinds if kinds is not None else COMPARISON_KINDS))  # refuse a typo before minutes of training
    subset, val = labelled_split(y_train, per_class, check_int(val_per_class, "val_per_class", minimum=0), seed)
    x_few, y_few = x_train[subset], y_train[subset]
    n_classes = int(np.max(y_train)) + 1
    shape = x_train.shape[1:]
    rows = []

    def add(method, pretraining, model_or_errors):
        if isinstance(model_or_errors, tuple):  # a linear probe: (test error, validation error)
            test_error, val_error = model_or_errors
        else:
            test_error = classification_error(model_or_errors, x_test, y_test)
            val_error = classification_error(model_or_errors, x_train[val], y_train[val]) if len(val) else None
        row = {"method": method, "pretraining": pretraining, "test_error": test_error, "labels": len(subset)}
        rows.append(row if val_error is None else {**row, "val_error": val_error})

    # Every network starts from `seed` (the same initial weights and batch order for every row);
    # the caller's global seeds are restored afterwards.
    with seeded(seed):
        fresh = build_pretraining_ae("plain", shape, hidden, code_dim).encoder  # same network, random weights
    for lr in scratch_learning_rates:
        with seeded(seed):
            scratch = build_classifier(fresh, n_classes, seed=seed)
            add(f"scratch (lr={lr:g})", "none", train_classifier(scratch, x_few, y_few, finetune_epochs,
                                                              learning_rate=lr, verbose=verbose))
    for kind in kinds:
        with seeded(seed):
            if kind == STACKED:
                encoder = greedy_layerwise_pretrain(x_train, (*hidden, code_dim), level=stacked_level,
                                                    epochs=pretrain_epochs, seed=seed, verbose=verbose)
            else:
                ae = build_pretraining_ae(kind, shape, hidden, code_dim)
                ae.compile(optimizer=keras.optimizers.Adam(1e-3))
                ae.fit(x_train, epochs=pretrain_epochs, batch_size=128, verbose=verbose)
                encoder = ae.encoder
        with seeded(seed):
            add(f"{kind} + fine-tune", kind, train_classifier(
                build_classifier(encoder, n_classes, seed=seed), x_few, y_few, finetune_epochs,
                learning_rate=scratch_learning_rates[0], verbose=verbose))
        with seeded(seed):
            add(f"{kind} + probe, fine-tune", kind,
                fine_tune(encoder, x_few, y_few, n_classes, head_epochs=finetune_epochs, epochs=finetune_epochs,
                          learning_rate=scratch_learning_rates[0] / 10, seed=seed, verbose=verbose))
        add(f"{kind} linear probe", kind, (
            linear_probe_error(encoder, x_few, y_few, x_test, y_test),
            linear_probe_error(encoder, x_few, y_few, x_train[val], y_train[val]) if len(val) else None))
    return rows


def select_by_validation(rows: Sequence[dict], pretraining: str | None = None) -> dict:
    """The row with the lowest validation error (ties: the first), among ``pretraining`` rows.

    Args:
        rows: Rows of :func:`compare_pretraining` run with ``val_per_class > 0``.
        pretraining: ``"none"`` for the from-scratch rows, a kind, ``"any"`` for every
            pretrained row, or ``None`` for all rows.

    Returns:
        The chosen row (its ``test_error`` is the number to report).

    Example:
        >>> select_by_validation([{"pretraining": "none", "val_error": 0.2, "test_error": 0.21},
        ...                       {"pretraining": "none", "val_error": 0.1, "test_error": 0.12}], "none")["test_error"]
        0.12
    """
    pool = [r for r in rows if pretraining is None or r["pretraining"] == pretraining
            or (pretraining == "any" and r["pretraining"] != "none")]
    if not pool:
        raise InputValidationError(f"No rows with pretraining={pretraining!r}.")
    if any("val_error" not in r for r in pool):
        raise InputValidationError("Rows have no val_error: run compare_pretraining with val_per_class > 0.")
    return min(pool, key=lambda r: r["val_error"])
