"""Denoising real photos: a 12x12 patch denoising auto-encoder, learned filters, whole-photo PSNR.

Three patch auto-encoders are trained on patches of one of scikit-learn's sample photos
(undercomplete, overcomplete, overcomplete denoising; Vincent et al. 2010's filter
comparison). The other photo, never seen in training, gets Gaussian noise of std 25/255
and is denoised by overlapping patches with averaging; PSNR before/after is printed.

Example:
    python recipes/app_denoise_photos.py --epochs 20
"""

from __future__ import annotations

import time

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np

from keras_ae.applications.denoising_photos import (
    NOISE_STD,
    add_noise,
    build_patch_ae,
    denoise_image,
    extract_patches,
    first_layer_kernel,
    image_psnr,
    load_photos,
    save_filter_panels,
)
from keras_ae.experiment import recipe_parser, recipe_tensorboard_callbacks, write_results
from keras_ae.plotting import save_image_rows



def main(argv=None):
    parser = recipe_parser("app_denoise_photos", __doc__.splitlines()[0], dataset="sample_photos", epochs=20)
    parser.add_argument("--train-photo", default="china", choices=("china", "flower"))
    parser.add_argument("--patches", type=int, default=100_000, help="random training patches")
    parser.add_argument("--under", type=int, default=64, help="hidden units of the undercomplete model")
    parser.add_argument("--over", type=int, default=512, help="hidden units of the overcomplete models")
    parser.add_argument("--noise", type=float, default=NOISE_STD, help="Gaussian noise std (images in [0, 1])")
    args = parser.parse_args(argv)  # --dataset/--data-dir are unused: the photos ship with scikit-learn
    photos = load_photos()
    test_photo = next(name for name in photos if name != args.train_photo)
    train = extract_patches(photos[args.train_photo], max_patches=args.patches, seed=args.seed)

    clean = photos[test_photo]
    noisy = add_noise(clean, args.noise, seed=args.seed + 1)
    noisy_psnr = image_psnr(clean, noisy)
    configs = {
        f"undercomplete ({args.under})": (args.under, 0.0),
        f"overcomplete ({args.over})": (args.over, 0.0),
        f"denoising overcomplete ({args.over})": (args.over, args.noise),
    }
    rows, kernels, outputs = [], {}, {}
    for name, (units, noise) in configs.items():
        keras.utils.set_random_seed(args.seed)
        model = build_patch_ae(units, noise_std=noise)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        start = time.perf_counter()
        model.fit(train, epochs=args.epochs, batch_size=128, verbose=2,
                  callbacks=recipe_tensorboard_callbacks(args, model, name=f"patch_ae_{units}_noise_{noise:g}"))
        seconds = time.perf_counter() - start
        outputs[name] = denoise_image(model, noisy)
        kernels[name] = first_layer_kernel(model)
        psnr = image_psnr(clean, outputs[name])
        rows.append({"model": name, "hidden": units, "train_noise": noise, "test_photo": test_photo,
                     "psnr_noisy_db": noisy_psnr, "psnr_out_db": psnr, "gain_db": psnr - noisy_psnr,
                     "train_seconds": seconds})
    save_filter_panels(kernels, f"{args.out}/filters.png")
    crop = (slice(120, 248), slice(250, 378))  # a 128x128 detail
    denoiser = list(configs)[-1]
    save_image_rows({"clean": clean[None][(slice(None), *crop)],
                     "noisy": np.clip(noisy, 0, 1)[None][(slice(None), *crop)],
                     "denoised": np.clip(outputs[denoiser], 0, 1)[None][(slice(None), *crop)]},
                    f"{args.out}/denoised_crop.png", n=1, title=f"held-out photo '{test_photo}', sigma 25/255")
    save_image_rows({"noisy": np.clip(noisy, 0, 1)[None], "denoised": np.clip(outputs[denoiser], 0, 1)[None]},
                    f"{args.out}/denoised_photo.png", n=1)
    best = rows[-1]
    write_results(args.out, {"split": f"train '{args.train_photo}' patches, test '{test_photo}' photo",
                             "psnr_noisy_db": noisy_psnr, "psnr_denoised_db": best["psnr_out_db"],
                             "psnr_gain_db": best["gain_db"]}, rows, args)
    print(f"held-out photo '{test_photo}': PSNR {noisy_psnr:.2f} dB noisy -> {best['psnr_out_db']:.2f} dB denoised "
          f"(gain {best['gain_db']:.2f} dB)")


if __name__ == "__main__":
    main()
