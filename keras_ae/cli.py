"""The ``keras-ae`` command line: train, evaluate, export, sample, reconstruct, recipes and datasets.

Examples::

    keras-ae datasets
    keras-ae train denoising --dataset digits --epochs 2 --out runs/cli_denoising
    keras-ae evaluate runs/cli_denoising/model.keras
    keras-ae export runs/cli_denoising/model.keras --name digits_denoiser
    keras-ae reconstruct runs/cli_denoising/model.keras --input noisy_pngs/ --out denoised/
    keras-ae sample runs/cli_vae/model.keras -n 64 --out samples/ --seed 0
    keras-ae recipes list

Training is resumable: after a crash, the same ``train`` command continues from the last
finished epoch (``<out>/backup/``); asking for fewer ``--epochs`` than the backup already
finished is refused (exit 2: pass at least that many, or ``--fresh``). Model files load in
Keras' safe mode and config files are read with ``yaml.safe_load`` (plain data only, at
most 1 MiB and 10,000 values with YAML aliases expanded).

Families that score images on a grid (RealNVP: 8-bit, ``k / 255``) get their images
rounded to it (``--quantize LEVELS`` chooses a grid for any model). A ``--tensorboard``
summary that fails never costs the trained model: model.keras and history.json are
saved, then the failure is reported (exit 1).

Exit codes: 0 success, 2 usage error (bad flag, unknown model or dataset name, bad
value, unsafe or oversized model or config file), 1 any other failure (missing file,
training diverged, export exists, ...). Either error is one line on stderr.
``python -m keras_ae`` is the same program. Set ``KERAS_AE_DEBUG=1`` for tracebacks.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import math
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

# Training-config handling (defaults, file reading and bounds, checks) lives in keras_ae.cli_config.
from keras_ae.atomic import write_text_atomically
from keras_ae.cli_config import (
    FOLDER_SETTINGS, MAX_SEED, TRAIN_DEFAULTS, UsageError, _RESUME_FREE, _one_line, _show, folder_options,
    resolve_train_config,
)
from keras_ae.cli_files import add_file_commands

if TYPE_CHECKING:
    import keras
    import numpy as np
    import tensorflow as tf

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
PROG = "keras-ae"
RECIPES_ENV = "KERAS_AE_RECIPES"
# The builders that standardize a table's columns inside the model (their `standardize=` argument).
TABLE_MODELS = ("dense", "vae")


# -- helpers -------------------------------------------------------------------------------
def _table(rows: list[dict]) -> str:
    from keras_ae.experiment import format_table

    return format_table(rows)


def _load_model(path: str):
    """Loads a ``.keras`` file in safe mode (see :func:`keras_ae.saving.load_model`)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"No such model file: {path} (train one with `{PROG} train`).")
    from keras_ae.saving import load_model

    return load_model(path)



def _build_model(name: str, input_shape: tuple, params: dict):
    from keras_ae.models import BUILDERS
    from keras_ae.validation import check_choice

    builder = BUILDERS[check_choice(name, "model", sorted(BUILDERS))]
    shape_arg = next(iter(inspect.signature(builder).parameters))  # every builder takes the shape first
    if shape_arg in params:
        raise UsageError(f"params may not set {shape_arg}: the shape comes from the dataset (see --dataset).")
    try:
        return builder(input_shape, **params)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        accepted = [p for p in inspect.signature(builder).parameters if p not in ("input_shape", "kwargs")]
        raise UsageError(f"{_one_line(exc, 300)}. {builder.__name__} accepts: {', '.join(accepted)} "
                         "(see its docstring).") from exc


def grid_levels(model: keras.Model, levels: int | None = None) -> int | None:
    """The grey levels the CLI rounds a model's images to: ``levels`` (``--quantize``), else
    the model's own grid when it scores images of more than 2 levels (RealNVP: 256), else ``None``.

    Two levels are never chosen for a model: its binary images come from ``--binarize`` (a
    Bernoulli draw per pixel), not from rounding.

    Args:
        model: A built keras_ae model (its ``data_spec(training=True)`` declares the grid).
        levels: ``--quantize``, or ``None``.

    Returns:
        The number of levels, or ``None`` (images used as loaded).

    Example:
        >>> grid_levels(build_realnvp((8, 8, 1), filters=4, blocks=0, couplings=1, final_couplings=1))
        256
        >>> grid_levels(build_dense_ae((8, 8, 1), code_dim=4)), grid_levels(build_dense_ae((8, 8, 1), code_dim=4), 16)
        (None, 16)
    """
    if levels is not None:
        return int(levels)
    spec = model.data_spec(training=True) if callable(getattr(model, "data_spec", None)) else None
    own = getattr(spec, "levels", None)
    return int(own) if own is not None and own > 2 else None


def quantize(x: np.ndarray | tf.Tensor, levels: int) -> np.ndarray | tf.Tensor:
    """Images in [0, 1] rounded to the grid ``k / (levels - 1)``: a NumPy array or a ``tf.Tensor``.

    Args:
        x: Images in [0, 1]: a NumPy array, or a tensor (or anything ``tf.cast`` takes).
        levels: Number of grey levels, ``>= 2`` (256: 8-bit images).

    Returns:
        float32 values ``round(x * (levels - 1)) / (levels - 1)``: a NumPy array for a NumPy
        array, else a ``tf.Tensor``.

    Example:
        >>> quantize(np.array([0.0, 0.3125, 1.0], np.float32), 256) * 255
        array([  0.,  80., 255.], dtype=float32)
    """
    import numpy as np

    steps = float(levels - 1)
    if isinstance(x, np.ndarray):
        return (np.round(x.astype(np.float32) * steps) / steps).astype(np.float32)
    import tensorflow as tf

    return tf.round(tf.cast(x, tf.float32) * steps) / steps


def _compile(model, learning_rate: float, steps_per_execution: int | None = None) -> None:
    import keras

    extra = {} if steps_per_execution is None else {"steps_per_execution": steps_per_execution}
    if model.single_optimizer:  # Trainer.single_optimizer: False for families with optimizers of their own
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), **extra)
    else:  # families with their own optimizers (e.g. a GAN's two) keep their defaults
        model.compile(**extra)
        print(f"note: {type(model).__name__}.compile() chooses its own optimizers; --learning-rate is not used.")


def _final_metrics(history: dict) -> dict[str, float]:
    return {k: float(v[-1]) for k, v in history.items() if v}


# -- subcommands -------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    """Trains a builder on a dataset; writes model.keras, history.json and config.json.

    The run is resumable: ``out/backup/`` holds the state after each finished epoch, and
    the same command started again after a crash continues from there.

    Args:
        args: The parsed ``keras-ae train`` command line.

    Returns:
        0 (errors raise; :func:`main` maps them to exit codes).

    Example:
        ```python
        from keras_ae.cli import main
        main(["train", "denoising", "--dataset", "digits", "--epochs", "2", "--out", "runs/cli_denoising"])
        ```
    """
    config = resolve_train_config(args)
    import keras
    import numpy as np

    from keras_ae.training.checkpoints import (BACKUP_DIR, clear_backup, fit_resumable, normalize_fingerprint,
                                               read_backup)
    from keras_ae.data import load_dataset
    from keras_ae.errors import TrainingDivergedError

    out = Path(config["out"])
    if args.fresh:
        clear_backup(out)
    resumed = read_backup(out / BACKUP_DIR)
    fingerprint = {k: v for k, v in config.items()
                   if k not in _RESUME_FREE and not (k in FOLDER_SETTINGS and v is None)}
    # A resumed run cannot un-train epochs: with fewer --epochs than already finished, the
    # history, model info and config.json would disagree. Refuse (other settings that differ
    # are reported by fit_resumable, so only check a backup of this very run).
    if resumed and resumed.get("fingerprint") in (None, normalize_fingerprint(fingerprint)) \
            and int(resumed.get("epoch", 0)) > config["epochs"]:
        raise UsageError(
            f"{out / BACKUP_DIR} holds an unfinished run with {int(resumed['epoch'])} epochs done, more than "
            f"--epochs {config['epochs']}. Pass --epochs {int(resumed['epoch'])} or more to finish it, or --fresh "
            "to start over.")
    from keras_ae.data import is_table_name

    if is_table_name(config["dataset"]) and config["model"] not in TABLE_MODELS:  # before reading the table
        raise UsageError(f"A table ({_show(config['dataset'])}) trains {' or '.join(TABLE_MODELS)} (they standardize "
                         f"the columns inside the model), not {_show(config['model'])}.")
    keras.utils.set_random_seed(int(config["seed"]))
    if config["stream"]:
        return _train_streamed(args, config, out, resumed, fingerprint)
    (x_train, y_train), (x_test, y_test) = load_dataset(config["dataset"], data_dir=config["data_dir"],
                                                        **_dataset_options(config))
    if config["limit"]:  # y is None for unlabelled data (an image folder without class folders)
        x_train = x_train[: int(config["limit"])]
        y_train = None if y_train is None else y_train[: int(config["limit"])]
    if config["binarize"]:  # fixed binarization (seeded) for Bernoulli models: VAE, PixelCNN
        from keras_ae.data import binarize

        x_train, x_test = binarize(x_train, seed=int(config["seed"])), binarize(x_test, seed=int(config["seed"]) + 1)
    model = _build_model(config["model"], tuple(x_train.shape[1:]), {**config["params"], **_table_params(config,
                                                                                                       x_train)})
    levels = _announce_grid(model, config)
    if levels:
        x_train, x_test = quantize(x_train, levels), quantize(x_test, levels)
    _compile(model, float(config["learning_rate"]), config["steps_per_execution"])
    n_params = sum(int(np.prod(w.shape)) for w in model.weights)  # count_params() needs model.built
    print(f"Training {config['model']} ({type(model).__name__}, {n_params:,} parameters) on "
          f"{config['dataset']}: {len(x_train)} train / {len(x_test)} test examples of shape {x_train.shape[1:]}.")
    if resumed:
        print(f"Resuming the unfinished run in {out / BACKUP_DIR}: {resumed['epoch']} of {config['epochs']} "
              f"epochs done (pass --fresh to start over).")
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.json"
    write_text_atomically(config_path, json.dumps(config, indent=2))  # written first: a killed run can be rerun from it
    # Class-conditional models (e.g. a conditional GAN) train on (images, labels).
    labelled = bool(getattr(model, "conditional", False))
    summaries = _tensorboard(config, model, x_test, y_test)
    start = time.perf_counter()
    try:
        history = fit_resumable(
            model, x_train, y=y_train if labelled else None, out_dir=out, fingerprint=fingerprint, keep_backup=True,
            epochs=config["epochs"], batch_size=config["batch_size"], verbose=args.verbose,
            validation_data=((x_test, y_test) if labelled else (x_test,)) if config["validation"] else None,
            callbacks=summaries,
        )
    except TrainingDivergedError:
        clear_backup(out)  # resuming would diverge again; best.keras / last.keras keep the finite epochs
        raise
    seconds = time.perf_counter() - start
    return _finish_training(args, config, model, history, seconds, resumed, len(x_train), summaries)


def _dataset_options(config: dict) -> dict:
    """The arguments of :func:`keras_ae.load_dataset` for an image folder or a table (none otherwise)."""
    from keras_ae.data import is_dir_name, is_table_name

    if not (is_dir_name(config["dataset"]) or is_table_name(config["dataset"])):
        return {}
    return {"seed": int(config["seed"]), **folder_options(config)}


def _table_params(config: dict, x_train) -> dict:
    """Builder arguments of a table: standardization on the training rows and the squared error.

    The standardization statistics become weights of the model (not config.json values), so
    the saved model and its export take raw rows.
    """
    from keras_ae.data import is_table_name

    if not is_table_name(config["dataset"]):
        return {}
    params = dict(config["params"])
    if config["model"] == "vae":
        params.setdefault("likelihood", "gaussian")
    else:
        params.setdefault("loss", "mse")
    return {**params, "standardize": x_train}


def _announce_grid(model, config: dict) -> int | None:
    """:func:`grid_levels` of the run, saved in ``model.info`` (``evaluate`` rounds the same way)."""
    levels = grid_levels(model, config.get("quantize"))
    if levels and config.get("quantize") is None:
        print(f"note: {type(model).__name__} scores images on a grid of {levels} grey levels; the images are rounded "
              f"to it (as --quantize {levels}).")
    if levels and isinstance(getattr(model, "info", None), dict):
        model.info["quantized"] = levels
    return levels


def _tensorboard(config: dict, model, x_test, y_test) -> list:
    """The TensorBoard callbacks of ``--tensorboard DIR`` (none without it), each contained:
    a failing summary is reported after model.keras and history.json are saved."""
    if not config["tensorboard"]:
        return []
    from keras_ae.training.callbacks import contained, tensorboard_callbacks

    # A fixed slice of the test split: the images and projector points of every summary.
    return contained(tensorboard_callbacks(config["tensorboard"], model, x_test[:2048], y_test[:2048]))


def _train_streamed(args: argparse.Namespace, config: dict, out: Path, resumed, fingerprint: dict) -> int:
    """``train --stream``: the same run from ``load_dataset(..., as_dataset=True)`` pipelines."""
    import numpy as np
    import tensorflow as tf

    from keras_ae.data import load_dataset
    from keras_ae.errors import InputValidationError, TrainingDivergedError
    from keras_ae.training.checkpoints import clear_backup, fit_resumable

    from keras_ae.data import is_table_name

    if is_table_name(config["dataset"]):
        raise UsageError("--stream does not apply to tables: the model's standardization is learned from the "
                         "training rows in memory; drop --stream.")
    if "as_dataset" not in inspect.signature(load_dataset).parameters:
        raise UsageError("--stream needs keras_ae.load_dataset(..., as_dataset=True), which this version lacks.")
    # Unbatched (image, label) elements, float32 in [0, 1].
    train_ds, test_ds = load_dataset(config["dataset"], data_dir=config["data_dir"], as_dataset=True,
                                     **_dataset_options(config))
    if config["limit"]:
        train_ds = train_ds.take(int(config["limit"]))
    if config["binarize"]:  # seeded per element: the same bits on every epoch, as `binarize` once
        def binarized(ds, seed):
            def draw(i, element):
                x, y = element
                u = tf.random.stateless_uniform(tf.shape(x), seed=tf.stack([tf.cast(seed, tf.int64), i]))
                return tf.cast(u < x, tf.float32), y
            return ds.enumerate().map(draw, num_parallel_calls=tf.data.AUTOTUNE)

        train_ds, test_ds = binarized(train_ds, config["seed"]), binarized(test_ds, config["seed"] + 1)
    input_shape = tuple(int(d) for d in train_ds.element_spec[0].shape)
    model = _build_model(config["model"], input_shape, config["params"])
    levels = _announce_grid(model, config)
    if levels:
        train_ds, test_ds = (ds.map(lambda x, y: (quantize(x, levels), y), num_parallel_calls=tf.data.AUTOTUNE)
                             for ds in (train_ds, test_ds))
    _compile(model, float(config["learning_rate"]), config["steps_per_execution"])
    # Class-conditional models train on (images, labels); the others on images alone.
    labelled = bool(getattr(model, "conditional", False))

    def batched(ds: tf.data.Dataset, shuffle: bool) -> tf.data.Dataset:
        if not labelled:
            ds = ds.map(lambda x, y: x, num_parallel_calls=tf.data.AUTOTUNE)
        if shuffle:
            ds = ds.shuffle(10_000, seed=int(config["seed"]), reshuffle_each_iteration=True)
        return ds.batch(int(config["batch_size"])).prefetch(tf.data.AUTOTUNE)

    first = next(iter(test_ds.batch(2048)), None)  # fixed summary examples
    if first is None:  # as the array path: validation and summaries need test examples
        raise InputValidationError(f"The test split of {config['dataset']!r} is empty; it needs at least one example.")
    x_test, y_test = (np.asarray(t) for t in first)
    n_params = sum(int(np.prod(w.shape)) for w in model.weights)
    print(f"Training {config['model']} ({type(model).__name__}, {n_params:,} parameters) on {config['dataset']} "
          f"streamed from tf.data (batches of {config['batch_size']}), examples of shape {input_shape}.")
    if resumed:
        print(f"Resuming the unfinished run in {out}: {resumed['epoch']} of {config['epochs']} epochs done.")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomically(out / "config.json", json.dumps(config, indent=2))
    summaries = _tensorboard(config, model, x_test, y_test)
    start = time.perf_counter()
    try:
        history = fit_resumable(
            model, batched(train_ds, shuffle=True), out_dir=out, fingerprint=fingerprint, keep_backup=True,
            epochs=config["epochs"], verbose=args.verbose,
            validation_data=batched(test_ds, shuffle=False) if config["validation"] else None,
            callbacks=summaries,
        )
    except TrainingDivergedError:
        clear_backup(out)
        raise
    seconds = time.perf_counter() - start
    n_train = int(train_ds.cardinality()) if int(train_ds.cardinality()) >= 0 else None
    return _finish_training(args, config, model, history, seconds, resumed, n_train, summaries)


def _finish_training(args: argparse.Namespace, config: dict, model, history: dict, seconds: float, resumed,
                     n_train: int | None, summaries: Sequence = ()) -> int:
    """Checks the history, saves model.keras and history.json, prints the summary, then
    reports a failed summary callback (exit 1): the trained model is saved either way."""
    import numpy as np

    from keras_ae.errors import KerasAEError, TrainingDivergedError
    from keras_ae.training.callbacks import failures
    from keras_ae.saving import save_model
    from keras_ae.training.checkpoints import clear_backup

    out = Path(config["out"])
    model_path, history_path, config_path = out / "model.keras", out / "history.json", out / "config.json"
    final = _final_metrics(history)
    epochs_run = max((len(v) for v in history.values()), default=0)
    if not all(np.isfinite(v) for v in final.values()) or epochs_run < config["epochs"]:
        raise TrainingDivergedError(f"Training diverged (final metrics {final}); lower --learning-rate.")

    if isinstance(getattr(model, "info", None), dict):  # saved with the model, read by `export`
        model.info.update({"dataset": config["dataset"], "data_dir": config["data_dir"],
                           "binarized": bool(config["binarize"]), "seed": config["seed"],
                           "dataset_options": _dataset_options(config), "train_examples": n_train,
                           "epochs": config["epochs"], "final_metrics": final, "trained_with": f"{PROG} train"})
    save_model(model, model_path)
    write_text_atomically(history_path, json.dumps(history, indent=2))
    clear_backup(out)  # only now: a kill before this point resumes instead of retraining

    rows = [{"metric": k, "train": v, "validation": final.get(f"val_{k}", "")}
            for k, v in final.items() if not k.startswith("val_")]
    done_before = f" ({resumed['epoch']} before the restart)" if resumed else ""
    print(f"\nTrained {config['model']} for {config['epochs']} epochs{done_before} in {seconds:.1f} s.")
    print(_table(rows))
    print(f"\nmodel:   {model_path}  (checkpoints: {out / 'best.keras'}, {out / 'last.keras'})\n"
          f"history: {history_path}\nconfig:  {config_path}  (rerun: {PROG} train --config {config_path})")
    print(f"next:    {PROG} evaluate {model_path}  |  {PROG} export {model_path} --name {config['model']}")
    failed = failures(summaries)
    if failed:
        raise KerasAEError(f"--tensorboard: {failed[0]} (model.keras and history.json are saved; the TensorBoard "
                           f"logs in {config['tensorboard']} are incomplete).")
    return EXIT_OK


def evaluate_model(model: keras.Model, x: np.ndarray, batch_size: int = 256, seed: int = 0,
                   y: np.ndarray | None = None) -> dict[str, float]:
    """Keras ``evaluate`` metrics, plus squared error and PSNR for auto-encoders and the
    noisy -> denoised PSNR for denoisers (noise drawn with ``seed``).

    Args:
        model: A trained keras_ae model.
        x: Test examples.
        batch_size: Evaluation batch size.
        seed: Seed of a denoiser's noise.
        y: Class labels, for class-conditional models (``num_classes=K``); else ``None``.

    Returns:
        Metric name -> value.

    Example:
        >>> model = build_denoising_ae((8, 8, 1), architecture="dense", hidden=(16,), code_dim=4)
        >>> model.compile()
        >>> _ = model.fit(x_digits, epochs=1, batch_size=64, verbose=0)
        >>> results = evaluate_model(model, x_digits_test)
        >>> sorted(results)
        ['denoised_psnr_db', 'loss', 'noisy_psnr_db', 'psnr_db', 'reconstruction', 'squared_error_per_example']
    """
    from keras_ae.evaluation import psnr, squared_error_per_example
    from keras_ae.validation import label_arguments

    scores = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    results = {k: float(v) for k, v in scores.items()}
    if callable(getattr(model, "reconstruct", None)) and getattr(model, "input_range", None) == (0.0, 1.0):
        recon = model.reconstruct(x, batch_size=batch_size, **label_arguments(model, y))
        results["squared_error_per_example"] = float(squared_error_per_example(x, recon).mean())
        results["psnr_db"] = float(psnr(x, recon).mean())
        corruption = getattr(model, "corruption", None)
        if corruption is not None:
            from keras_ae.data import corrupt

            noisy = corrupt(x, corruption.noise, corruption.level, seed=seed, clip=corruption.clip)
            results["noisy_psnr_db"] = float(psnr(x, noisy).mean())
            results["denoised_psnr_db"] = float(psnr(x, model.reconstruct(noisy, batch_size=batch_size,
                                                                          **label_arguments(model, y))).mean())
    return results


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluates a saved model on a dataset's test split and prints the metrics as a table.

    The dataset defaults to the training dataset recorded in ``model.info`` (with its folder
    options), else digits. The test images are binarized with ``--binarize`` (or, without
    ``--dataset``, when ``model.info`` records binarized training data) and rounded to the
    model's grey-level grid as ``train`` did. The metrics are those of :func:`evaluate_model`;
    ``--json`` also writes them to a file.

    Args:
        args: The parsed ``keras-ae evaluate`` command line.

    Returns:
        0 (errors raise; :func:`main` maps them to exit codes).

    Example:
        ```python
        from keras_ae.cli import main
        main(["evaluate", "runs/cli_denoising/model.keras", "--json", "runs/cli_denoising/eval.json"])
        ```
    """
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {args.batch_size}.")
    if not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be an integer in [0, {MAX_SEED}], got {args.seed}.")
    if args.json is not None and not args.json.strip():
        raise UsageError("--json must name a file, got ''.")
    model = _load_model(args.model)
    from keras_ae.data import load_dataset

    info = getattr(model, "info", None) or {}
    dataset = args.dataset or info.get("dataset") or "digits"
    data_dir = args.data_dir or (None if args.dataset else info.get("data_dir"))
    # The recorded dataset is loaded as `train` loaded it (an image folder's size, colour mode and
    # split); another image folder at the model's own image size and colour mode.
    options = dict(info.get("dataset_options") or {}) if dataset == info.get("dataset") else {}
    if "image_size" in options:
        options["image_size"] = tuple(options["image_size"])
    if dataset.startswith("dir:") and not options:
        shape = tuple(getattr(model, "example_shape", None) or getattr(model, "image_shape", None) or ())
        if len(shape) == 3 and shape[-1] in (1, 3):
            options = {"image_size": shape[:2], "color_mode": "grayscale" if shape[-1] == 1 else "rgb"}
    _, (x_test, y_test) = load_dataset(dataset, data_dir=data_dir, **options)
    if args.binarize or (info.get("binarized") and not args.dataset):  # as `train --binarize` did
        from keras_ae.data import binarize

        x_test = binarize(x_test, seed=int(info.get("seed") or 0) + 1)
    levels = grid_levels(model, info.get("quantized"))
    if levels:  # the grid `train` rounded to (or the model's own)
        x_test = quantize(x_test, levels)
    # A class-conditional model (e.g. `keras-ae train conditional_gan`) is scored on (images, labels).
    labels = y_test if getattr(model, "conditional", False) else None
    results = evaluate_model(model, x_test, batch_size=args.batch_size, seed=args.seed, y=labels)
    print(f"{args.model} on the {dataset} test split ({len(x_test)} examples):")
    print(_table([{"metric": k, "value": v} for k, v in results.items()]))
    if args.json:
        write_text_atomically(args.json, json.dumps({"model": args.model, "dataset": dataset, "results": results},
                                                    indent=2))
        print(f"results: {args.json}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Exports a saved model as a versioned SavedModel for TensorFlow Serving.

    Writes ``<base-dir>/<name>/<version>/`` with :func:`keras_ae.export.export` (the
    ``history.json`` next to the model goes into the metadata unless ``--history`` names
    another) and prints the signatures and a ``docker run`` command that serves them.

    Args:
        args: The parsed ``keras-ae export`` command line.

    Returns:
        0 (errors raise; :func:`main` maps them to exit codes).

    Example:
        ```python
        from keras_ae.cli import main
        main(["export", "runs/cli_denoising/model.keras", "--name", "digits_denoiser"])
        ```
    """
    def finite(text: str) -> float:  # NaN/Infinity (or 1e999) would make the metadata invalid JSON
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {_show(text)}")
        return value

    try:
        metadata = json.loads(args.metadata, parse_float=finite, parse_constant=finite) if args.metadata else None
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"--metadata must be a JSON object of finite values, e.g. '{{\"owner\": \"me\"}}': "
                         f"{_one_line(exc, 200)}") from exc
    if metadata is not None and not isinstance(metadata, dict):
        raise UsageError(f"--metadata must be a JSON object, got {type(metadata).__name__}.")
    model = _load_model(args.model)
    from keras_ae.export import export, read_metadata

    history = args.history
    sibling = Path(args.model).with_name("history.json")
    if history is None and sibling.is_file():
        history = str(sibling)
    path = export(
        model, args.name or model.name, base_dir=args.base_dir, version=args.version, overwrite=args.overwrite,
        metadata=metadata, history=history, uint8=args.uint8, allow_untrained=args.allow_untrained,
    )
    meta = read_metadata(path)
    rows = [{"signature": name + (" (serving_default)" if name == meta["serving_default"] else ""),
             "inputs": ", ".join(f"{k}: {v['dtype']}{v['shape']}" for k, v in sig["inputs"].items()),
             "outputs": ", ".join(f"{k}: {v['dtype']}{v['shape']}" for k, v in sig["outputs"].items())}
            for name, sig in meta["signatures"].items()]
    print(f"Exported {args.model} to {path}")
    print(_table(rows).replace("None", "batch"))
    print(f"\nserve:   docker run -p 8501:8501 -v {Path(path).parent.resolve()}:/models/{meta['name']} "
          f"-e MODEL_NAME={meta['name']} tensorflow/serving")
    return EXIT_OK


def find_recipes_dir(explicit: str | None = None) -> Path | None:
    """The ``recipes/`` folder: ``explicit``, ``$KERAS_AE_RECIPES``, the source checkout the
    package runs from, or ``./recipes``; ``None`` when the package is installed without it.

    Args:
        explicit: ``--recipes-dir``, or ``None`` to search the other places in that order.

    Returns:
        The first of those that is a folder, or ``None``.

    Raises:
        FileNotFoundError: ``explicit`` is given but is not a folder (no other place is tried).

    Example:
        >>> folder = str(tmp_dir)
        >>> find_recipes_dir(folder) == Path(folder)
        True
        >>> find_recipes_dir(f"{folder}/missing")
        Traceback (most recent call last):
        ...
        FileNotFoundError: --recipes-dir .../missing is not a folder.
    """
    import keras_ae

    if explicit is not None:  # an explicit folder is the only candidate: never fall back silently
        if not Path(explicit).is_dir():
            raise FileNotFoundError(f"--recipes-dir {explicit} is not a folder.")
        return Path(explicit)
    checkout = Path(keras_ae.__file__).resolve().parents[1]
    candidates = [os.environ.get(RECIPES_ENV),
                  checkout / "recipes" if (checkout / "pyproject.toml").is_file() else None, Path.cwd() / "recipes"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def list_recipes(folder: Path) -> dict[str, str]:
    """Recipe name -> first docstring line, read without running the files.

    Files whose name starts with ``_`` are not recipes and are skipped.

    Args:
        folder: A recipes folder (its ``*.py`` files, not sub-folders).

    Returns:
        Recipe name (file stem) -> the first line of its module docstring, sorted by file name:
        ``""`` without a docstring, ``"(does not parse)"`` for a file with a syntax error.

    Example:
        >>> folder = tmp_dir
        >>> _ = (folder / "denoising.py").write_text("'''Train a denoising auto-encoder.\\n\\nMore text.'''")
        >>> _ = (folder / "_shared.py").write_text("'''Helpers (not a recipe).'''")
        >>> list_recipes(folder)
        {'denoising': 'Train a denoising auto-encoder.'}
    """
    recipes = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        except SyntaxError:
            doc = "(does not parse)"
        recipes[path.stem] = doc.strip().splitlines()[0] if doc.strip() else ""
    return recipes


def cmd_recipes(args: argparse.Namespace) -> int:
    """Lists the recipes, or runs one (its own flags follow its name).

    ``recipes run NAME ...`` runs ``NAME.py`` of the recipes folder (:func:`find_recipes_dir`)
    in a child process of the same Python interpreter.

    Args:
        args: The parsed ``keras-ae recipes`` command line.

    Returns:
        0 after listing; the recipe's own exit code after running one.

    Example:
        ```python
        from keras_ae.cli import main
        main(["recipes", "list"])
        main(["recipes", "run", "denoising", "--epochs", "1", "--dataset", "digits"])
        ```
    """
    folder = find_recipes_dir(args.recipes_dir)
    if folder is None:
        raise FileNotFoundError(
            "No recipes/ folder found. Recipes ship with the keras_ae source repository, not with the installed "
            f"package: clone the repository and run from it, or pass --recipes-dir DIR (or set {RECIPES_ENV})."
        )
    recipes = list_recipes(folder)
    if getattr(args, "action", "list") != "run":
        if not recipes:
            print(f"No recipes in {folder}.")
        else:
            print(f"Recipes in {folder} (run one with `{PROG} recipes run NAME [--help]`):")
            print(_table([{"recipe": k, "what": v} for k, v in recipes.items()]))
        return EXIT_OK
    if args.name not in recipes:
        raise UsageError(f"Unknown recipe {args.name!r}; choose one of: {', '.join(recipes) or '(none)'}.")
    extra = [a for a in args.recipe_args if a != "--"]
    print(f"$ {Path(sys.executable).name} {folder / (args.name + '.py')} {' '.join(extra)}", flush=True)
    return subprocess.call([sys.executable, str(folder / f"{args.name}.py"), *extra])


def cmd_datasets(args: argparse.Namespace) -> int:
    """Lists the datasets and whether each loads offline (:func:`keras_ae.data.dataset_status`).

    Args:
        args: The parsed ``keras-ae datasets`` command line (``--data-dir``: a folder of ``<name>.npz`` files).

    Returns:
        0.

    Example:
        ```python
        from keras_ae.cli import main
        main(["datasets", "--data-dir", "data/"])
        ```
    """
    from keras_ae.data import DATASETS, GENERATED_IMAGE_DATASETS, IMAGE_DATASETS, TFDS_DATASETS, dataset_status

    shapes = {**{name: shape for name, (shape, _) in IMAGE_DATASETS.items()}, **GENERATED_IMAGE_DATASETS}
    # dataset_status checks a found .npz really opens as a Keras-format file ("unusable: ...").
    rows = [{"dataset": name, "kind": "image" if name in shapes else "manifold", "shape": str(shapes.get(name, (3,))),
             "status": dataset_status(name, args.data_dir)} for name in DATASETS]
    rows += [{"dataset": name, "kind": "tfds", "shape": "-", "status": dataset_status(name, args.data_dir)}
             for name in TFDS_DATASETS]
    print(_table(rows))
    print("\n'offline': ships with keras_ae (digits; mnist10k, the MNIST test set split 8,000 / 2,000) or is "
          "generated. 'download needed': pass --data-dir DIR holding a Keras-format <name>.npz, or go online. "
          "TFDS names read prepared TFDS data from --data-dir (default ~/tensorflow_datasets); "
          "'missing' shows the command that prepares it on a machine with internet.")
    return EXIT_OK


# -- parser --------------------------------------------------------------------------------
def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    """The ``keras-ae`` argument parser (one subparser per subcommand).

    Returns:
        The parser; each subcommand sets ``handler`` (the ``cmd_*`` function that runs it) and
        ``command`` (its name).

    Example:
        >>> build_parser().parse_args(["datasets"]).command
        'datasets'
    """
    from keras_ae import __version__

    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=_formatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    # Before the command (`train --verbose N` is Keras' progress verbosity); read again by
    # keras_ae.quiet before TensorFlow's first import.
    parser.add_argument("--verbose", dest="startup_log", action="store_true",
                        help="show TensorFlow's C++ start-up log lines (hidden by default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Callable, help_text: str, epilog: str = "") -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog, formatter_class=_formatter)
        p.set_defaults(handler=handler)
        return p

    train = add("train", cmd_train, "Train a model by builder name and save model.keras, history.json, config.json.",
                "examples:\n  keras-ae train denoising --dataset digits --epochs 2 --out runs/cli_denoising\n"
                "  keras-ae train denoising --dataset mnist10k --epochs 5   # 28x28 MNIST, offline\n"
                "  keras-ae train dense -p code_dim=16 -p hidden=[64,32] --epochs 5\n"
                "  keras-ae train dense --dataset dir:photos/ --epochs 5   # a folder of images, one folder per class\n"
                "  keras-ae train --config runs/cli_denoising/config.json   # rerun exactly\n"
                "Flags override the config file; the resolved config is saved as config.json.\n"
                "Resumable: out/backup/ holds the state after each epoch; after a crash, run the same command\n"
                "again and training continues from the last finished epoch. best.keras / last.keras are kept.")
    train.add_argument("model", nargs="?", help="builder name (dense, conv, denoising, ...); "
                                                "an unknown name lists the valid ones")
    train.add_argument("--config",
                       help="JSON or YAML file with these settings (keys: " + ", ".join(TRAIN_DEFAULTS) + ")")
    train.add_argument("--dataset", help="dataset name (default digits; mnist10k: the MNIST test set split "
                                         "8,000 / 2,000 that ships with keras_ae; dir:PATH: a folder of images, "
                                         "one sub-folder per class; csv:PATH / npy:PATH: a numeric table, "
                                         "standardized inside the model; see `keras-ae datasets`)")
    train.add_argument("--data-dir", help="folder with a Keras-format <dataset>.npz for offline use "
                                          "(not for digits or mnist10k, which ship with keras_ae)")
    train.add_argument("--image-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"),
                       help="dir:PATH only: resize the images to HEIGHT x WIDTH (default: their own size)")
    train.add_argument("--color-mode", choices=("grayscale", "rgb"),
                       help="dir:PATH only: grayscale or rgb (default: grayscale when every image is grey)")
    train.add_argument("--validation-split", type=float,
                       help="dir:PATH without a test/ folder, or a table (csv:PATH, npy:PATH): fraction held "
                            "out as the test split (default 0.2, shuffled with --seed)")
    train.add_argument("--label-column", metavar="NAME",
                       help="csv:PATH only: the column of class labels (left out of the features)")
    train.add_argument("--missing", choices=("error", "drop"),
                       help="csv:PATH only: refuse rows with missing values (error, default) or drop them")
    train.add_argument("--epochs", type=int, help="training epochs (default 10)")
    train.add_argument("--batch-size", type=int, help="batch size (default 128)")
    train.add_argument("--learning-rate", type=float, help="Adam learning rate (default 1e-3)")
    train.add_argument("--seed", type=int, help="random seed (default 0)")
    train.add_argument("--limit", type=int, help="use only the first N training examples")
    train.add_argument("--binarize", action="store_const", const=True,
                       help="binarize the images once, pixel ~ Bernoulli(intensity) (Bernoulli VAE, PixelCNN)")
    train.add_argument("--quantize", type=int, metavar="LEVELS",
                       help="round the images to LEVELS grey levels, k / (LEVELS - 1) (256: 8-bit images); default: "
                            "the model's own grid (256 for realnvp), else the images as loaded")
    train.add_argument("--no-validation", dest="validation", action="store_const", const=False,
                       help="skip validation on the test split")
    train.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                       help="builder argument, value in YAML (e.g. -p code_dim=16 -p hidden=[64,32]); repeatable")
    train.add_argument("--out", help="output folder (default runs/train_<model>); a rerun into the same folder "
                                     "resumes an unfinished run")
    train.add_argument("--fresh", action="store_true",
                       help="discard an unfinished run's backup in --out and start over")
    train.add_argument("--steps-per-execution", type=int, metavar="N",
                       help="training steps per call into the compiled graph (default: the model's, 64 for "
                            "keras_ae models); 1 updates progress bars and callbacks after every step")
    train.add_argument("--tensorboard", metavar="DIR",
                       help="write TensorBoard logs to DIR: epoch scalars, image summaries every 5 epochs, and "
                            "the test codes in the embedding projector (view: tensorboard --logdir DIR)")
    train.add_argument("--stream", action="store_const", const=True,
                       help="train from a tf.data pipeline (load_dataset(..., as_dataset=True)) instead of arrays")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="Keras fit verbosity: 1 progress bar, 2 one line per epoch, 0 silent")

    evaluate = add("evaluate", cmd_evaluate, "Evaluate a saved model on a dataset's test split.",
                   "example:\n  keras-ae evaluate runs/cli_denoising/model.keras --json runs/cli_denoising/eval.json")
    evaluate.add_argument("model", help="a .keras file")
    evaluate.add_argument("--dataset", help="dataset (default: the one the model was trained on, else digits)")
    evaluate.add_argument("--data-dir", help="folder with a Keras-format <dataset>.npz")
    evaluate.add_argument("--binarize", action="store_true",
                          help="binarize the test images (default: if the model was trained with --binarize)")
    evaluate.add_argument("--batch-size", type=int, default=256)
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the noise for denoisers")
    evaluate.add_argument("--json", help="also write the results to this JSON file")

    export = add("export", cmd_export, "Export a saved model as saved_models/<name>/<version>/ for TensorFlow Serving.",
                 "example:\n  keras-ae export runs/cli_denoising/model.keras --name digits_denoiser\n"
                 "Signatures: serving_default = reconstruct, encode, decode, denoise (denoisers), *_uint8 variants.")
    export.add_argument("model", help="a .keras file")
    export.add_argument("--name", help="model name (default: the model's name)")
    export.add_argument("--base-dir", default="saved_models", help="model base path")
    export.add_argument("--version", type=int, help="integer version (default: the next free one)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing version")
    export.add_argument("--history", help="history JSON for the metadata (default: history.json next to the model)")
    export.add_argument("--metadata", help="extra JSON object stored in the metadata under 'user'")
    export.add_argument("--uint8", dest="uint8", action="store_true", default=None,
                        help="force the *_uint8 signatures (default: for models of [0, 1] data)")
    export.add_argument("--no-uint8", dest="uint8", action="store_false", help="omit the *_uint8 signatures")
    export.add_argument("--allow-untrained", action="store_true", help="export a model that was never trained")

    recipes = add("recipes", cmd_recipes, "List the recipes in the repository's recipes/ folder, or run one.",
                  "examples:\n  keras-ae recipes list\n  keras-ae recipes run denoising --epochs 1 --dataset digits")
    recipes.add_argument("--recipes-dir",
                         help=f"recipes folder (default: ${RECIPES_ENV}, the source checkout, ./recipes)")
    actions = recipes.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the recipes (default)", formatter_class=_formatter)
    run = actions.add_parser("run", help="run a recipe; its flags follow its name", formatter_class=_formatter)
    run.add_argument("name", help="recipe name (see `keras-ae recipes list`)")
    run.add_argument("recipe_args", nargs=argparse.REMAINDER, help="arguments passed to the recipe")

    datasets = add("datasets", cmd_datasets, "List the datasets and whether each is available offline.")
    datasets.add_argument("--data-dir", help="folder with Keras-format <name>.npz files to check")
    add_file_commands(add)  # sample, reconstruct: keras_ae.cli_files
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``keras-ae``; returns the exit code (0 ok, 2 usage error, 1 failure).

    Errors are printed as one line on stderr (a traceback too with ``KERAS_AE_DEBUG=1``).

    Args:
        argv: The arguments after the program name, or ``None`` for ``sys.argv[1:]``.

    Returns:
        The exit code: the command's own (0 on success; a recipe's for ``recipes run``), 0 for
        ``--help`` and ``--version``, 2 for a usage error or no command, 1 for any other failure
        or an interrupt.

    Example:
        >>> main(["datasets"])  # the status column depends on the files this machine has
        | dataset | kind | shape | status |
        | --- | --- | --- | --- |
        | mnist | image | (28, 28, 1) | ... |
        ...
        | digits | image | (8, 8, 1) | offline |
        ...
        0
        >>> main(["train", "no_such_model"])  # a usage error: one line on stderr, exit code 2
        2
    """
    from keras_ae.quiet import quiet_tensorflow_import, wants_verbose

    # Usually a no-op: `import keras_ae` already imported TensorFlow, quietly, through
    # keras_ae.quiet.quiet_entry_point. Here for a process whose TensorFlow is not loaded yet.
    quiet_tensorflow_import(verbose=wants_verbose([PROG, *(sys.argv[1:] if argv is None else argv)]))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or an argparse usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from keras_ae.errors import InputValidationError, KerasAEError, UnknownNameError

    try:
        return int(args.handler(args) or EXIT_OK)
    except (UsageError, UnknownNameError, InputValidationError) as exc:  # bad input: exit 2
        if os.environ.get("KERAS_AE_DEBUG"):
            traceback.print_exc()
        print(f"{PROG} {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except (KerasAEError, OSError) as exc:  # expected failures (missing file, diverged, ...): exit 1
        if os.environ.get("KERAS_AE_DEBUG"):
            traceback.print_exc()
        print(f"{PROG} {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # report, don't dump a traceback on users (KERAS_AE_DEBUG=1 shows it)
        if os.environ.get("KERAS_AE_DEBUG"):
            traceback.print_exc()
        print(f"{PROG} {args.command}: error: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
