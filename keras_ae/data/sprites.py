"""Sprites: 64x64 binary images generated from known factors, as in dSprites.

``load_dataset("sprites")`` draws factors uniformly and renders them offline, deterministically:
a shape (square, ellipse, heart) at a scale, an orientation and an ``(x, y)`` position, the
factor grid of dSprites (Matthey et al., 2017) by default (3 x 6 x 40 x 32 x 32). The labels
are the factor indices, one column per factor, so disentanglement metrics can score a
representation against the truth.

:class:`Sprites` is the ground-truth data protocol that code scoring representations uses:

- ``factor_sizes``: the number of values of each factor;
- ``sample_factors(n, rng)``: ``(n, num_factors)`` int64 factor indices drawn uniformly;
- ``images_from_factors(factors)``: the float32 images of those factors.

Geometry. Pixel ``i`` covers ``[i, i + 1)`` and is inside a sprite when its centre is (a
point-in-shape test after undoing the translation, rotation and scale). At scale 1 every
shape fits in a disc of radius :data:`RADIUS` pixels: a square of side ``RADIUS * sqrt(2)``,
an ellipse of semi-axes ``RADIUS`` and ``RADIUS / 2``, a heart. Scales are spaced evenly in
[0.5, 1]; orientations are ``2 pi k / n`` (dSprites spaces 40 values over [0, 2 pi] with both
ends, so its first and last orientation draw the same image; here no two do); centres are
spaced evenly in [:data:`MARGIN` + RADIUS, 64 - MARGIN - RADIUS] on both axes, so the
:data:`MARGIN` outermost rows and columns of every image stay empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_ae.data.images import Dataset, Split
from keras_ae.data.manifolds import check_test_fraction
from keras_ae.errors import InputValidationError
from keras_ae.validation import check_bool, check_count, check_int, check_seed, short_repr

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE_SIZE = 64
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
RADIUS = 10.0  # pixels: every shape at scale 1 fits in a disc of this radius
MARGIN = 2  # pixels: rows and columns at each edge that no sprite reaches
SHAPES = ("square", "ellipse", "heart")
# Largest grid per factor: beyond these the values differ by less than a pixel's worth (40
# centres over 64 positions) or by under a degree, and dSprites uses far fewer.
_MAX_LEVELS = {"scales": 64, "orientations": 360, "positions": 64}
# Images rendered per NumPy pass: 256 64x64 float32 work arrays are 4 MB each (1,024 ran 2x slower).
CHUNK = 256
_PIXELS = np.arange(IMAGE_SIZE, dtype=np.float32) + 0.5  # pixel centres
# The heart (x^2 + y^2 - 1)^3 <= x^2 y^3 spans x in [-1.14, 1.14], y in [-1, 1.24]: every
# point lies within 1.25 of (0, 0.25), so this shift and scale put it in the unit disc.
_HEART_CENTRE, _HEART_RADIUS = 0.25, 1.25


def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    half = np.sqrt(0.5)  # corners on the unit circle
    return (np.abs(u) <= half) & (np.abs(v) <= half)


def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u * u + 4.0 * v * v <= 1.0


def _heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    x = _HEART_RADIUS * u
    y = _HEART_CENTRE - _HEART_RADIUS * v  # image rows grow downwards: the tip points down
    r = x * x + y * y - 1.0
    return r * r * r <= x * x * y * y * y


_INSIDE = (_square, _ellipse, _heart)


def _levels(low: float, high: float, n: int) -> np.ndarray:
    """``n`` evenly spaced values in [low, high]; the middle one alone when ``n`` is 1."""
    return np.linspace(low, high, n) if n > 1 else np.array([(low + high) / 2.0])


class Sprites:
    """dSprites-like images from known factors: shape, scale, orientation, x and y position.

    Args:
        n_shapes: Number of shapes, the first ``n_shapes`` of square, ellipse, heart (1 to 3).
        n_scales: Scales, spaced evenly in [0.5, 1] (1 to 64; one alone is 0.75).
        n_orientations: Orientations ``2 pi k / n_orientations`` (1 to 360).
        n_positions: Centres per axis, spaced evenly so the sprite stays inside (1 to 64).

    Raises:
        InputValidationError: a grid size that is not an integer in its range.

    Example:
        >>> sprites = Sprites()
        >>> sprites.factor_names, sprites.factor_sizes
        (('shape', 'scale', 'orientation', 'x', 'y'), (3, 6, 40, 32, 32))
        >>> factors = sprites.sample_factors(4, np.random.default_rng(0))
        >>> images = sprites.images_from_factors(factors)
        >>> factors.dtype, images.shape, images.dtype, sorted(np.unique(images).tolist())
        (dtype('int64'), (4, 64, 64, 1), dtype('float32'), [0.0, 1.0])
    """

    factor_names = ("shape", "scale", "orientation", "x", "y")

    def __init__(self, n_shapes: int = 3, n_scales: int = 6, n_orientations: int = 40, n_positions: int = 32):
        self.n_shapes = check_int(n_shapes, "n_shapes", minimum=1, maximum=len(SHAPES))
        self.n_scales = check_int(n_scales, "n_scales", minimum=1, maximum=_MAX_LEVELS["scales"])
        self.n_orientations = check_int(n_orientations, "n_orientations", minimum=1,
                                        maximum=_MAX_LEVELS["orientations"])
        self.n_positions = check_int(n_positions, "n_positions", minimum=1, maximum=_MAX_LEVELS["positions"])
        self.scales = _levels(0.5, 1.0, self.n_scales).astype(np.float32)
        self.orientations = 2.0 * np.pi * np.arange(self.n_orientations) / self.n_orientations
        # Rounded so that quarter turns are exact (cos(pi / 2) is 6e-17, not 0): a square turned
        # by 90 degrees then tests the very same pixel offsets and gives the same image.
        self._cos = np.round(np.cos(self.orientations), 12).astype(np.float32)
        self._sin = np.round(np.sin(self.orientations), 12).astype(np.float32)
        self.positions = _levels(MARGIN + RADIUS, IMAGE_SIZE - MARGIN - RADIUS, self.n_positions).astype(np.float32)

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        """Number of values of each factor, in the order of :attr:`factor_names`."""
        return (self.n_shapes, self.n_scales, self.n_orientations, self.n_positions, self.n_positions)

    @property
    def num_factors(self) -> int:
        """Number of factors (5)."""
        return len(self.factor_names)

    def __repr__(self) -> str:
        return (f"Sprites(n_shapes={self.n_shapes}, n_scales={self.n_scales}, "
                f"n_orientations={self.n_orientations}, n_positions={self.n_positions})")

    def sample_factors(self, n: int, rng: np.random.Generator | int | None) -> np.ndarray:
        """Draws ``n`` factor combinations uniformly (each factor independently).

        Args:
            n: Number of draws (their factors at most 1 GiB: 26 million).
            rng: A ``numpy.random.Generator``, or an integer seed (``None``: a fresh draw).

        Returns:
            int64 array ``(n, 5)`` of factor indices, column ``j`` in ``[0, factor_sizes[j])``.

        Example:
            >>> Sprites().sample_factors(2, 0).tolist()
            [[2, 3, 20, 8, 9], [0, 0, 0, 5, 26]]
        """
        n = check_count(n, "n", item_bytes=8 * self.num_factors, what="factor combinations")
        if not isinstance(rng, np.random.Generator):
            rng = _rng(rng, "rng")
        return rng.integers(0, self.factor_sizes, size=(n, self.num_factors), dtype=np.int64)

    def check_factors(self, factors: Any) -> np.ndarray:
        """``factors`` as an int64 ``(n, 5)`` array, refusing other shapes, non-integers and out-of-grid indices.

        Example:
            >>> Sprites(n_shapes=2).check_factors([[2, 0, 0, 0, 0]])
            Traceback (most recent call last):
            ...
            keras_ae.errors.InputValidationError: `factors` column 0 (shape) must lie in [0, 1], found 2 ...
        """
        try:
            arr = np.asarray(factors)
        except (ValueError, TypeError) as exc:
            raise InputValidationError(f"`factors` cannot be read as an array ({exc}).") from exc
        if arr.ndim != 2 or arr.shape[1] != self.num_factors:
            raise InputValidationError(
                f"`factors` must have shape (n, {self.num_factors}), one column per factor "
                f"{self.factor_names}; got shape {short_repr(arr.shape)}.")
        if not (np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_):
            raise InputValidationError(f"`factors` must hold integer factor indices, got dtype {arr.dtype}.")
        check_count(len(arr), "factors", item_bytes=4 * IMAGE_SIZE * IMAGE_SIZE, advice="render them in parts")
        arr = arr.astype(np.int64, copy=False)
        if len(arr):
            low, high = arr.min(axis=0), arr.max(axis=0)
            for j, (name, size) in enumerate(zip(self.factor_names, self.factor_sizes)):
                if low[j] < 0 or high[j] >= size:
                    bad = low[j] if low[j] < 0 else high[j]
                    raise InputValidationError(
                        f"`factors` column {j} ({name}) must lie in [0, {size - 1}], found {bad} "
                        f"(factor_sizes are {self.factor_sizes}).")
        return arr

    def images_from_factors(self, factors: Any) -> np.ndarray:
        """Renders the images of factor combinations; the same factors give the same bytes every call.

        Args:
            factors: Integer array ``(n, 5)`` of factor indices (as :meth:`sample_factors` returns).

        Returns:
            float32 array ``(n, 64, 64, 1)`` of 0s and 1s.

        Raises:
            InputValidationError: a shape other than ``(n, 5)``, non-integers, an index off the
                grid, or more images than fit in 1 GiB.

        Example:
            >>> image = Sprites().images_from_factors([[0, 5, 0, 16, 16]])[0, :, :, 0]
            >>> int(image.sum()), int(image[:, :2].sum() + image[:, -2:].sum())
            (196, 0)
        """
        factors = self.check_factors(factors)
        images = np.empty((len(factors), *IMAGE_SHAPE), np.float32)
        for start in range(0, len(factors), CHUNK):
            images[start:start + CHUNK, :, :, 0] = self._render(factors[start:start + CHUNK])
        return images

    def _render(self, factors: np.ndarray) -> np.ndarray:
        """Boolean masks ``(n, 64, 64)``: each pixel centre mapped back into the shape's unit frame.

        Each shape's images are rendered together, in float32: 10,000 images take 0.65 s
        where float64 takes 1.8 s or more (measured on one shared CPU core).
        """
        masks = np.zeros((len(factors), IMAGE_SIZE, IMAGE_SIZE), bool)
        for k in np.unique(factors[:, 0]):
            chosen = np.nonzero(factors[:, 0] == k)[0]
            _, scale, orientation, x, y = factors[chosen].T
            size = (RADIUS * self.scales[scale])[:, None, None]
            dx = (_PIXELS[None, None, :] - self.positions[x][:, None, None]) / size  # (n, 1, 64): columns
            dy = (_PIXELS[None, :, None] - self.positions[y][:, None, None]) / size  # (n, 64, 1): rows
            cos, sin = self._cos[orientation][:, None, None], self._sin[orientation][:, None, None]
            masks[chosen] = _INSIDE[k](cos * dx + sin * dy, cos * dy - sin * dx)
        return masks


def _rng(seed: Any, name: str = "seed") -> np.random.Generator:
    """A NumPy generator for any integer seed (negative ones reduced mod 2**64), or a fresh one for None."""
    seed = check_seed(seed, name)
    return np.random.default_rng(None if seed is None else seed % (1 << 64))


def _stream(sprites: Sprites, factors: np.ndarray, flatten: bool):
    """Unbatched ``(image, factors)`` elements rendered :data:`CHUNK` at a time as they are read."""
    import tensorflow as tf

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(factors), CHUNK):
            part = factors[start:start + CHUNK]
            images = sprites.images_from_factors(part)
            yield (images.reshape(len(part), -1) if flatten else images), part

    image_shape = (None, IMAGE_SIZE * IMAGE_SIZE) if flatten else (None, *IMAGE_SHAPE)
    return tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec(image_shape, tf.float32), tf.TensorSpec((None, sprites.num_factors), tf.int64))).unbatch()


def load_sprites(n_samples: int = 2000, test_fraction: float = 0.2, seed: int | None = 0, flatten: bool = False,
                 as_dataset: bool = False, sprites: Sprites | None = None
                 ) -> Dataset | tuple[tf.data.Dataset, tf.data.Dataset]:
    """Sprites with uniformly drawn factors, split into train and test; see :func:`keras_ae.load_dataset`.

    The first ``round(n_samples * test_fraction)`` draws are the test split, as for the manifolds.

    Args:
        n_samples: Images in both splits together: at most 65,536 as arrays (1 GiB of float32),
            10,000,000 streamed.
        test_fraction: Share held out as the test split, in (0, 1).
        seed: Seed of the factor draws (any integer; None draws a fresh one).
        flatten: Images as vectors of 4096 values.
        as_dataset: Stream ``(train_ds, test_ds)`` of unbatched ``(image, factors)``, rendered
            as they are read (only the factors are held in memory).
        sprites: The factor grid (default: dSprites' :class:`Sprites`).

    Returns:
        A :class:`~keras_ae.data.images.Dataset` ``((x_train, y_train), (x_test, y_test))``:
        images float32 ``(n, 64, 64, 1)`` of 0s and 1s (``(n, 4096)`` with ``flatten``), labels
        int64 ``(n, 5)`` factor indices. With ``as_dataset=True``: ``(train_ds, test_ds)``, two
        ``tf.data.Dataset`` s of unbatched ``(float32 image, int64 factors (5,))`` elements.

    Raises:
        InputValidationError: ``n_samples`` too small or too large, a ``test_fraction`` leaving
            a split empty, a bad seed, ``flatten`` or ``as_dataset`` not a bool.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = load_sprites(100, seed=1)
        >>> x_train.shape, y_train.shape, x_test.shape
        ((80, 64, 64, 1), (80, 5), (20, 64, 64, 1))
    """
    sprites = Sprites() if sprites is None else sprites
    flatten, as_dataset = check_bool(flatten, "flatten"), check_bool(as_dataset, "as_dataset")
    if not as_dataset:
        check_count(n_samples, "n_samples", item_bytes=4 * IMAGE_SIZE * IMAGE_SIZE, minimum=2,
                    advice="stream them with as_dataset=True")
    n_test = check_test_fraction(test_fraction, n_samples)  # n_samples in [2, 10**7]
    factors = sprites.sample_factors(n_samples, _rng(seed))
    train, test = factors[n_test:], factors[:n_test]
    if as_dataset:
        return _stream(sprites, train, flatten), _stream(sprites, test, flatten)

    def split(part: np.ndarray) -> Split:
        images = sprites.images_from_factors(part)
        return Split(images.reshape(len(part), -1) if flatten else images, part)

    return Dataset(split(train), split(test))


__all__ = ["IMAGE_SHAPE", "MARGIN", "RADIUS", "SHAPES", "Sprites", "load_sprites"]
