"""The generated sprites dataset (dSprites-like images with known factors) and the factor labels
of ``tfds:dsprites`` / ``tfds:shapes3d`` (TFDS mocked offline, as in tests/test_tfds.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras_ae.data import DATASETS, dataset_status, load_dataset
from keras_ae.data.sprites import MARGIN, RADIUS, Sprites
from keras_ae.errors import InputValidationError

SQUARE, ELLIPSE, HEART = 0, 1, 2


@pytest.fixture(scope="module")
def sprites() -> Sprites:
    return Sprites()


def _image(sprites: Sprites, shape=SQUARE, scale=5, orientation=0, x=16, y=16) -> np.ndarray:
    return sprites.images_from_factors(np.array([[shape, scale, orientation, x, y]]))[0, :, :, 0]


def _centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(image)
    return float(cols.mean()), float(rows.mean())


# -- determinism, shapes, values ----------------------------------------------------------------
def test_same_seed_gives_the_same_bytes_and_different_seeds_differ():
    (x, y), (xt, yt) = load_dataset("sprites", n_samples=200, seed=3)
    (x2, y2), (xt2, yt2) = load_dataset("sprites", n_samples=200, seed=3)
    assert x.tobytes() == x2.tobytes() and xt.tobytes() == xt2.tobytes()
    assert np.array_equal(y, y2) and np.array_equal(yt, yt2)
    (x3, y3), _ = load_dataset("sprites", n_samples=200, seed=4)
    assert not np.array_equal(y, y3) and not np.array_equal(x, x3)
    # the images are a function of the factors alone: a fresh renderer gives the same bytes
    assert Sprites().images_from_factors(y).tobytes() == x.tobytes()


def test_arrays_have_the_documented_shapes_dtypes_and_binary_values():
    (x, y), (xt, yt) = load_dataset("sprites", n_samples=250, test_fraction=0.2, seed=0)
    assert x.shape == (200, 64, 64, 1) and xt.shape == (50, 64, 64, 1)
    assert x.dtype == np.float32 and y.dtype == np.int64 and y.shape == (200, 5) and yt.shape == (50, 5)
    assert set(np.unique(np.concatenate([x, xt])).tolist()) == {0.0, 1.0}
    assert (x.reshape(len(x), -1).sum(axis=1) > 0).all()  # every image shows its sprite
    assert (y >= 0).all() and (y < np.array(Sprites().factor_sizes)).all()
    (xf, yf), _ = load_dataset("sprites", n_samples=250, seed=0, flatten=True)
    assert xf.shape == (200, 4096) and np.array_equal(xf, x.reshape(200, -1)) and np.array_equal(yf, y)


def test_sample_factors_covers_every_value_of_every_factor(sprites):
    factors = sprites.sample_factors(5000, np.random.default_rng(1))
    assert factors.dtype == np.int64 and factors.shape == (5000, 5)
    for column, size in enumerate(sprites.factor_sizes):
        counts = np.bincount(factors[:, column], minlength=size)
        assert len(counts) == size and counts.min() > 0
    # an integer seed means the generator of that seed
    assert np.array_equal(sprites.sample_factors(10, 7), sprites.sample_factors(10, np.random.default_rng(7)))


# -- each factor does what it says ---------------------------------------------------------------
def test_moving_x_and_y_shifts_the_centre_of_mass_by_the_position_step(sprites):
    step = sprites.positions[1] - sprites.positions[0]
    x0, y0 = _centre_of_mass(_image(sprites, ELLIPSE, x=4, y=9))
    x1, y1 = _centre_of_mass(_image(sprites, ELLIPSE, x=24, y=9))
    x2, y2 = _centre_of_mass(_image(sprites, ELLIPSE, x=4, y=29))
    assert x1 - x0 == pytest.approx(20 * step, abs=0.5) and y1 == pytest.approx(y0, abs=1e-9)
    assert y2 - y0 == pytest.approx(20 * step, abs=0.5) and x2 == pytest.approx(x0, abs=1e-9)


def test_scale_grows_the_pixel_count_like_the_shape_area(sprites):
    # areas at scale s in pixels: square 2 R^2 s^2, ellipse pi R^2 s^2 / 2, heart 3.6595 R^2 s^2 / 1.25^2
    areas = {SQUARE: 2.0, ELLIPSE: np.pi / 2, HEART: 3.6595 / 1.5625}
    for shape, area in areas.items():
        counts = [_image(sprites, shape, scale=s).sum() for s in range(6)]
        assert np.all(np.diff(counts) > 0)
        for s, count in zip(sprites.scales, counts):
            # pixels cut by the outline count whole or not at all: off by at most half a ring of them
            assert count == pytest.approx(area * (RADIUS * s) ** 2, abs=np.pi * RADIUS * s)
        assert counts[-1] == pytest.approx(area * RADIUS**2, rel=0.03)


def test_quarter_turns_leave_a_square_alone_and_rotate_an_ellipse(sprites):
    quarter = sprites.factor_sizes[2] // 4  # orientation index of 90 degrees
    square = _image(sprites, SQUARE, x=16, y=16)
    assert np.array_equal(_image(sprites, SQUARE, orientation=quarter), square)
    assert np.array_equal(_image(sprites, SQUARE, orientation=2 * quarter), square)
    ellipse = _image(sprites, ELLIPSE)
    assert np.array_equal(_image(sprites, ELLIPSE, orientation=2 * quarter), ellipse)  # half a turn
    # a quarter turn about a centre on the diagonal swaps rows and columns
    assert np.array_equal(_image(sprites, ELLIPSE, orientation=quarter), ellipse.T)
    assert not np.array_equal(_image(sprites, HEART, orientation=quarter), _image(sprites, HEART))
    # an eighth of a turn shows the square's corners: wider bounding box, same area within a pixel row
    diamond = _image(sprites, SQUARE, orientation=quarter // 2)
    assert np.nonzero(diamond.any(axis=0))[0].size > np.nonzero(square.any(axis=0))[0].size
    assert abs(diamond.sum() - square.sum()) < 14


def test_shape_changes_the_mask(sprites):
    images = [_image(sprites, shape, orientation=3) for shape in (SQUARE, ELLIPSE, HEART)]
    for i in range(3):
        for j in range(i + 1, 3):
            assert (images[i] != images[j]).sum() > 20
    # upright, the heart's lobes (its widest rows) are above its centre and its tip is the bottom row
    widths = _image(sprites, HEART).sum(axis=1)
    rows = np.nonzero(widths)[0]
    assert np.argmax(widths) < sprites.positions[16] - 0.5
    assert widths[rows[-1]] < widths[rows[0]] and widths[rows[-1]] <= 5


def test_the_largest_sprites_at_the_extreme_positions_stay_inside_the_margin(sprites):
    grid = np.array([[shape, 5, o, x, y] for shape in range(3) for o in range(40) for x in (0, 31) for y in (0, 31)])
    images = sprites.images_from_factors(grid)[..., 0]
    border = np.ones((64, 64), bool)
    border[MARGIN:-MARGIN, MARGIN:-MARGIN] = False
    assert not images[:, border].any()
    # ... and they use the frame: some sprite reaches the first row and column inside the margin
    assert images[:, MARGIN, :].any() and images[:, :, MARGIN].any()
    assert images[:, -MARGIN - 1, :].any() and images[:, :, -MARGIN - 1].any()


def test_smaller_grids_keep_the_geometry_of_their_levels():
    small = Sprites(n_shapes=2, n_scales=2, n_orientations=4, n_positions=3)
    assert small.factor_sizes == (2, 2, 4, 3, 3)
    np.testing.assert_allclose(small.scales, [0.5, 1.0])
    np.testing.assert_allclose(small.orientations, [0, np.pi / 2, np.pi, 3 * np.pi / 2])
    np.testing.assert_allclose(small.positions, [MARGIN + RADIUS, 32.0, 64 - MARGIN - RADIUS])
    # the same factor values render the same image on any grid
    assert np.array_equal(small.images_from_factors([[1, 1, 1, 1, 1]]),
                          Sprites(n_positions=3).images_from_factors([[1, 5, 10, 1, 1]]))
    assert Sprites(n_scales=1).scales.tolist() == [0.75]


def test_rendering_is_vectorized_enough_for_thousands_of_images(sprites):
    import time

    factors = sprites.sample_factors(2000, 0)
    start = time.perf_counter()
    images = sprites.images_from_factors(factors)
    assert time.perf_counter() - start < 2.0  # 10,000 images take about 1.5 s on one CPU core
    assert images.shape == (2000, 64, 64, 1)


# -- streaming --------------------------------------------------------------------------------------
@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
def test_as_dataset_streams_the_same_images_and_labels_as_the_arrays():
    import tensorflow as tf

    (x, y), (xt, yt) = load_dataset("sprites", n_samples=400, seed=5)  # train crosses a render chunk boundary (256)
    train_ds, test_ds = load_dataset("sprites", n_samples=400, seed=5, as_dataset=True)
    assert train_ds.element_spec == (tf.TensorSpec((64, 64, 1), tf.float32), tf.TensorSpec((5,), tf.int64))
    for ds, images, labels in ((train_ds, x, y), (test_ds, xt, yt)):
        streamed = list(ds.batch(1000).as_numpy_iterator())
        assert len(streamed) == 1
        assert streamed[0][0].tobytes() == images.tobytes() and np.array_equal(streamed[0][1], labels)
    flat_train, _ = load_dataset("sprites", n_samples=400, seed=5, as_dataset=True, flatten=True)
    first = next(iter(flat_train.batch(3)))[0].numpy()
    assert first.shape == (3, 4096) and np.array_equal(first, x[:3].reshape(3, -1))


def test_sprites_are_listed_and_offline():
    assert "sprites" in DATASETS
    assert dataset_status("sprites") == "offline"


# -- bad arguments --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, words", [
    ({"n_shapes": 4}, "n_shapes"), ({"n_scales": 0}, "n_scales"), ({"n_orientations": 2.5}, "n_orientations"),
    ({"n_positions": 65}, "n_positions"), ({"n_positions": True}, "n_positions"),
])
def test_bad_grids_are_refused(kwargs, words):
    with pytest.raises(InputValidationError, match=words):
        Sprites(**kwargs)


@pytest.mark.parametrize("factors, words", [
    (np.zeros((2, 4), np.int64), r"shape \(n, 5\)"),
    (np.zeros(5, np.int64), r"shape \(n, 5\)"),
    (np.zeros((2, 5)), "integer"),
    (np.array([[0, 6, 0, 0, 0]]), r"column 1 \(scale\) must lie in \[0, 5\], found 6"),
    (np.array([[0, 0, 0, 0, -1]]), r"column 4 \(y\)"),
])
def test_bad_factors_are_refused(sprites, factors, words):
    with pytest.raises(InputValidationError, match=words):
        sprites.images_from_factors(factors)


def test_empty_factors_give_no_images(sprites):
    assert sprites.images_from_factors(np.zeros((0, 5), np.int64)).shape == (0, 64, 64, 1)


@pytest.mark.parametrize("kwargs, words", [
    ({"n_samples": 10**6}, "as_dataset=True"),  # 16 GB of float32 images
    ({"n_samples": 10**8, "as_dataset": True}, "n_samples"),
    ({"n_samples": 1}, "n_samples"),
    ({"n_samples": 100, "test_fraction": 0.0}, "test_fraction"),
    ({"n_samples": 100, "noise": 0.1}, "noise"),
    ({"n_samples": 100, "seed": "zero"}, "seed"),
    ({"n_samples": 100, "as_dataset": "no"}, "as_dataset"),
])
def test_load_dataset_refuses_bad_arguments_before_rendering(kwargs, words):
    with pytest.raises(InputValidationError, match=words):
        load_dataset("sprites", **kwargs)


# -- TFDS factor datasets (mocked offline) --------------------------------------------------------
TFDS_FACTORS = {
    "dsprites": (("label_shape", "label_scale", "label_orientation", "label_x_position", "label_y_position"),
                 (64, 64, 1), 1),
    "shapes3d": (("label_floor_hue", "label_wall_hue", "label_object_hue", "label_scale", "label_shape",
                  "label_orientation"), (64, 64, 3), 255),
}


@pytest.mark.slow  # seconds: a round trip, an export or training; the full suite runs it
@pytest.mark.parametrize("name", sorted(TFDS_FACTORS))
def test_tfds_factor_datasets_give_their_factor_indices_as_2d_labels(name, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    import tensorflow as tf

    keys, shape, top = TFDS_FACTORS[name]
    root = tmp_path / "tfds"
    builder = tfds.builder(name, data_dir=str(root))
    template = tfds.core.ShardedFileTemplate(data_dir=builder.data_path, template="{DATASET}-{SPLIT}.{FILEFORMAT}",
                                             dataset_name=name, split="train", filetype_suffix="tfrecord")
    builder.info.set_splits(tfds.core.SplitDict([tfds.core.SplitInfo(
        name="train", shard_lengths=[8], num_bytes=0, filename_template=template)]))
    Path(builder.data_dir).mkdir(parents=True, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)
    labels = np.arange(8 * len(keys), dtype=np.int64).reshape(8, len(keys)) % 3

    def as_dataset(self, split, **kwargs):
        half = slice(0, 4) if "[:50%]" in str(split) else slice(4, 8)
        example = {"image": np.full((4, *shape), top, np.uint8)}
        example.update({key: labels[half, j] for j, key in enumerate(keys)})
        return tf.data.Dataset.from_tensor_slices(example)

    with tfds.testing.mock_data(policy=tfds.testing.MockPolicy.USE_FILES, data_dir=str(root),
                                as_dataset_fn=as_dataset):
        (x, y), (xt, yt) = load_dataset(f"tfds:{name}", data_dir=root, split=("train[:50%]", "train[50%:]"))
        train_ds, _ = load_dataset(f"tfds:{name}", data_dir=root, split=("train[:50%]", "train[50%:]"),
                                   as_dataset=True)
        streamed = next(iter(train_ds.batch(4)))
    assert y.dtype == np.int64 and y.shape == (4, len(keys))
    assert np.array_equal(y, labels[:4]) and np.array_equal(yt, labels[4:])
    assert x.shape == (4, *shape) and float(x.max()) == 1.0  # dsprites' stored 0/1 pixels are not divided by 255
    assert np.array_equal(streamed[1].numpy(), labels[:4]) and np.array_equal(streamed[0].numpy(), x)
