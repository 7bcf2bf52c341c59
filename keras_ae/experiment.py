"""Shared plumbing for recipes and benchmarks: arguments, training, result tables and JSON files.

Every recipe takes the same core flags (``--dataset``, ``--data-dir``, ``--epochs``,
``--out``, ``--seed``, ``--tensorboard``, ``--verbose``), trains through :func:`fit_recipe_model` (resumable, with
best/last checkpoints), prints its numbers as a table and writes ``results.json`` next
to its figures, so results are easy to compare and to paste into the docs' results table.

Data: without ``--data-dir`` (and without ``$KERAS_AE_DATA_DIR``) a recipe's ``--dataset
mnist`` is the MNIST test set split 8,000 / 2,000 that ships inside keras_ae,
``load_dataset("mnist10k")``; with a data folder it is that folder's ``mnist.npz``
(:func:`load_recipe_data`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import keras

from keras_ae.atomic import write_text_atomically

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf

    from keras_ae.data.images import Dataset

# The recipes' --data-dir default: $KERAS_AE_DATA_DIR, else none (``mnist`` then loads the embedded mnist10k).
DEFAULT_DATA_DIR: str | None = os.environ.get("KERAS_AE_DATA_DIR") or None
# Arguments that may change between a crashed run and its restart.
RESUME_FREE_ARGS = ("out", "epochs", "verbose", "tensorboard")
CHECKPOINTS = "checkpoints"  # recipes' checkpoint folder, inside --out
# A results.json holds a table and a few numbers (the largest written here: about 100 KB); a file
# beyond this is not one and is refused before it is read.
MAX_RESULTS_BYTES = 16 << 20


def recipe_parser(name: str, description: str, dataset: str = "mnist", epochs: int = 10) -> argparse.ArgumentParser:
    """An ``argparse`` parser with the flags every recipe shares.

    Args:
        name: Recipe name (default output folder ``runs/<name>``).
        description: What the recipe does (shown by ``--help``).
        dataset: Default dataset name.
        epochs: Default number of epochs.

    Returns:
        A parser; add recipe-specific flags, then ``parse_args()``.

    Example:
        >>> args = recipe_parser("denoising", "Denoise MNIST.").parse_args([])
        >>> args.out
        'runs/denoising'
    """
    # conflict_handler="resolve": a recipe may redefine --verbose (as its Keras fit verbosity).
    parser = argparse.ArgumentParser(prog=f"{name}.py", description=description, conflict_handler="resolve",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dataset", default=dataset,
                        help="dataset name: mnist, mnist10k, digits, ... (see `keras-ae datasets`)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                        help="folder (or file) with a Keras-format <dataset>.npz for offline use (default: "
                             "$KERAS_AE_DATA_DIR); without one, --dataset mnist is the MNIST test set split "
                             "8,000 / 2,000 that ships with keras_ae (load_dataset('mnist10k'))")
    parser.add_argument("--epochs", type=int, default=epochs, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default=f"runs/{name}", help="output folder for figures and results.json")
    parser.add_argument("--tensorboard", metavar="DIR", default=None,
                        help="write TensorBoard logs to DIR/<model> (scalars, images, embedding projector); "
                             "view with `tensorboard --logdir DIR`")
    parser.add_argument("--verbose", type=int, nargs="?", const=1, default=None,
                        help="show TensorFlow's C++ start-up log lines")
    return parser


def recipe_data_source(args: argparse.Namespace) -> tuple[str, str | None]:
    """The ``(dataset name, data_dir)`` that :func:`load_recipe_data` passes to ``load_dataset``.

    The one rule of every recipe: ``mnist`` without a data folder (no ``--data-dir``, no
    ``$KERAS_AE_DATA_DIR``) is the embedded ``mnist10k`` (the MNIST test set split 8,000 /
    2,000, identical to the file earlier numbers were measured on); ``mnist`` with a folder
    reads its ``mnist.npz``. ``mnist10k`` itself takes no folder: the ``$KERAS_AE_DATA_DIR``
    default is dropped for it, an explicit other ``--data-dir`` is refused by ``load_dataset``.
    Every other name goes through unchanged.

    Args:
        args: Parsed recipe arguments (``dataset``, ``data_dir``).

    Returns:
        ``(name, data_dir)``, ``data_dir`` ``None`` when there is none.

    Example:
        >>> recipe_data_source(argparse.Namespace(dataset="mnist", data_dir=None))
        ('mnist10k', None)
        >>> recipe_data_source(argparse.Namespace(dataset="mnist", data_dir="~/data"))
        ('mnist', '~/data')
    """
    name, data_dir = args.dataset, getattr(args, "data_dir", None) or None
    if name == "mnist" and data_dir is None:
        return "mnist10k", None
    if name == "mnist10k" and data_dir is not None and data_dir == DEFAULT_DATA_DIR:
        return name, None
    return name, data_dir


def describe_recipe_data(args: argparse.Namespace) -> str:
    """Names the data a recipe loads, for its results (``"mnist10k (embedded ...)"``, ``"mnist (<dir>)"``).

    Args:
        args: Parsed recipe arguments (``dataset``, ``data_dir``).

    Returns:
        The dataset name as loaded, with its folder when one is read.

    Example:
        >>> describe_recipe_data(argparse.Namespace(dataset="mnist", data_dir=None))
        'mnist10k (embedded MNIST test set, 8,000 train / 2,000 test)'
        >>> describe_recipe_data(argparse.Namespace(dataset="digits", data_dir=None))
        'digits'
    """
    name, data_dir = recipe_data_source(args)
    if name == "mnist10k":
        return "mnist10k (embedded MNIST test set, 8,000 train / 2,000 test)"
    return f"{name} ({data_dir})" if data_dir is not None else name


def load_recipe_data(args: argparse.Namespace, flatten: bool = False) -> Dataset:
    """Loads ``args.dataset`` as :func:`recipe_data_source` resolves it (``digits`` and manifolds ignore ``data_dir``).

    Args:
        args: Parsed recipe arguments (``dataset``, ``data_dir``).
        flatten: Flatten images to vectors.

    Returns:
        A :class:`~keras_ae.data.images.Dataset` ``((x_train, y_train), (x_test, y_test))``, as
        ``keras_ae.load_dataset`` returns it.

    Raises:
        DatasetNotAvailableError: an explicit data folder without the dataset's ``.npz``.
        InputValidationError: ``--dataset mnist10k`` with an explicit ``--data-dir``.

    Example:
        >>> args = recipe_parser("demo", "Demo.", dataset="digits").parse_args([])
        >>> (x_train, y_train), (x_test, y_test) = load_recipe_data(args)
        >>> x_train.shape[1:], load_recipe_data(args, flatten=True)[0][0].shape[1:]
        ((8, 8, 1), (64,))

        The recipes' default, ``--dataset mnist`` without a data folder, is the embedded
        split: ``load_recipe_data(recipe_parser("demo", "Demo.").parse_args([]))`` equals
        ``keras_ae.load_dataset("mnist10k")``.
    """
    from keras_ae.data import load_dataset

    name, data_dir = recipe_data_source(args)
    return load_dataset(name, data_dir=data_dir, flatten=flatten)


def recipe_tensorboard_callbacks(args: argparse.Namespace, model: keras.Model, x_test: np.ndarray | None = None,
                                 y_test: np.ndarray | None = None,
                                 name: str | None = None) -> list[keras.callbacks.Callback]:
    """The TensorBoard callbacks of a recipe's fit: ``[]`` unless ``--tensorboard DIR`` was given.

    Logs go to ``DIR/<name>`` (default: the model's name), so the fits of one recipe are
    separate runs of one ``tensorboard --logdir DIR``.

    Args:
        args: Parsed recipe arguments (``tensorboard``: the log folder, or ``None``).
        model: The model about to be trained.
        x_test: Fixed test examples of the image summaries and the embedding projector, or ``None``.
        y_test: Their labels (projector metadata), or ``None``.
        name: Run folder inside the log folder (default: the model's name).

    Returns:
        The callbacks of :func:`keras_ae.training.callbacks.tensorboard_callbacks`, or ``[]``.

    Example:
        >>> args = recipe_parser("demo", "Demo.").parse_args([])
        >>> recipe_tensorboard_callbacks(args, build_dense_ae((8, 8, 1), code_dim=4))
        []
    """
    if not getattr(args, "tensorboard", None):
        return []
    from keras_ae.training.callbacks import tensorboard_callbacks

    return tensorboard_callbacks(Path(args.tensorboard) / (name or model.name), model, x_test, y_test)


def fit_recipe_model(model: keras.Model, x: np.ndarray | tf.data.Dataset, args: argparse.Namespace,
                     name: str | None = None, monitor: str | None = "auto", x_test: np.ndarray | None = None,
                     y_test: np.ndarray | None = None, **fit_kwargs: Any) -> dict[str, list[float]]:
    """``model.fit`` for recipes: resumable, with best and last checkpoints, NaN-safe.

    Writes ``<args.out>/checkpoints/<name>/``: ``last.keras`` after every epoch,
    ``best.keras`` at the best ``monitor`` value and ``backup/``, kept until
    :func:`write_results` ends the recipe. Rerun the same command after a crash and every
    fit continues after its last finished epoch (fits that had finished restore at once);
    a rerun with other arguments (``--epochs`` may change) raises
    :class:`~keras_ae.training.checkpoints.ResumeMismatchError` naming them.

    Args:
        model: A compiled keras_ae model.
        x: Training data.
        args: The recipe's parsed arguments (``out``; the rest fingerprints the run).
        name: Checkpoint folder (default: the model's name).
        monitor: Key for ``best.keras`` (``"auto"``: ``val_loss`` with validation data, else
            ``loss``; ``None``: no ``best.keras``).
        x_test: With ``--tensorboard``: the fixed examples of the image summaries and the
            embedding projector (default: the ``validation_data`` inputs, if any).
        y_test: Their labels (projector metadata).
        **fit_kwargs: Passed to ``fit`` (``epochs``, ``batch_size``, ``callbacks``, ...).

    Returns:
        The history of every epoch, those before a restart included.

    Raises:
        TrainingDivergedError: a NaN/inf loss (the last finite weights are restored).

    Example:
        >>> args = recipe_parser("demo", "Demo.", dataset="digits", epochs=2).parse_args(["--out", str(tmp_dir)])
        >>> model = build_dense_ae((8, 8, 1), code_dim=4)
        >>> model.compile()
        >>> history = fit_recipe_model(model, x_digits, args, epochs=args.epochs, batch_size=64, verbose=0)
        >>> len(history["loss"])
        2
        >>> sorted(p.name for p in (Path(args.out) / CHECKPOINTS / model.name).iterdir())  # until write_results
        ['backup', 'best.keras', 'last.keras']
    """
    from keras_ae.training.callbacks import contained, failures
    from keras_ae.training.checkpoints import fit_resumable

    name = name or model.name
    summaries = []
    if getattr(args, "tensorboard", None):
        if x_test is None and fit_kwargs.get("validation_data") is not None:
            data = fit_kwargs["validation_data"]
            x_test = data[0] if isinstance(data, (tuple, list)) else data
        # Contained: a failing summary is reported, and the recipe keeps its trained model.
        summaries = contained(recipe_tensorboard_callbacks(args, model, x_test, y_test, name=name))
        fit_kwargs["callbacks"] = [*(fit_kwargs.get("callbacks") or []), *summaries]
    fingerprint = {"checkpoint": name, **{k: v for k, v in vars(args).items() if k not in RESUME_FREE_ARGS}}
    history = fit_resumable(model, x, out_dir=Path(args.out) / CHECKPOINTS / name, monitor=monitor,
                            fingerprint=fingerprint, keep_backup=True, **fit_kwargs)
    for failure in failures(summaries):
        print(f"warning: --tensorboard: {failure}; training finished, the TensorBoard logs of {name} are "
              "incomplete.", file=sys.stderr, flush=True)
    return history


class TimeBudget(keras.callbacks.Callback):
    """Stops ``fit`` at the end of the first epoch after which ``minutes`` of epochs have run.

    The epochs' own wall time is summed (what the recipes report as training time), so the
    time between ``fit`` calls (evaluation, sampling) does not count against the budget.

    Args:
        minutes: The budget, or ``None`` for none (the callback then only times the epochs).

    Attributes:
        train_s: Seconds of epochs run so far (over every ``fit`` the callback has seen).
        epochs: Epochs run so far.
        stopped_after: The epoch count at which the budget stopped training, else ``None``.

    Example:
        >>> ae = build_dense_ae((8, 8, 1), hidden=(16,), code_dim=4)
        >>> ae.compile()
        >>> budget = TimeBudget(minutes=0.0)  # stops after the first epoch
        >>> _ = ae.fit(x_digits, epochs=5, batch_size=64, verbose=0, callbacks=[budget])  # doctest: +ELLIPSIS
        <BLANKLINE>
        Time budget reached after epoch 1 (... min of training).
        >>> budget.epochs, budget.stopped_after
        (1, 1)
    """

    def __init__(self, minutes: float | None):
        super().__init__()
        self.budget_s = None if minutes is None else 60.0 * float(minutes)
        self.train_s, self.epochs, self.stopped_after = 0.0, 0, None
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.train_s += time.perf_counter() - self._start
        self.epochs += 1
        if self.budget_s is not None and self.train_s >= self.budget_s:
            print(f"\nTime budget reached after epoch {epoch + 1} ({self.train_s / 60:.1f} min of training).")
            self.model.stop_training = True
            self.stopped_after = epoch + 1


def format_table(rows: Sequence[Mapping[str, Any]], floatfmt: str = ".4g") -> str:
    """Formats rows of dicts as a Markdown table (columns in first-seen order).

    Args:
        rows: One mapping ``column -> value`` per row; a row without a column gets an empty cell.
        floatfmt: ``format`` spec of float cells (other values are shown with ``str``).

    Returns:
        The table: a header line, a separator line and one line per row.

    Example:
        >>> print(format_table([{"model": "pca", "error": 12.5}]))
        | model | error |
        | --- | --- |
        | pca | 12.5 |
    """
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]

    def cell(v):
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def machine_description() -> dict[str, Any]:
    """CPU count, platform and library versions, for result files.

    Returns:
        ``{"cpus", "platform", "python", "tensorflow", "keras"}`` (the last two only when TensorFlow imports).

    Example:
        >>> "cpus" in machine_description()
        True
    """
    info: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()}
    try:
        import keras
        import tensorflow as tf

        info.update(tensorflow=tf.__version__, keras=keras.__version__)
    except ImportError:  # pragma: no cover
        pass
    return info


def write_results(out: str | os.PathLike, results: Mapping[str, Any], rows: Sequence[Mapping[str, Any]] | None = None,
                  args: argparse.Namespace | None = None, filename: str = "results.json") -> Path:
    """Writes ``results.json`` (results, table rows, arguments, machine) and prints the table.

    A recipe is finished once its results are written, so this also deletes the resume
    backups of its fits (``out/checkpoints/*/backup``; the ``.keras`` checkpoints stay).

    Args:
        out: Output folder (created).
        results: Headline numbers.
        rows: Table rows, printed as Markdown.
        args: Parsed arguments, recorded for reproducibility.
        filename: JSON file name.

    Returns:
        The JSON path.

    Example:
        >>> out = tmp_dir
        >>> path = write_results(out, {"psnr_gain_db": 9.3}, rows=[{"model": "dae", "psnr_db": 21.4}])
        | model | psnr_db |
        | --- | --- |
        | dae | 21.4 |
        results: .../results.json
        >>> json.loads(path.read_text())["results"]
        {'psnr_gain_db': 9.3}
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"results": dict(results), "rows": list(rows or []), "args": vars(args) if args else {},
               "machine": machine_description(), "written": time.strftime("%Y-%m-%d %H:%M:%S")}
    path = out / filename
    write_text_atomically(path, json.dumps(payload, indent=2, default=float))
    if rows:
        print(format_table(rows))
    print(f"results: {path}")
    from keras_ae.training.checkpoints import clear_backup

    for folder in (out / CHECKPOINTS).glob("*"):
        clear_backup(folder)
    return path


def read_results(model_path: str | os.PathLike) -> dict:
    """The ``results.json`` that a recipe wrote beside a saved model (``{}`` when there is none).

    Args:
        model_path: The saved model (``.keras`` file or SavedModel folder); its folder is read.

    Returns:
        The parsed payload (``results``, ``rows``, ``args``, ...), or ``{}``.

    Raises:
        InputValidationError: a ``results.json`` over 16 MiB, or one that is not a JSON object.

    Example:
        >>> _ = write_results(tmp_dir, {"train_seconds": 12.5})
        results: .../results.json
        >>> read_results(tmp_dir / "model.keras")["results"]
        {'train_seconds': 12.5}
        >>> read_results(tmp_dir / "elsewhere" / "model.keras")
        {}
    """
    from keras_ae.errors import InputValidationError

    path = Path(model_path).parent / "results.json"
    if not path.is_file():
        return {}
    size = path.stat().st_size
    if size > MAX_RESULTS_BYTES:
        raise InputValidationError(f"{path} is {size:,} bytes, more than the {MAX_RESULTS_BYTES:,} a recipe's "
                                   "results.json can be; it is not one.")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputValidationError(f"{path} is not valid JSON ({type(exc).__name__}).") from None
    if not isinstance(payload, dict):
        raise InputValidationError(f"{path} holds a JSON {type(payload).__name__}, not the object recipes write.")
    return payload
