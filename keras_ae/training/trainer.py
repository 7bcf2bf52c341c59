"""One ``fit`` / ``evaluate`` / ``compile`` for every keras_ae family.

``Trainer`` is a mixin placed before ``keras.Model`` (``class AutoEncoder(Trainer,
keras.Model)``), in the way Keras' own ``Trainer`` is mixed into ``Model``. Each call runs,
in this order:

1. input checks: NumPy data through the family's ``check_data`` hook; ``tf.data``
   datasets against the family's ``data_spec`` (structure, shape, dtype up front, before
   anything is traced; values batch by batch, see :mod:`keras_ae.training.data_checks`).
   An empty dataset is refused like an empty array (up front when its length is known,
   else when a pass over it ends before its first batch, weights restored). ``y`` follows
   ``DataSpec.targets`` for arrays and datasets alike: a family with ``"none"`` refuses it
   in both forms (one message, :func:`~keras_ae.training.data_checks.x_alone_error`);
2. XLA at the first ``fit`` of a small dense model (:func:`~keras_ae.training.defaults.choose_jit_compile`);
3. in-memory arrays through a prefetched ``tf.data`` pipeline
   (:func:`~keras_ae.training.pipeline.through_fit_pipeline`; ``pipeline=False`` keeps Keras' adapter);
4. ``steps_per_epoch`` / ``validation_steps`` / ``steps`` kept exact
   (:func:`~keras_ae.training.defaults.whole_executions`);
5. the NaN guard: a NaN/inf loss stops training with the last finite weights and
   optimizer state restored (:class:`~keras_ae.training.nan_guard.NaNGuard`).

The same ``fit`` runs under ``MirroredStrategy`` and, on several hosts, under
``MultiWorkerMirroredStrategy`` (:mod:`keras_ae.training.distribute`): checks and NaN guard
included.

A family provides ``check_data(x, y, names, training)`` and ``data_spec(training)``; it
trains through its own ``train_step`` and reports through ``keras.metrics.Mean`` trackers
(:meth:`Trainer.update_trackers`).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from keras_ae.errors import InputValidationError
from keras_ae.replicas import scale_loss_for_replicas
from keras_ae.training.data_checks import DataSpec, InputCheckFailed, check_dataset, is_pipeline, x_alone_error
from keras_ae.training.defaults import (REFERENCE_BATCH, choose_jit_compile, choose_learning_rate,
                                       default_optimizer, default_steps_per_execution, whole_executions)
from keras_ae.training.distribute import in_multi_worker_mode, with_reducible_logs
from keras_ae.training.ema import resume_training_weights
from keras_ae.training.nan_guard import NaNGuard, raise_if_diverged
from keras_ae.training.pipeline import through_fit_pipeline
from keras_ae.validation import check_int, check_same_length


def _split_validation(validation_data) -> tuple[Any, Any]:
    """``validation_data`` as ``(x, y)``: an array or dataset alone, or a tuple / list of one or two."""
    if isinstance(validation_data, (tuple, list)):
        if not 1 <= len(validation_data) <= 2:
            raise InputValidationError(
                f"validation_data must be x, (x,) or (x, y); got a {type(validation_data).__name__} of "
                f"{len(validation_data)} items.")
        return validation_data[0], (validation_data[1] if len(validation_data) == 2 else None)
    return validation_data, None


def _check_batch_size(batch_size: Any, name: str = "batch_size") -> int | None:
    return None if batch_size is None else check_int(batch_size, name, minimum=1)


class Trainer:
    """``fit``, ``evaluate`` and ``compile`` shared by every keras_ae model family.

    Hooks a family defines:

    * ``check_data(x, y, names, training) -> (x, y)``: checks NumPy data (shape, dtype,
      range, labels) and returns it as the model trains on it;
    * ``data_spec(training) -> DataSpec``: what a ``tf.data`` element must look like.

    Example:
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)  # an AutoEncoder(Trainer, keras.Model)
        >>> model.compile()
        >>> history = model.fit(np.random.rand(64, 8, 8, 1).astype("float32"), epochs=2, verbose=0)
        >>> len(history.history["loss"])
        2
    """

    # -- hooks ---------------------------------------------------------------------------
    def check_data(self, x, y, names: tuple[str, str], training: bool) -> tuple[Any, Any]:
        """Checks in-memory data; returns ``(x, y)`` as the model trains on them."""
        return x, y

    def data_spec(self, training: bool) -> DataSpec | None:
        """What one element of a ``tf.data`` dataset must be (``None``: no checks)."""
        return None

    # -- input checks ------------------------------------------------------------------
    def _checked(self, x, y, names: tuple[str, str], training: bool, required: bool = True):
        if x is None:
            if required:
                raise InputValidationError(f"`{names[0]}` is None; pass an array of examples or a tf.data dataset.")
            return x, y
        if isinstance(x, tf.data.Dataset):
            if y is not None:
                raise InputValidationError(
                    f"`{names[1]}` must be None when `{names[0]}` is a tf.data dataset: the dataset yields "
                    "(x, y) pairs itself.")
            return check_dataset(x, self.data_spec(training), names[0]), None
        if is_pipeline(x):
            return x, y  # keras.utils.PyDataset and generators: Keras reads them as they stream
        spec = self.data_spec(training)
        if y is not None and spec is not None and spec.targets == "none":
            raise x_alone_error(names[1])  # the rule check_dataset applies to (x, y) datasets
        x, y = self.check_data(x, y, names, training)
        check_same_length({names[0]: x, names[1]: y})
        return x, y

    def _checked_validation(self, validation_data):
        if validation_data is None:
            return None
        vx, vy = _split_validation(validation_data)
        vx, vy = self._checked(vx, vy, ("validation_data", "validation_data labels"), training=False)
        if isinstance(vx, tf.data.Dataset) or is_pipeline(vx):
            return vx
        return (vx,) if vy is None else (vx, vy)

    # -- Keras API -----------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_data=None, pipeline: bool = True, **kwargs):
        """``keras.Model.fit`` with keras_ae's checks and defaults (see the module docstring).

        Args:
            x: Training data: a NumPy array, a ``tf.data`` dataset of batches, or a
                ``keras.utils.PyDataset``.
            y: Targets or labels, where the family takes them (a denoiser's clean
                targets, a conditional GAN's labels); ``None`` otherwise.
            batch_size: Examples per batch for arrays (Keras' default 32).
            epochs: Passes over the data.
            verbose: Keras' progress bar setting.
            callbacks: Keras callbacks; a :class:`~keras_ae.training.nan_guard.NaNGuard`
                among them configures the NaN guard.
            validation_data: ``x_val``, ``(x_val,)``, ``(x_val, y_val)`` or a dataset.
            pipeline: Feed in-memory arrays through keras_ae's prefetched ``tf.data``
                pipeline (faster for small models, reshuffled every epoch under a seed);
                ``False`` uses Keras' own array adapter.
            **kwargs: Other ``keras.Model.fit`` arguments.

        Returns:
            The ``History``.

        Raises:
            InputValidationError: bad data (before training touches the weights), or a
                dataset batch with bad values or a dataset (training or validation) that
                ends before its first batch (the weights of the last finished epoch are
                restored).
            TrainingDivergedError: a NaN/inf loss (the last finite weights are restored).

        Example:
            >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
            >>> model.compile()
            >>> model.fit(np.full((4, 8, 8, 1), 2.0), verbose=0)
            Traceback (most recent call last):
            ...
            keras_ae.errors.InputValidationError: `x` has values in [2, 2], outside the expected range [0, 1]. ...
        """
        batch_size = _check_batch_size(batch_size)
        epochs = check_int(epochs, "epochs", minimum=0)
        split = kwargs.get("validation_split")
        if split is not None and not (isinstance(split, (int, float)) and 0.0 <= split < 1.0):
            raise InputValidationError(f"validation_split must be a fraction in [0, 1), got {split!r}.")
        x, y = self._checked(x, y, ("x", "y"), training=True)
        validation_data = self._checked_validation(validation_data)
        choose_jit_compile(self, x, epochs - kwargs.get("initial_epoch", 0), kwargs.get("steps_per_epoch"), batch_size)
        choose_learning_rate(self, batch_size if hasattr(x, "shape") else None)
        if pipeline:
            x, y, batch_size, kwargs = through_fit_pipeline(self, x, y, batch_size, kwargs)
        validation_steps = kwargs.get("validation_steps") if validation_data is not None else None
        callbacks = list(callbacks or [])
        guard = next((c for c in callbacks if isinstance(c, NaNGuard)), None)
        if guard is None:
            guard = NaNGuard()
            callbacks.append(guard)
        # Last, once every check has passed: a refused fit leaves the model as it was.
        resume_training_weights(self)  # after an earlier fit wrote its weight averages in (AveragingAdam)
        with whole_executions(self, kwargs.get("steps_per_epoch"), validation_steps):
            try:
                history = super().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                                      callbacks=callbacks, validation_data=validation_data, **kwargs)
            except tf.errors.InvalidArgumentError as exc:
                failed = InputCheckFailed.from_error(exc)
                if failed is None:
                    raise
                guard.restore()
                raise failed.as_input_error(f"epoch {guard.epoch + 1}", guard.restored_from) from None
        return raise_if_diverged(guard, history)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", **kwargs):
        """``keras.Model.evaluate`` with the same input checks as :meth:`fit`.

        Example:
            >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
            >>> model.compile()
            >>> round(model.evaluate(np.zeros((8, 8, 8, 1)), verbose=0)[0], 3) >= 0
            True
        """
        batch_size = _check_batch_size(batch_size)
        x, y = self._checked(x, y, ("x", "y"), training=False)
        with whole_executions(self, kwargs.get("steps")):
            try:
                return super().evaluate(x, y, batch_size=batch_size, verbose=verbose, **kwargs)
            except tf.errors.InvalidArgumentError as exc:
                failed = InputCheckFailed.from_error(exc)
                if failed is None or kwargs.get("_use_cached_eval_dataset"):
                    raise  # fit's validation pass: fit names the epoch and restores the weights
                raise failed.as_input_error("evaluate", None) from None

    # Families that own their loss: one optimizer, Adam by default.
    loss_refusal = "keras_ae models own their loss; don't pass loss= to compile()."
    # A family whose default optimizer keeps an exponential moving average of the weights
    # (``fit`` ends with the averages in the model) sets this to the EMA's momentum
    # (:func:`~keras_ae.training.defaults.default_optimizer`; the VAE and the VQ-VAE: 0.99).
    default_ema_momentum: float | None = None
    # The batch size up to which compile()'s default Adam keeps 1e-3 (square-root rule above it;
    # :func:`~keras_ae.training.defaults.default_learning_rate`).
    default_reference_batch: int = REFERENCE_BATCH
    # False for a family that trains several networks with optimizers of its own (the GAN's
    # d_optimizer and g_optimizer): its compile passes optimizer=None, which then stays None,
    # and the CLI gives it no optimizer.
    single_optimizer: bool = True

    def compile(self, optimizer=None, loss=None, steps_per_execution: int | None = None, **kwargs):
        """Compiles with Adam by default; the loss is the model's own.

        Without an optimizer (``None``), Adam's learning rate is chosen at the first ``fit``
        from its batch size: 1e-3 up to the family's ``default_reference_batch`` (64; the
        VQ-VAE: 128), times ``sqrt(batch / reference)`` above
        (:func:`~keras_ae.training.defaults.default_learning_rate`; 2e-3 at batch 256); a
        family with ``default_ema_momentum`` (the VAE, the VQ-VAE) also averages its weights
        (:func:`~keras_ae.training.defaults.default_optimizer`). An optimizer given
        explicitly, ``"adam"`` included, is used exactly as given.

        ``steps_per_execution`` defaults to 64 training steps per call into the compiled
        graph (1 under ``tf.distribute``;
        :func:`~keras_ae.training.defaults.default_steps_per_execution`): these models are
        small, so per-step dispatch is a visible share of a step. Callbacks' batch hooks
        then fire every 64 steps; pass 1 to get every step. With the default
        ``jit_compile="auto"``, the first ``fit`` of a small dense auto-encoder on CPU
        turns XLA on when the run is long enough to pay for compiling
        (:func:`keras_ae.training.defaults.choose_jit_compile`).

        Example:
            >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
            >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
            >>> model.steps_per_execution
            64
        """
        if loss is not None:
            raise InputValidationError(self.loss_refusal)
        if steps_per_execution is None:
            steps_per_execution = default_steps_per_execution(self)
        steps_per_execution = check_int(steps_per_execution, "steps_per_execution", minimum=1)
        # jit_compile left at "auto": the first fit may switch XLA on (choose_jit_compile).
        object.__setattr__(self, "_jit_compile_auto", kwargs.get("jit_compile", "auto") == "auto")
        object.__setattr__(self, "_default_optimizer", optimizer is None and self.single_optimizer)
        if optimizer is None and self.single_optimizer:
            optimizer = default_optimizer(self)
        super().compile(optimizer=optimizer, steps_per_execution=steps_per_execution, **kwargs)

    def get_compile_config(self) -> dict | None:
        if not getattr(self, "compiled", False) or self.optimizer is None:
            return None
        return {"optimizer": keras.saving.serialize_keras_object(self.optimizer)}

    def compile_from_config(self, config: dict) -> None:
        self.compile(optimizer=keras.saving.deserialize_keras_object(config["optimizer"]))
        if self.built:  # so the saved optimizer state (Adam moments) loads too
            self.optimizer.build(self.trainable_variables)

    def make_train_function(self, force: bool = False):
        if not in_multi_worker_mode(self.distribute_strategy):
            return super().make_train_function(force)
        return self._make_reducible_function("train_function", self.train_step, force)

    def make_test_function(self, force: bool = False):
        if not in_multi_worker_mode(self.distribute_strategy):
            return super().make_test_function(force)
        return self._make_reducible_function("test_function", self.test_step, force)

    def _make_reducible_function(self, attribute: str, step, force: bool):
        """Several hosts: scalar logs fail Keras' reduction there (keras_ae.training.distribute), so the
        step's logs are made reducible; the function is cached in ``attribute`` as Keras caches its own."""
        if getattr(self, attribute) is None or force:
            setattr(self, attribute, self._make_function(with_reducible_logs(step)))
        return getattr(self, attribute)

    # -- one training step ----------------------------------------------------------------
    def minimize(self, compute_terms, batch_size) -> dict:
        """One optimizer step on ``compute_terms()["loss"]``: what a single-optimizer ``train_step`` does.

        The loss is weighted by this replica's share of the global batch under
        ``tf.distribute`` (:func:`~keras_ae.replicas.scale_loss_for_replicas`) and
        scaled for mixed-precision loss scaling; the trackers named in the terms are updated.

        Args:
            compute_terms: Returns the batch's loss terms (``"loss"`` is minimized), run
                under the gradient tape.
            batch_size: Examples in this replica's batch.

        Returns:
            The trackers' results, what ``train_step`` returns.
        """
        with tf.GradientTape() as tape:
            terms = compute_terms()
            loss = scale_loss_for_replicas(terms["loss"], batch_size)
            if self.optimizer is not None:
                loss = self.optimizer.scale_loss(loss)
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self.update_trackers(terms, batch_size)

    # -- reporting ----------------------------------------------------------------------
    def update_trackers(self, terms: dict, batch_size) -> dict:
        """Updates each ``Mean`` tracker of ``self.metrics`` named in ``terms``, weighted by the batch size.

        Returns:
            ``{name: result}`` of every tracker, what ``train_step`` returns.
        """
        for tracker in self.metrics:
            if tracker.name in terms:
                tracker.update_state(terms[tracker.name], sample_weight=batch_size)
        return {m.name: m.result() for m in self.metrics}


__all__ = ["DataSpec", "Trainer"]
