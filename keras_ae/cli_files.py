"""``keras-ae sample`` and ``keras-ae reconstruct``: a saved model's images written as PNG files.

``sample`` draws ``N`` images from a generative model (VAE, GAN, PixelCNN / PixelRNN,
VQ-VAE with a fitted prior, RealNVP, diffusion) with ``model.sample(n, seed=...)`` and
writes ``00000000.png, 00000001.png, ...``, ``grid.png`` (the first 100) and
``samples.npz``. ``reconstruct`` runs ``model.reconstruct`` (auto-encoders, denoisers, VAE,
VQ-VAE) over a folder of images or an ``.npz`` file and writes the reconstructions the same
way; with ``--clean`` it also scores them (PSNR, :func:`keras_ae.evaluation.psnr`).

Every file is written atomically (:func:`keras_ae.atomic.write_atomically`): an interrupted or
concurrent run never leaves a truncated PNG. The same model, seed and flags give
byte-identical files (PNG and ``.npz`` files hold no timestamps). Everything is checked
before the output folder is created, so a refused command writes nothing.

Examples::

    keras-ae sample runs/vae/model.keras -n 64 --out samples/vae
    keras-ae sample runs/cgan/model.keras -n 20 --label 3 --out samples/threes
    keras-ae reconstruct runs/dae/model.keras --input noisy/ --clean clean/ --out denoised/
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from keras_ae.atomic import write_atomically, write_text_atomically
from keras_ae.cli_config import MAX_SEED, UsageError, _one_line, _show

if TYPE_CHECKING:
    import keras
    import numpy as np

PROG = "keras-ae"
# Numbered files: DIR/00000000.png, ... (8 digits, the convention of image-folder tools).
NAME_DIGITS = 8
GRID_FILE, SAMPLES_FILE, RECONSTRUCTIONS_FILE, PSNR_FILE = "grid.png", "samples.npz", "reconstructions.npz", "psnr.json"
# grid.png shows the first GRID_IMAGES images, GRID_COLS per row (a figure of 10,000 would be huge).
GRID_IMAGES, GRID_COLS = 100, 10
# PIL modes of images with 1, 3 and 4 channels.
_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# Zip entries of the .npz files carry this date: the same arrays give the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


# -- files -----------------------------------------------------------------------------------
def numbered_name(index: int) -> str:
    """The file name of image ``index``: 8 digits, zero-padded.

    Args:
        index: Position of the image, ``>= 0``.

    Returns:
        ``"00000012.png"`` for 12.

    Example:
        >>> numbered_name(0), numbered_name(12)
        ('00000000.png', '00000012.png')
    """
    return f"{index:0{NAME_DIGITS}d}.png"


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] as 8-bit values: clipped to [0, 1], times 255, rounded.

    Args:
        images: Float array (anything ``np.asarray`` takes), any shape.

    Returns:
        ``uint8`` array of the same shape.

    Example:
        >>> to_uint8(np.array([-0.5, 0.0, 0.5, 1.0, 2.0]))
        array([  0,   0, 128, 255, 255], dtype=uint8)
    """
    import numpy as np

    return np.round(np.clip(np.asarray(images, np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def write_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Writes one image in [0, 1] as an 8-bit PNG, atomically (grayscale for one channel).

    Args:
        image: ``(h, w)`` or ``(h, w, c)`` with ``c`` 1 (grayscale), 3 (RGB) or 4 (RGBA);
            values are clipped to [0, 1] and rounded to ``k / 255``.
        path: Destination; its folder is created.

    Returns:
        ``path`` as a ``Path``.

    Example:
        >>> from PIL import Image
        >>> path = write_png(x_digits[0], tmp_dir / "digit.png")
        >>> with Image.open(path) as png:
        ...     png.mode, png.size
        ('L', (8, 8))
    """
    from PIL import Image

    pixels = to_uint8(image)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    channels = 1 if pixels.ndim == 2 else pixels.shape[-1]
    if pixels.ndim not in (2, 3) or channels not in _PIL_MODES:
        raise UsageError(f"Cannot write an array of shape {pixels.shape} as a PNG image: expected (h, w) or "
                         "(h, w, c) with 1, 3 or 4 channels.")
    picture = Image.fromarray(pixels, mode=_PIL_MODES[channels])
    return write_atomically(path, lambda temporary: picture.save(temporary, format="PNG"))


def write_npz(path: str | os.PathLike, **arrays) -> Path:
    """Writes arrays as an uncompressed ``.npz`` file, atomically and with fixed zip dates.

    ``np.savez`` stamps each zip entry with the current time; here every entry has the same
    date, so the same arrays always give the same bytes. ``np.load`` reads the file.

    Args:
        path: Destination (``.npz``); its folder is created.
        **arrays: Name -> array (plain dtypes: ``np.load`` reads them without pickle).

    Returns:
        ``path`` as a ``Path``.

    Example:
        >>> first = write_npz(tmp_dir / "a.npz", images=np.zeros((2, 3), np.float32), seed=np.int64(0))
        >>> second = write_npz(tmp_dir / "b.npz", images=np.zeros((2, 3), np.float32), seed=np.int64(0))
        >>> first.read_bytes() == second.read_bytes(), sorted(np.load(first))
        (True, ['images', 'seed'])
    """
    import zipfile

    import numpy as np

    def write(temporary: Path) -> None:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, value in arrays.items():
                entry = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
                with archive.open(entry, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)

    return write_atomically(path, write)


def save_images(images: np.ndarray, out: str | os.PathLike, names: Sequence[str] | None = None,
                verbose: int = 0) -> list[Path]:
    """Writes each image as an 8-bit PNG in ``out`` (see :func:`write_png`).

    Args:
        images: ``(n, h, w[, c])`` in [0, 1].
        out: Output folder (created).
        names: Relative file names, one per image (default: :func:`numbered_name`).
        verbose: 1 shows a ``keras.utils.Progbar`` over the files.

    Returns:
        The written paths, in the order of ``images``.

    Example:
        >>> [p.name for p in save_images(x_digits[:3], tmp_dir)]
        ['00000000.png', '00000001.png', '00000002.png']
    """
    import keras

    out = Path(out)
    names = [numbered_name(i) for i in range(len(images))] if names is None else list(names)
    bar = keras.utils.Progbar(len(images), verbose=verbose, unit_name="file")
    paths = []
    for image, name in zip(images, names):
        paths.append(write_png(image, out / name))
        bar.add(1)
    return paths


def save_grid(images: np.ndarray, path: str | os.PathLike, title: str | None = None) -> Path:
    """The first 100 images as one figure (:func:`keras_ae.plotting.save_image_grid`), written atomically.

    Args:
        images: ``(n, h, w[, c])`` in [0, 1].
        path: Destination PNG.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.

    Example:
        >>> save_grid(x_digits[:12], tmp_dir / "grid.png").name
        'grid.png'
    """
    import numpy as np

    from keras_ae.plotting import save_image_grid

    shown = np.clip(np.asarray(images[:GRID_IMAGES], np.float32), 0.0, 1.0)
    return write_atomically(path, lambda temporary: save_image_grid(shown, temporary, cols=GRID_COLS, title=title))


def _existing(out: Path, names: Sequence[str]) -> Path | None:
    """The first of ``out / name`` that exists, else ``None``."""
    for name in names:
        if (out / name).exists():
            return out / name
    return None


def _refuse_existing(out: Path, names: Sequence[str], overwrite: bool) -> None:
    if overwrite:
        return
    first = _existing(out, names)
    if first is not None:
        raise UsageError(f"{first} exists; pass --overwrite to replace the files, or choose another --out.")


# -- models ------------------------------------------------------------------------------------
def _load_model(path: str):
    """Loads a ``.keras`` file in safe mode (as ``keras-ae evaluate`` does)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"No such model file: {path} (train one with `{PROG} train`).")
    from keras_ae.saving import load_model

    return load_model(path)


def _families_with(method: str) -> list[str]:
    """Registered family names whose class has a callable ``method``."""
    import keras_ae.models  # noqa: F401  (registers every family)
    from keras_ae import registry

    return [f.name for f in registry.families() if callable(getattr(f.cls, method, None))]


def _describe(model) -> str:
    from keras_ae import registry

    family = registry.family_of(model)
    return f"{type(model).__name__} (family {family.name if family else 'none'})"


def _image_shape(model) -> tuple[int, ...]:
    """The shape of one of the model's examples, refused unless it is an image."""
    shape = tuple(int(d) for d in (getattr(model, "example_shape", None) or getattr(model, "image_shape", ())))
    if len(shape) == 2 or (len(shape) == 3 and shape[-1] in _PIL_MODES):
        return shape
    raise UsageError(f"The model's examples have shape {shape}, not images (h, w) or (h, w, c) with 1, 3 or 4 "
                     "channels; this command writes PNG images.")


def sampler_options(model: keras.Model, seed: int = 0, labels: Sequence[int] | None = None, steps: int | None = None,
                    batch_size: int | None = None, verbose: int = 0, guidance: float | None = None) -> dict:
    """The keyword arguments of ``model.sample`` for these settings, only those its sampler takes.

    ``labels`` go to a class-conditional model only, ``steps`` to samplers with steps
    (diffusion); a GAN's images come in [0, 1] (``unit_range=True``) whatever its data range.

    Args:
        model: A generative keras_ae model.
        seed: The sampler's seed.
        labels: Class ids, one per image (conditional models), or ``None``.
        steps: Reverse steps (diffusion), or ``None`` for the model's default.
        batch_size: Images per batch, or ``None`` for the model's default.
        verbose: Progress bar of samplers that have one.
        guidance: Classifier-free guidance weight (class-conditional diffusion), or ``None``
            for the model's default.

    Returns:
        Keyword arguments for ``model.sample(n, **options)``.

    Raises:
        UsageError: ``labels`` for an unconditional model, ``steps`` for a sampler without steps, or
            ``guidance`` for a model without classifier-free guidance.

    Example:
        >>> gan = build_gan((8, 8, 1), latent_dim=4, generator_units=(8,), discriminator_units=(8,))
        >>> sorted(sampler_options(gan, seed=3))
        ['seed', 'unit_range', 'verbose']
        >>> sampler_options(build_diffusion((8, 8, 1), channels=(8,), attention=False, timesteps=10), steps=4)
        {'seed': 0, 'steps': 4, 'verbose': 0}
    """
    import inspect

    accepted = inspect.signature(model.sample).parameters
    options: dict = {"seed": int(seed)}
    if labels is not None:
        if not getattr(model, "conditional", False) or "labels" not in accepted:
            raise UsageError(f"--label is for class-conditional models (built with num_classes=K); "
                             f"{_describe(model)} is unconditional.")
        options["labels"] = labels
    if steps is not None:
        if "steps" not in accepted:
            raise UsageError(f"--steps is for samplers with steps (diffusion); {_describe(model)} samples "
                             "without them.")
        options["steps"] = int(steps)
    if guidance is not None:
        if "guidance" not in accepted or not getattr(model, "conditional", False):
            raise UsageError(f"--guidance is for class-conditional diffusion models (build_diffusion(num_classes=K)); "
                             f"{_describe(model)} has no classifier-free guidance.")
        options["guidance"] = float(guidance)
    if batch_size is not None:
        options["batch_size"] = int(batch_size)
    if "unit_range" in accepted:
        options["unit_range"] = True
    if "verbose" in accepted:
        options["verbose"] = int(verbose)
    return options


def sample_images(model: keras.Model, n: int, seed: int = 0, labels: Sequence[int] | None = None,
                  steps: int | None = None, batch_size: int | None = None, verbose: int = 0,
                  guidance: float | None = None) -> np.ndarray:
    """``model.sample(n, seed=seed, ...)`` as float32 images in [0, 1] (clipped).

    Args:
        model: A generative keras_ae model.
        n: Number of images, ``>= 1`` (the model's own count check bounds it too).
        seed: The sampler's seed: the same seed gives the same images.
        labels: Class ids, one per image (conditional models), or ``None``.
        steps: Reverse steps (diffusion), or ``None`` for the model's default.
        batch_size: Images per batch, or ``None`` for the model's default.
        verbose: Progress bar of samplers that have one.
        guidance: Classifier-free guidance weight (class-conditional diffusion), or ``None``
            for the model's default.

    Returns:
        float32 ``(n, *example_shape)`` in [0, 1].

    Example:
        >>> vae = build_vae((8, 8, 1), latent_dim=2, hidden=(16,))
        >>> images = sample_images(vae, 4, seed=1)
        >>> images.shape, bool(np.array_equal(images, np.clip(vae.sample(4, seed=1), 0, 1)))
        ((4, 8, 8, 1), True)
    """
    import numpy as np

    images = model.sample(n, **sampler_options(model, seed, labels, steps, batch_size, verbose, guidance))
    return np.clip(np.asarray(images, np.float32), 0.0, 1.0)


def _check_generative(model, path: str) -> None:
    """Refuses a model that cannot sample (exit 2), naming the families that can."""
    if not callable(getattr(model, "sample", None)):
        raise UsageError(f"The model in {path}, {_describe(model)}, does not sample; `{PROG} sample` takes a "
                         f"generative model: {', '.join(_families_with('sample'))}.")
    prior = getattr(model, "prior", None)
    if hasattr(model, "fit_prior"):  # a VQ-VAE samples from its PixelCNN prior over the codes
        from keras_ae.export import is_trained

        fix = ("fit it with model.fit_prior(keras_ae.data.binarize(x_train, seed=0), epochs=20) and save the model "
               "again with keras_ae.saving.save_model (recipes/vqvae.py does both)")
        if prior is None:
            raise UsageError(f"{path} holds a VQ-VAE without a prior over its codes, so it cannot sample: build it "
                             f"with build_vqvae(..., prior=True), train it, then {fix}.")
        if not is_trained(prior):
            raise UsageError(f"The VQ-VAE in {path} has a prior over its codes that was never fitted: {fix}.")


def _check_labels(model, labels: Sequence[int] | None, n: int):
    """``--label``: one id for every image or several cycled, under the models' one labels contract
    (:func:`keras_ae.validation.check_class_labels`): required by a conditional model, refused by
    an unconditional one."""
    import numpy as np

    from keras_ae.errors import InputValidationError
    from keras_ae.validation import check_class_labels

    classes = getattr(model, "num_classes", None) if getattr(model, "conditional", False) else None
    if labels is None and classes is not None:
        raise UsageError(f"{_describe(model)} is class-conditional ({classes} classes): pass --label with one or "
                         f"more class ids in [0, {classes - 1}] (several are cycled over the images).")
    if labels is not None and classes is None:
        raise UsageError(f"--label is for class-conditional models (built with num_classes=K); {_describe(model)} "
                         "is unconditional.")
    if labels is None:
        return None
    try:
        return check_class_labels(np.resize(np.asarray(labels), n), n, classes, "--label")
    except InputValidationError as exc:
        raise UsageError(f"{exc} Its classes are 0 to {classes - 1}.") from None


def _interactive() -> int:
    """1 (show progress bars) when stdout is a terminal, else 0."""
    try:
        return int(sys.stdout.isatty())
    except (AttributeError, ValueError):
        return 0


# -- sample ------------------------------------------------------------------------------------
def cmd_sample(args: argparse.Namespace) -> int:
    """Draws ``-n`` images from a saved generative model and writes them as PNG files.

    Writes ``out/00000000.png ...``, ``out/grid.png`` and ``out/samples.npz`` (``images``
    float32 in [0, 1], ``seed``, and ``labels`` for a class-conditional model).

    Args:
        args: The parsed ``keras-ae sample`` command line.

    Returns:
        0 (errors raise; :func:`keras_ae.cli.main` maps them to exit codes).

    Example:
        ```python
        from keras_ae.cli import main
        main(["sample", "runs/vae/model.keras", "-n", "16", "--out", "samples/vae", "--seed", "1"])
        ```
    """
    import numpy as np

    from keras_ae.export import MAX_SAMPLE_COUNT
    from keras_ae.validation import check_count, check_int

    if not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be an integer in [0, {MAX_SEED}], got {args.seed}.")
    if args.batch_size is not None:
        check_int(args.batch_size, "--batch-size", minimum=1)
    if args.steps is not None:
        check_int(args.steps, "--steps", minimum=1)
    if not args.out.strip():
        raise UsageError("--out must name a folder, got ''.")
    n = check_int(args.n, "-n", minimum=1, maximum=MAX_SAMPLE_COUNT)
    model = _load_model(args.model)
    _check_generative(model, args.model)
    shape = _image_shape(model)
    check_count(n, "-n", 4 * int(np.prod(shape)), minimum=1, maximum=MAX_SAMPLE_COUNT,
                advice="run the command several times, each with its own --seed and --out")
    labels = _check_labels(model, args.label, n)
    out = Path(args.out)
    names = [numbered_name(i) for i in range(n)]
    _refuse_existing(out, [*names, GRID_FILE, SAMPLES_FILE], args.overwrite)
    verbose = _interactive()
    # Sampled before the folder is made: a count or setting the model refuses writes nothing.
    images = sample_images(model, n, seed=args.seed, labels=labels, steps=args.steps, batch_size=args.batch_size,
                           verbose=verbose, guidance=args.guidance)
    save_images(images, out, names, verbose=verbose)
    save_grid(images, out / GRID_FILE, title=f"{model.name}: seed {args.seed}")
    arrays = {"images": images, "seed": np.int64(args.seed)}
    if labels is not None:
        arrays["labels"] = labels
    write_npz(out / SAMPLES_FILE, **arrays)
    print(f"Wrote {n} samples of {args.model} ({_describe(model)}, seed {args.seed}) to {out}: {names[0]} .. "
          f"{names[-1]}, {GRID_FILE}, {SAMPLES_FILE}.")
    return 0


# -- reconstruct --------------------------------------------------------------------------------
def read_npz_images(path: str | os.PathLike, image_shape: Sequence[int]) -> np.ndarray:
    """Images from an ``.npz`` file: key ``x`` (or its only array), float in [0, 1] or ``uint8``.

    Args:
        path: The ``.npz`` file.
        image_shape: The model's ``(h, w, c)`` (an array ``(n, h, w)`` is read as one channel).

    Returns:
        float32 ``(n, *image_shape)`` in [0, 1].

    Raises:
        UsageError: no ``x`` and several arrays, or an object array.
        InputValidationError: a wrong shape, empty, NaN or values outside [0, 1] (naming the file).

    Example:
        >>> np.savez(tmp_dir / "x.npz", x=(x_digits[:5] * 255).astype("uint8"))
        >>> read_npz_images(tmp_dir / "x.npz", (8, 8, 1)).shape
        (5, 8, 8, 1)
    """
    import numpy as np

    from keras_ae.validation import check_array

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            key = "x" if "x" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise UsageError(f"{path} holds {len(keys)} arrays ({_show(keys)}) and none is named 'x'; store the "
                                 "images under 'x'.")
            x = archive[key]
    except ValueError as exc:  # object arrays (pickle), or not an npz file
        raise UsageError(f"{path} cannot be read as an .npz file of arrays: {_one_line(exc, 200)}") from exc
    name = f"{path}['{key}']"
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    shape = tuple(image_shape)
    if x.ndim == len(shape) and shape[-1] == 1 and x.shape[1:] == shape[:-1]:
        x = x[..., None]
    return check_array(x, name, expected_shape=shape, value_range=(0.0, 1.0),
                       range_hint="Store images as floats in [0, 1] or as uint8 (0-255).")


def read_image_files(folder: str | os.PathLike, image_shape: Sequence[int]) -> tuple[np.ndarray, list[str]]:
    """The images of a folder, as ``keras-ae train --dataset dir:PATH`` loads them, with their names.

    The files are found and checked by :func:`keras_ae.data.folders.scan_image_folder`
    (recursively, sorted; larger images are resized, bilinear; smaller ones refused) and
    decoded as ``keras.utils.image_dataset_from_directory`` decodes them.

    Args:
        folder: A folder of PNG, JPEG, GIF or BMP files (sub-folders too).
        image_shape: The model's ``(h, w, c)``, ``c`` 1 (grayscale) or 3 (RGB).

    Returns:
        ``(images, names)``: float32 ``(n, h, w, c)`` in [0, 1] and each file's path relative
        to ``folder``.

    Example:
        >>> _ = save_images(x_digits[:3], tmp_dir / "in")
        >>> images, names = read_image_files(tmp_dir / "in", (8, 8, 1))
        >>> images.shape, names[0], float(np.abs(images - x_digits[:3]).max()) <= 0.5 / 255 + 1e-6
        ((3, 8, 8, 1), '00000000.png', True)
    """
    import numpy as np
    import tensorflow as tf

    from keras_ae.data.folders import scan_image_folder
    from keras_ae.errors import DatasetNotAvailableError

    h, w, channels = (*image_shape, 1) if len(image_shape) == 2 else tuple(image_shape)
    if channels not in (1, 3):
        raise UsageError(f"The model takes images with {channels} channels; image folders are read as grayscale "
                         "(1) or RGB (3). Pass the images in an .npz file instead.")
    root = Path(folder).expanduser()
    scan = scan_image_folder(root, image_size=(h, w), color_mode="grayscale" if channels == 1 else "rgb")
    files = [*scan.files, *scan.test_files]

    def load(path):  # image_dataset_from_directory's decoding (keras.utils), then the loader's scaling
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        image = tf.image.resize(image, (h, w), method="bilinear")
        return tf.clip_by_value(tf.cast(image, tf.float32) / 255.0, 0.0, 1.0)

    dataset = tf.data.Dataset.from_tensor_slices([str(f) for f in files]).map(load).batch(256)
    try:
        images = np.concatenate([batch.numpy() for batch in dataset]).astype(np.float32)
    except tf.errors.OpError as exc:  # as the loader: a file changed after the check, or one TensorFlow cannot decode
        raise DatasetNotAvailableError(f"Reading the images of {root} failed: {_one_line(exc.message, 200)}") from exc
    if len(image_shape) == 2:
        images = images[..., 0]
    return images, [f.relative_to(root).as_posix() for f in files]


def _read_input(source: str, image_shape: Sequence[int], flag: str):
    """``(images, names or None)`` of an ``.npz`` file or an image folder."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{flag} {source}: no such file or folder.")
    if path.is_dir():
        return read_image_files(path, image_shape)
    if path.suffix.lower() != ".npz":
        raise UsageError(f"{flag} {source} is neither a folder of images nor an .npz file.")
    return read_npz_images(path, image_shape), None


def _matched_clean(clean, clean_names, names, n: int, source: str):
    """The clean references in the order of the inputs (by relative name without suffix, or by position)."""
    if names is None or clean_names is None:
        if len(clean) != n:
            raise UsageError(f"--clean {source} holds {len(clean)} images, the input {n}; they must pair up in order.")
        return clean
    index = {Path(name).with_suffix("").as_posix(): i for i, name in enumerate(clean_names)}
    order = []
    for name in names:
        key = Path(name).with_suffix("").as_posix()
        if key not in index:
            raise UsageError(f"--clean {source} has no image for the input {name} (the same relative name is "
                             "expected, any image suffix).")
        order.append(index[key])
    return clean[order]


def _output_names(names: Sequence[str] | None, n: int, source: str) -> list[str]:
    if names is None:
        return [numbered_name(i) for i in range(n)]
    out = [Path(name).with_suffix(".png").as_posix() for name in names]
    seen: dict[str, str] = {}
    for name, target in zip(names, out):
        if target in seen:
            raise UsageError(f"{source}: {seen[target]} and {name} would both be written as {target}; rename one.")
        seen[target] = name
    return out


def psnr_table(clean: np.ndarray, noisy: np.ndarray, reconstructed: np.ndarray) -> dict[str, float]:
    """Mean PSNR (dB, images in [0, 1]) of the input and of the reconstruction against the clean
    images, and the gain (:func:`keras_ae.evaluation.psnr` per image, then the mean).

    Args:
        clean: The clean references ``(n, ...)``.
        noisy: The model's inputs, same shape.
        reconstructed: The reconstructions, same shape.

    Returns:
        ``{"input_psnr_db", "reconstruction_psnr_db", "gain_db"}`` (``inf`` when an image is exact).

    Example:
        >>> clean = np.full((2, 4), 0.5)
        >>> scores = psnr_table(clean, clean + 0.1, clean + 0.01)  # MSE 0.01 (20 dB), then 1e-4 (40 dB)
        >>> {name: round(value, 3) for name, value in scores.items()}
        {'input_psnr_db': 20.0, 'reconstruction_psnr_db': 40.0, 'gain_db': 20.0}
    """
    from keras_ae.evaluation import psnr

    before, after = float(psnr(clean, noisy).mean()), float(psnr(clean, reconstructed).mean())
    return {"input_psnr_db": round(before, 6), "reconstruction_psnr_db": round(after, 6),
            "gain_db": round(after - before, 6)}


def cmd_reconstruct(args: argparse.Namespace) -> int:
    """Reconstructs (a denoiser: denoises) the images of a folder or an ``.npz`` file with a saved model.

    Writes one PNG per image (a folder's relative names with ``.png``, else numbered) and
    ``out/reconstructions.npz`` (``images`` float32 in [0, 1], clipped; ``names`` for a
    folder). With ``--clean``: prints the mean PSNR of the input and of the reconstruction
    against the clean images and the gain, and writes them to ``out/psnr.json``.

    Args:
        args: The parsed ``keras-ae reconstruct`` command line.

    Returns:
        0 (errors raise; :func:`keras_ae.cli.main` maps them to exit codes).

    Example:
        ```python
        from keras_ae.cli import main
        main(["reconstruct", "runs/dae/model.keras", "--input", "noisy/", "--clean", "clean/", "--out", "denoised/"])
        ```
    """
    import numpy as np

    from keras_ae.validation import check_int

    if args.batch_size is not None:
        check_int(args.batch_size, "--batch-size", minimum=1)
    if not args.out.strip():
        raise UsageError("--out must name a folder, got ''.")
    model = _load_model(args.model)
    if not callable(getattr(model, "reconstruct", None)):
        raise UsageError(f"The model in {args.model}, {_describe(model)}, does not reconstruct; `{PROG} reconstruct` "
                         f"takes a model of the families {', '.join(_families_with('reconstruct'))}.")
    shape = _image_shape(model)
    x, names = _read_input(args.input, shape, "--input")
    clean = None
    if args.clean is not None:
        reference, clean_names = _read_input(args.clean, shape, "--clean")
        clean = _matched_clean(reference, clean_names, names, len(x), args.clean)
    out = Path(args.out)
    targets = _output_names(names, len(x), args.input)
    sources = {Path(args.input).resolve()} if names is None else {(Path(args.input) / n).resolve() for n in names}
    clash = next((out / t for t in targets if (out / t).resolve() in sources), None)
    if clash is not None:
        raise UsageError(f"Writing {clash} would replace an input image; choose an --out outside the input files.")
    _refuse_existing(out, [*targets, RECONSTRUCTIONS_FILE, *([PSNR_FILE] if clean is not None else [])],
                     args.overwrite)
    options = {} if args.batch_size is None else {"batch_size": int(args.batch_size)}
    labels = _check_labels(model, args.label, len(x))
    if labels is not None:
        options["labels"] = labels
    reconstructed = np.clip(np.asarray(model.reconstruct(x, **options), np.float32), 0.0, 1.0)
    save_images(reconstructed, out, targets, verbose=_interactive())
    arrays = {"images": reconstructed}
    if labels is not None:
        arrays["labels"] = labels
    if names is not None:
        arrays["names"] = np.asarray(names, dtype=str)
    write_npz(out / RECONSTRUCTIONS_FILE, **arrays)
    print(f"Reconstructed {len(x)} images of {args.input} with {args.model} ({_describe(model)}); wrote "
          f"{len(x)} PNG files and {RECONSTRUCTIONS_FILE} to {out}.")
    if clean is not None:
        scores = psnr_table(clean, x, reconstructed)
        from keras_ae.experiment import format_table

        print(format_table([{"images": "input", "mean PSNR (dB)": scores["input_psnr_db"]},
                            {"images": "reconstruction", "mean PSNR (dB)": scores["reconstruction_psnr_db"]},
                            {"images": "gain", "mean PSNR (dB)": scores["gain_db"]}]))
        finite = {k: (v if np.isfinite(v) else None) for k, v in scores.items()}  # JSON has no inf
        text = json.dumps({"input": args.input, "clean": args.clean, "images": len(x), **finite}, indent=2)
        write_text_atomically(out / PSNR_FILE, text + "\n")
        print(f"scores: {out / PSNR_FILE}")
    return 0


# -- parser --------------------------------------------------------------------------------------
def add_file_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Registers ``sample`` and ``reconstruct`` with ``add(name, handler, help, epilog)`` of
    :func:`keras_ae.cli.build_parser`.

    Args:
        add: The parser's sub-command factory; returns the sub-command's parser.

    Returns:
        None.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> sub = parser.add_subparsers(dest="command")
        >>> add_file_commands(lambda name, handler, help_text, epilog="": sub.add_parser(name))
        >>> parser.parse_args(["sample", "m.keras", "-n", "4", "--out", "d", "--label", "1", "2"]).label
        [1, 2]
    """
    sample = add("sample", cmd_sample, "Draw images from a saved generative model and write them as PNG files.",
                 "examples:\n  keras-ae sample runs/train_vae/model.keras -n 64 --out samples/vae\n"
                 "  keras-ae sample runs/train_conditional_gan/model.keras -n 20 --label 3 --out samples/threes\n"
                 "  keras-ae sample runs/train_diffusion/model.keras -n 16 --steps 50 --out samples/diffusion\n"
                 "Writes out/00000000.png ..., out/grid.png (the first 100) and out/samples.npz (images in [0, 1],\n"
                 "seed, labels). The same model, --seed and --batch-size give byte-identical files.")
    sample.add_argument("model", help="a .keras file of a generative model (vae, gan, pixelcnn, pixelrnn, vqvae with "
                                      "a fitted prior, realnvp, diffusion)")
    sample.add_argument("-n", type=int, required=True, metavar="N", help="number of images, 1 to 10,000")
    sample.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    sample.add_argument("--seed", type=int, default=0,
                        help="sampler seed (default 0: the default run is reproducible too)")
    sample.add_argument("--label", type=int, nargs="+", action="extend", metavar="L",
                        help="class-conditional models: one class for every image, or several cycled")
    sample.add_argument("--steps", type=int, help="diffusion: reverse steps (default: the model's sample_steps)")
    sample.add_argument("--guidance", type=float, metavar="W",
                        help="class-conditional diffusion: classifier-free guidance weight, 0 (unconditional) and "
                             "up (default: the model's)")
    sample.add_argument("--batch-size", type=int,
                        help="images drawn per batch (default: the model's; diffusion, PixelCNN and PixelRNN draw "
                             "different images for a different batch size)")
    sample.add_argument("--overwrite", action="store_true", help="replace files that exist in --out")

    rec = add("reconstruct", cmd_reconstruct,
              "Reconstruct (denoise, for a denoiser) images of a folder or an .npz file and write them as PNG files.",
              "examples:\n  keras-ae reconstruct runs/train_denoising/model.keras --input noisy/ --out denoised/\n"
              "  keras-ae reconstruct runs/train_vae/model.keras --input x.npz --out recon/ --clean x.npz\n"
              "A folder's images keep their relative names (as .png); an .npz's are numbered 00000000.png, ...\n"
              "Also writes out/reconstructions.npz, and out/psnr.json with --clean.")
    rec.add_argument("model", help="a .keras file of a model with reconstruct (auto-encoders, denoisers, vae, vqvae)")
    rec.add_argument("--input", required=True, metavar="DIR|FILE.npz",
                     help="a folder of images (resized down to the model's size) or an .npz file (key x: floats in "
                          "[0, 1] or uint8)")
    rec.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    rec.add_argument("--clean", metavar="DIR|FILE.npz",
                     help="clean references, same names (folder) or order (.npz): print and save the mean PSNR of "
                          "the input and of the reconstruction, and the gain")
    rec.add_argument("--label", type=int, nargs="+", action="extend", metavar="L",
                     help="class-conditional models (e.g. a VAE with num_classes): the class of every image, or "
                          "several cycled over them")
    rec.add_argument("--batch-size", type=int, help="images per forward pass (default: the model's, 256)")
    rec.add_argument("--overwrite", action="store_true", help="replace files that exist in --out")


__all__ = ["add_file_commands", "cmd_reconstruct", "cmd_sample", "numbered_name", "psnr_table", "read_image_files",
           "read_npz_images", "sample_images", "sampler_options", "save_grid", "save_images", "to_uint8",
           "write_npz", "write_png"]
