"""Photo denoising: patch extraction / reassembly against scikit-learn, a patch DAE that denoises."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.feature_extraction.image import extract_patches_2d, reconstruct_from_patches_2d

from keras_ae.applications.denoising_photos import (
    add_noise,
    build_patch_ae,
    denoise_image,
    extract_patches,
    first_layer_kernel,
    image_psnr,
    load_photos,
    reassemble_patches,
    save_filter_panels,
)
from keras_ae.errors import InputValidationError


@pytest.fixture(scope="module")
def photos():
    return load_photos()


def test_patches_match_scikit_learn():
    image = np.random.default_rng(0).random((23, 31)).astype(np.float32)
    patches = extract_patches(image, 12)
    np.testing.assert_array_equal(patches[..., 0], extract_patches_2d(image, (12, 12)))
    # Reassembly averages overlaps exactly like scikit-learn (on arbitrary patch values).
    values = np.random.default_rng(1).random(patches.shape).astype(np.float32)
    np.testing.assert_allclose(reassemble_patches(values, image.shape),
                               reconstruct_from_patches_2d(values[..., 0], image.shape), rtol=1e-6)


@pytest.mark.parametrize("shape,patch,step",
                         [((23, 31), 12, 5), ((12, 12), 12, 3), ((25, 13), 4, 3), ((40, 41), 12, 7)])
def test_strided_round_trip_covers_the_edges(shape, patch, step):
    image = np.random.default_rng(2).random(shape).astype(np.float32)
    patches = extract_patches(image, patch, step=step)
    np.testing.assert_allclose(reassemble_patches(patches, shape, step=step), image, rtol=1e-6)


def test_random_patches_and_errors():
    image = np.arange(400, dtype=np.float32).reshape(20, 20) / 400
    sample = extract_patches(image, 12, max_patches=10, seed=0)
    every = extract_patches(image, 12)[..., 0].reshape(-1, 144)
    assert sample.shape == (10, 12, 12, 1)
    assert all((every == s.reshape(144)).all(axis=1).any() for s in sample)  # each is a real patch
    with pytest.raises(InputValidationError, match="grey image"):
        extract_patches(np.zeros((20, 20, 3)))
    with pytest.raises(InputValidationError, match="smaller than the patch"):
        extract_patches(np.zeros((8, 20)))
    with pytest.raises(InputValidationError, match="Expected 81 patches"):
        reassemble_patches(np.zeros((80, 12, 12)), (20, 20))


def test_psnr_of_sigma_25_noise(photos):
    flower = photos["flower"]
    assert flower.shape == (427, 640) and 0.0 <= flower.min() and flower.max() <= 1.0
    # Unclipped Gaussian noise of std 25/255: PSNR = 20 log10(255 / 25) = 20.17 dB.
    assert image_psnr(flower, add_noise(flower, seed=0)) == pytest.approx(20.17, abs=0.05)


@pytest.mark.slow
def test_patch_dae_denoises_a_held_out_photo(photos, tmp_path):
    train = extract_patches(photos["china"], max_patches=20000, seed=0)
    model = build_patch_ae(128, noise_std=25 / 255)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(train, epochs=4, batch_size=128, verbose=0)
    clean = photos["flower"][100:180, 200:300]  # a held-out crop
    noisy = add_noise(clean, seed=3)
    denoised = denoise_image(model, noisy, step=2)
    assert denoised.shape == clean.shape
    assert image_psnr(clean, denoised) > image_psnr(clean, noisy) + 1.5
    kernel = first_layer_kernel(model)
    assert kernel.shape == (144, 128)
    assert save_filter_panels({"denoising": kernel}, tmp_path / "filters.png").stat().st_size > 1000
