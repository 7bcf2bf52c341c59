"""Resumable training: a crash-safe backup plus best/last checkpoints around ``fit``.

A run killed at any moment (``SIGKILL``, a preempted machine, Ctrl-C) and started again
with the same command continues after the last finished epoch, with the same weights,
optimizer state and epoch history, and ends after the same total number of epochs::

    out/backup/       keras.callbacks.BackupAndRestore state (deleted when the run ends)
    out/last.keras    the model after the last finished epoch
    out/best.keras    the model at the best ``monitor`` value so far

Every file is written under a temporary name and renamed into place, so a kill during a
save leaves the previous version intact (this covers process kills; surviving a power
cut also depends on the file system's rename guarantees).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras

from keras_ae.errors import InputValidationError

BACKUP_DIR = "backup"
LAST_CHECKPOINT = "last.keras"
BEST_CHECKPOINT = "best.keras"
_PARTIAL = ".partial"


class ResumeMismatchError(InputValidationError):
    """A backup left by a run with other settings than the one being started."""


def _finite(logs: Mapping[str, Any] | None) -> bool:
    return all(math.isfinite(float(v)) for v in (logs or {}).values())


def normalize_fingerprint(value: Any) -> Any:
    """JSON round trip, so a fingerprint compares equal to the one read back from disk.

    Args:
        value: A run's settings (JSON-like; other values are stored as strings).

    Returns:
        The value as :func:`read_backup` would return it.

    Example:
        >>> normalize_fingerprint({"shape": (8, 8)})
        {'shape': [8, 8]}
    """
    return json.loads(json.dumps(value, sort_keys=True, default=str))


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that commits each epoch atomically, with its history and settings.

    At every epoch end it saves the weights (model and optimizer), the number of finished
    epochs and their logs; at the start of ``fit`` it restores them, so ``fit`` continues
    at the next epoch. Epochs with a NaN/inf value in their logs are never backed up.

    Args:
        backup_dir: Folder for the backup (used by nothing else).
        fingerprint: JSON settings of the run (model, data, learning rate, ...). A backup
            written with another fingerprint raises :class:`ResumeMismatchError` instead
            of loading weights that belong to another run.
        delete_checkpoint: Delete the backup when ``fit`` ends (keep it if the caller still
            has files to write; then call :func:`clear_backup`).

    Attributes:
        initial_epoch: Epochs already finished when ``fit`` started (0 for a new run).
        epoch_logs: One dict of logs per finished epoch, restored ones included.

    Example:
        >>> folder = tmp_dir / "backup"
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> backup = ResumableBackup(folder, delete_checkpoint=False)
        >>> _ = model.fit(x_digits, epochs=2, batch_size=64, verbose=0, callbacks=[backup])
        >>> read_backup(folder)["epoch"]
        2
        >>> again = ResumableBackup(folder, delete_checkpoint=False)  # as after a crash: a new process
        >>> _ = model.fit(x_digits, epochs=3, batch_size=64, verbose=0, callbacks=[again])  # runs epoch 3 only
        >>> again.initial_epoch, len(again.history()["loss"])  # all 3 epochs, also after the resume
        (2, 3)
    """

    def __init__(self, backup_dir: str | os.PathLike, fingerprint: Mapping[str, Any] | None = None,
                 delete_checkpoint: bool = True):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=delete_checkpoint)
        self.fingerprint = normalize_fingerprint(dict(fingerprint)) if fingerprint is not None else None
        self.initial_epoch = 0
        self.epoch_logs: list[dict[str, float]] = []

    # -- restore -------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        recover_backup(self.backup_dir)
        state = read_backup(self.backup_dir)
        self.initial_epoch, self.epoch_logs = 0, []
        if state is None:
            return
        saved = state.get("fingerprint")
        if self.fingerprint is not None and saved is not None and saved != self.fingerprint:
            changed = sorted(k for k in set(saved) | set(self.fingerprint) if saved.get(k) != self.fingerprint.get(k))
            raise ResumeMismatchError(
                f"{self.backup_dir} holds an unfinished run with other settings ({', '.join(changed)} differ: "
                f"{ {k: saved.get(k) for k in changed} } there, { {k: self.fingerprint.get(k) for k in changed} } "
                "now). Rerun with the same settings to resume it, delete the folder to start over, or use "
                "another output folder."
            )
        done, epochs = int(state["epoch"]), (self.params or {}).get("epochs")
        if isinstance(epochs, int) and done > epochs:
            # fit would run no epoch and return a longer history than asked for: refuse.
            raise ResumeMismatchError(
                f"{self.backup_dir} holds an unfinished run with {done} epochs done, more than the {epochs} "
                f"epochs asked for now. Ask for {done} or more to finish it, or delete the folder to start over."
            )
        super().on_train_begin(logs)  # loads the weights and sets the model's initial epoch
        self.initial_epoch = done
        self.epoch_logs = [dict(e) for e in state.get("history", [])][: self.initial_epoch]

    # -- back up ---------------------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        self.epoch_logs.append({k: float(v) for k, v in (logs or {}).items()})
        if not _finite(logs):  # a diverged epoch: NaNGuard restores the weights; keep the last good backup
            return
        self._current_epoch = epoch + 1
        self._commit()

    def _commit(self) -> None:
        """Two-phase save: write both files under temporary names, then rename the weights
        (the commit point), then the metadata. :func:`recover_backup` finishes or discards an
        interrupted commit."""
        os.makedirs(self.backup_dir, exist_ok=True)
        weights, meta = _partial(self._weights_path), _partial(self._training_metadata_path)
        self.model.save_weights(weights, overwrite=True)
        Path(meta).write_text(json.dumps({
            "epoch": self._current_epoch, "batch": 0, "history": self.epoch_logs, "fingerprint": self.fingerprint,
        }))
        os.replace(weights, self._weights_path)
        os.replace(meta, self._training_metadata_path)

    def on_train_end(self, logs=None):
        # Keras keeps the restored initial epoch on the model: a later fit() would skip epochs.
        self.model._initial_epoch = None
        super().on_train_end(logs)

    def history(self) -> dict[str, list[float]]:
        """The history of every finished epoch of the run, restored ones included.

        Example:
            >>> backup = ResumableBackup("unused")  # nothing is written before fit
            >>> backup.epoch_logs = [{"loss": 0.7}, {"loss": 0.6}]
            >>> backup.history()
            {'loss': [0.7, 0.6]}
        """
        return epoch_logs_to_history(self.epoch_logs)


def _partial(path: str) -> str:
    # save_weights needs the ".weights.h5" suffix, so the marker goes before it.
    head, sep, tail = os.path.basename(path).partition(".")
    return os.path.join(os.path.dirname(path), f"{head}{_PARTIAL}{sep}{tail}")


def epoch_logs_to_history(epoch_logs: Sequence[Mapping[str, float]]) -> dict[str, list[float]]:
    """Per-epoch log dicts -> ``History.history``-style dict of lists.

    Args:
        epoch_logs: One ``{metric: value}`` mapping per epoch, in order.

    Returns:
        ``{metric: [value of each epoch, ...]}`` with the values as Python floats (a metric
        missing from some epochs has fewer entries).

    Example:
        >>> epoch_logs_to_history([{"loss": 2.0}, {"loss": 1.0}])
        {'loss': [2.0, 1.0]}
    """
    history: dict[str, list[float]] = {}
    for logs in epoch_logs:
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
    return history


def _backup_files(backup_dir: str | os.PathLike) -> tuple[Path, Path, Path, Path]:
    folder = Path(backup_dir)
    weights, meta = folder / "latest.weights.h5", folder / "training_metadata.json"
    return weights, meta, Path(_partial(str(weights))), Path(_partial(str(meta)))


def recover_backup(backup_dir: str | os.PathLike) -> None:
    """Finishes a commit that was interrupted after its commit point (the weights rename)
    and discards one interrupted before it, so the weights and the metadata match.

    Only the training process may call this (it runs at the start of ``fit``).

    Args:
        backup_dir: The backup folder (``<out_dir>/backup``) holding ``latest.weights.h5`` and
            ``training_metadata.json``.

    Example:
        >>> folder = tmp_dir
        >>> _ = (folder / "latest.weights.h5").write_bytes(b"old")
        >>> _ = (folder / "training_metadata.json").write_text('{"epoch": 1}')
        >>> _ = (folder / "latest.partial.weights.h5").write_bytes(b"new")  # killed mid-commit
        >>> recover_backup(folder)
        >>> sorted(p.name for p in folder.iterdir())  # the partial file is discarded
        ['latest.weights.h5', 'training_metadata.json']
    """
    _, meta, partial_weights, partial_meta = _backup_files(backup_dir)
    if partial_weights.exists():  # killed before the commit point: the old pair is intact
        partial_weights.unlink()
        partial_meta.unlink(missing_ok=True)
    elif partial_meta.exists():  # killed between the two renames: finish the commit
        os.replace(partial_meta, meta)


def read_backup(backup_dir: str | os.PathLike) -> dict | None:
    """The committed backup state (``epoch``, ``history``, ``fingerprint``), or ``None``.

    Read-only, so it is safe to poll while training runs: it reports the state that a
    restart would resume from (including a commit that is past its commit point).

    Args:
        backup_dir: The backup folder (``<out_dir>/backup``).

    Returns:
        The parsed ``training_metadata.json`` (keys ``epoch``, ``batch``, ``history``,
        ``fingerprint``), or ``None`` when no committed weights and metadata are there (or
        they stay unreadable over 20 retries, about one second).

    Example:
        >>> out = tmp_dir
        >>> read_backup(out / BACKUP_DIR) is None  # nothing to resume
        True
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> _ = fit_resumable(model, x_digits, out_dir=out, fingerprint={"lr": 1e-3}, keep_backup=True,
        ...                   epochs=2, batch_size=64, verbose=0)
        >>> read_backup(out / BACKUP_DIR)
        {'epoch': 2, 'batch': 0, 'history': [{...}, {...}], 'fingerprint': {'lr': 0.001}}
    """
    weights, meta, partial_weights, partial_meta = _backup_files(backup_dir)
    for _ in range(20):  # a concurrent commit may rename a file between our checks: retry
        try:
            committed = partial_meta if partial_meta.exists() and not partial_weights.exists() else meta
            if not (weights.is_file() and committed.is_file()):
                return None
            return json.loads(committed.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.05)
    return None


def clear_backup(out_dir: str | os.PathLike) -> None:
    """Deletes ``out_dir/backup`` (after the run's final files are written).

    Args:
        out_dir: The run's output folder; a missing backup folder is not an error.

    Example:
        >>> out = tmp_dir
        >>> (out / BACKUP_DIR).mkdir()
        >>> clear_backup(out)
        >>> (out / BACKUP_DIR).exists()
        False
        >>> clear_backup(out)  # no backup: nothing to do
    """
    shutil.rmtree(Path(out_dir) / BACKUP_DIR, ignore_errors=True)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """``ModelCheckpoint`` (whole ``.keras`` model, once per epoch) written atomically.

    Args:
        filepath: Destination ``.keras`` file (no ``{epoch}`` placeholders).
        **kwargs: ``keras.callbacks.ModelCheckpoint`` arguments (``monitor``,
            ``save_best_only``, ``initial_value_threshold``, ...).

    Example:
        >>> path = tmp_dir / "best.keras"
        >>> best = AtomicModelCheckpoint(path, monitor="loss", save_best_only=True)
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> _ = model.fit(x_digits, epochs=1, batch_size=64, verbose=0, callbacks=[best])
        >>> sorted(p.name for p in path.parent.iterdir())  # no partial file left
        ['best.keras']
    """

    def __init__(self, filepath: str | os.PathLike, **kwargs):
        self.final_path = Path(filepath)
        if self.final_path.suffix != ".keras":
            raise InputValidationError(f"Checkpoints are .keras files, got {filepath}.")
        self.partial_path = self.final_path.with_name(f".{self.final_path.stem}{_PARTIAL}.keras")
        super().__init__(str(self.partial_path), save_freq="epoch", **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.partial_path.exists():
            os.replace(self.partial_path, self.final_path)


def training_callbacks(
    out_dir: str | os.PathLike,
    monitor: str | None = "val_loss",
    mode: str = "min",
    fingerprint: Mapping[str, Any] | None = None,
    keep_backup: bool = False,
) -> list[keras.callbacks.Callback]:
    """Callbacks that make ``fit`` resumable and keep best/last checkpoints in ``out_dir``.

    Pass them to ``fit`` and run the same code again after a crash: training continues
    after the last finished epoch. The backup callback is the last in the list, so the
    checkpoints of an epoch are on disk before the epoch counts as finished.

    Args:
        out_dir: Run folder; gets ``backup/``, ``last.keras`` and ``best.keras``.
        monitor: Log key that picks ``best.keras`` (``"loss"`` without validation);
            ``None``: no ``best.keras`` (e.g. a GAN, whose losses do not rank models).
        mode: ``"min"`` or ``"max"`` for ``monitor``.
        fingerprint: JSON settings of the run; a backup of a run with other settings is
            refused (:class:`ResumeMismatchError`) instead of being resumed.
        keep_backup: Keep ``backup/`` after ``fit`` (delete it with :func:`clear_backup`
            once the run's own outputs are written).

    Returns:
        ``[last checkpoint, best checkpoint, ResumableBackup]`` (no best one without ``monitor``).

    Example:
        >>> out = tmp_dir
        >>> callbacks = training_callbacks(out, monitor="val_loss")
        >>> [type(c).__name__ for c in callbacks]
        ['AtomicModelCheckpoint', 'AtomicModelCheckpoint', 'ResumableBackup']
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> _ = model.fit(x_digits, validation_data=(x_digits_test,), epochs=2, batch_size=64, verbose=0,
        ...               callbacks=callbacks)
        >>> sorted(p.name for p in out.iterdir())  # the backup is deleted once fit ends
        ['best.keras', 'last.keras']
    """
    out = Path(out_dir)
    backup_dir = out / BACKUP_DIR
    # On a resume, best.keras must only be replaced by a better epoch than those already run.
    state = read_backup(backup_dir)
    callbacks: list[keras.callbacks.Callback] = [AtomicModelCheckpoint(out / LAST_CHECKPOINT)]
    if monitor is not None:
        seen = [e[monitor] for e in (state or {}).get("history", []) if monitor in e]
        best = (min(seen) if mode == "min" else max(seen)) if seen else None
        callbacks.append(AtomicModelCheckpoint(out / BEST_CHECKPOINT, monitor=monitor, mode=mode, save_best_only=True,
                                               initial_value_threshold=best))
    callbacks.append(ResumableBackup(backup_dir, fingerprint=fingerprint, delete_checkpoint=not keep_backup))
    return callbacks


def fit_resumable(
    model: keras.Model,
    x: Any = None,
    out_dir: str | os.PathLike = "runs/fit",
    monitor: str | None = "auto",
    fingerprint: Mapping[str, Any] | None = None,
    keep_backup: bool = False,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    **fit_kwargs: Any,
) -> dict[str, list[float]]:
    """``model.fit`` with :func:`training_callbacks` and NaN safety; returns the full history.

    Args:
        model: A compiled, built model.
        x: Training data (as for ``fit``).
        out_dir: Run folder for the backup and checkpoints.
        monitor: Key for ``best.keras``: ``"auto"`` is ``val_loss`` with validation data, else
            ``loss``, and none for models without a ``loss`` (GANs); ``None`` writes no
            ``best.keras``.
        fingerprint: Settings of the run (see :func:`training_callbacks`).
        keep_backup: Keep the backup after ``fit`` (see :func:`training_callbacks`).
        callbacks: More callbacks, run before the checkpointing ones.
        **fit_kwargs: Passed to ``fit`` (``epochs``, ``batch_size``, ``validation_data``, ...).

    Returns:
        History of every epoch of the run (epochs finished before a restart included).

    Raises:
        TrainingDivergedError: a NaN/inf loss (the last finite weights are restored).
        ResumeMismatchError: ``out_dir`` holds a backup of a run with other settings.

    Example:
        >>> out = tmp_dir / "ae"
        >>> model = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> history = fit_resumable(model, x_digits, out_dir=out, epochs=2, batch_size=64, verbose=0,
        ...                         validation_data=(x_digits_test,))
        >>> sorted(history), len(history["loss"])
        (['loss', 'reconstruction', 'val_loss', 'val_reconstruction'], 2)
        >>> sorted(p.name for p in out.iterdir())
        ['best.keras', 'last.keras']
    """
    from keras_ae.training.nan_guard import fit_with_nan_guard

    if monitor == "auto":  # a GAN has no "loss" (its d_loss / g_loss do not rank models)
        has_loss = any(m.name == "loss" for m in model.metrics)
        monitor = None if not has_loss else "val_loss" if fit_kwargs.get("validation_data") is not None else "loss"
    ours = training_callbacks(out_dir, monitor=monitor, fingerprint=fingerprint, keep_backup=keep_backup)
    fit_with_nan_guard(model.fit, x=x, callbacks=[*(callbacks or []), *ours], **fit_kwargs)
    return ours[-1].history()


__all__ = [
    "AtomicModelCheckpoint", "BACKUP_DIR", "BEST_CHECKPOINT", "LAST_CHECKPOINT", "ResumableBackup",
    "ResumeMismatchError", "clear_backup", "epoch_logs_to_history", "fit_resumable", "normalize_fingerprint",
    "read_backup", "recover_backup",
    "training_callbacks",
]
