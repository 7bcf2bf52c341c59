"""Small models of each family with data, for reliability tests run in subprocesses.

FAMILIES: name -> (build(), data(), compile_kwargs()). Add a row per model family.
"""

import keras


def _digits(n=64):
    from keras_ae.data import load_dataset

    (x, _), _ = load_dataset("digits")
    return x[:n]


def _ae():
    from keras_ae.models import build_dense_ae

    return build_dense_ae((8, 8, 1), hidden=(32,), code_dim=8)


def _dae(level=0.0):
    from keras_ae.models import build_denoising_ae

    # Noise is drawn per replica, so the mirrored comparison uses level 0 (the corruption
    # code path still runs); the determinism check uses real noise.
    return build_denoising_ae((8, 8, 1), noise="masking", level=level, filters=(8,))


def _sparse():
    from keras_ae.models import build_sparse_ae

    return build_sparse_ae((8, 8, 1), hidden=(16,), code_dim=16, l1=1e-2)


def _binary_digits(n=64):
    from keras_ae.data import binarize

    return binarize(_digits(n), seed=0)


def _contractive():
    from keras_ae.models import build_contractive_ae

    return build_contractive_ae((8, 8, 1), code_dim=16, contraction=0.1, jacobian="closed_form")


def _contractive_deep():
    from keras_ae.models import build_contractive_ae

    return build_contractive_ae((8, 8, 1), hidden=(16,), code_dim=8, contraction=0.1, jacobian="exact")


def _pixelcnn():
    from keras_ae.models import build_pixelcnn

    return build_pixelcnn((8, 8, 1), filters=8, blocks=1)


FAMILIES = {
    "dense_ae": (_ae, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "conv_dae": (_dae, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "noisy_dae": (lambda: _dae(0.3), _digits, lambda: {}),
    "contractive_ae": (_contractive, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "contractive_exact": (_contractive_deep, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "pixelcnn": (_pixelcnn, _binary_digits, lambda: {"optimizer": keras.optimizers.SGD(0.1)}),
    "sparse_ae": (_sparse, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
}

# Families whose one-step result must match exactly under MirroredStrategy (no per-replica
# randomness in the step).
MIRRORED = [name for name in FAMILIES if name != "noisy_dae"]

__all__ = ["FAMILIES", "MIRRORED"]
