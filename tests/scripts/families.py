"""Small models of each family with data, for reliability tests run in subprocesses.

FAMILIES: name -> (build(), data(), compile_kwargs()). Every family in keras_ae's registry
(:mod:`keras_ae.registry`) has a row here or a reason in SHARED_STEP;
:func:`uncovered_families` (checked by tests/test_architecture.py) lists those that have neither.
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

    # The Corruption layer draws per example of the global batch (keras_ae.random.batch_noise),
    # so a noisy denoiser matches one device under MirroredStrategy too.
    return build_denoising_ae((8, 8, 1), noise="masking", level=level, filters=(8,))


def _sparse():
    from keras_ae.models import build_sparse_ae

    return build_sparse_ae((8, 8, 1), hidden=(16,), code_dim=16, l1=1e-2)


def _contractive():
    from keras_ae.models import build_contractive_ae

    return build_contractive_ae((8, 8, 1), code_dim=16, contraction=0.1, jacobian="closed_form")


def _contractive_deep():
    from keras_ae.models import build_contractive_ae

    return build_contractive_ae((8, 8, 1), hidden=(16,), code_dim=8, contraction=0.1, jacobian="exact")


def _pixelcnn():
    from keras_ae.models import build_pixelcnn

    # Dynamic binarization: its uniform noise is drawn per example of the global batch.
    return build_pixelcnn((8, 8, 1), filters=8, blocks=1, dynamic_binarization=True, seed=0)


def _vae():
    from keras_ae.models import build_vae

    # Dynamic binarization draws uniform noise, the posterior sample normal noise.
    return build_vae((8, 8, 1), latent_dim=4, hidden=(16,), dynamic_binarization=True, seed=0)


def _vae_flow(**kwargs):
    from keras_ae.models import build_vae

    # The IWAE objective's k draws per example come from batch_noise too ((batch, k, latent) rows).
    return build_vae((8, 8, 1), latent_dim=4, hidden=(16,), dynamic_binarization=True, seed=0, **kwargs)


def _vqvae():
    from keras_ae.models import build_vqvae

    # Dynamic binarization draws uniform noise per example of the global batch; the EMA
    # counts / sums and the restart candidates are summed over replicas. dead_after=1: the
    # codes no vector chose are restarted in the step too.
    return build_vqvae((8, 8, 1), num_codes=16, code_dim=4, filters=(8,), residual_blocks=1, dead_after=1,
                       dynamic_binarization=True, prior_filters=4, prior_blocks=0, seed=0)


def _gan():
    from keras_ae.models import build_gan

    # No dropout: Keras' Dropout draws the same mask on every replica (docs/scale.md), so it
    # cannot match one device. Maxout and the EMA generator stay.
    return build_gan((8, 8, 1), latent_dim=4, generator_units=(16,), discriminator_units=(16,),
                     maxout_pieces=2, dropout=0.0, seed=0)


def _realnvp():
    from keras_ae.models import build_realnvp

    # The dequantization noise is drawn per example of the global batch (batch_noise).
    return build_realnvp((8, 8, 1), couplings=1, final_couplings=1, filters=8, blocks=1, seed=0)


def _digits_8bit(n=64):
    import numpy as np

    return (np.round(_digits(n) * 255) / 255).astype("float32")


def _diffusion():
    from keras_ae.models import build_diffusion

    # t and the noise are drawn per example of the global batch (batch_noise); the EMA
    # network follows the (identical) weights of every replica.
    return build_diffusion((8, 8, 1), channels=(8, 16), attention=False, timesteps=20, seed=0)


def _rae():
    from keras_ae.models import build_rae

    # Exact Jacobian: random projections would be drawn per replica, not per example of the global batch.
    return build_rae((8, 8, 1), hidden=(16,), code_dim=4, decoder_regularization="gp", jacobian="exact")


def _rae_l2():
    from keras_ae.models import build_rae

    return build_rae((8, 8, 1), architecture="conv", filters=(8,), code_dim=4, decoder_regularization="l2")


def _wae():
    from keras_ae.models import build_wae

    # The MMD is a statistic of the global batch: the codes are all-gathered across replicas.
    return build_wae((8, 8, 1), hidden=(16,), code_dim=4, seed=0)


def _vae_family(builder, **kwargs):
    import keras_ae.models

    return getattr(keras_ae.models, builder)((8, 8, 1), latent_dim=4, hidden=(16,), dynamic_binarization=True,
                                             seed=0, **kwargs)


def _gan_compile(loss="non_saturating", lr=0.1, **kwargs):
    # XLA and TensorFlow's kernels draw different Philox streams from one seed, and a
    # tf.distribute step never runs under XLA: compare both without it.
    return lambda: {"d_optimizer": keras.optimizers.SGD(lr), "g_optimizer": keras.optimizers.SGD(lr),
                    "loss": loss, "jit_compile": False, **kwargs}


FAMILIES = {
    "dense_ae": (_ae, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "conv_dae": (_dae, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "noisy_dae": (lambda: _dae(0.3), _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "contractive_ae": (_contractive, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "contractive_exact": (_contractive_deep, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "pixelcnn": (_pixelcnn, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.1)}),
    "sparse_ae": (_sparse, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "vae": (_vae, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.01)}),
    "vae_iaf": (lambda: _vae_flow(posterior_flow="iaf", flow_steps=2, flow_hidden=(8,)), _digits,
                lambda: {"optimizer": keras.optimizers.SGD(0.01)}),
    "vae_iwae": (lambda: _vae_flow(objective="iwae", k=3), _digits, lambda: {"optimizer": keras.optimizers.SGD(0.01)}),
    "vqvae": (_vqvae, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.01)}),
    "gan": (_gan, _digits, _gan_compile()),
    # Critic updates with a gradient penalty (double backprop) and two critic steps.
    "wgan_gp": (_gan, _digits, _gan_compile("wasserstein_gp", lr=0.01, n_critic=2)),
    "diffusion": (_diffusion, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.05)}),
    "realnvp": (_realnvp, _digits_8bit, lambda: {"optimizer": keras.optimizers.SGD(0.01)}),
    "rae_gp": (_rae, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "rae_l2": (_rae_l2, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    "wae": (_wae, _digits, lambda: {"optimizer": keras.optimizers.SGD(0.5)}),
    # The VampPrior's KL is a Monte-Carlo estimate through the encoder at the pseudo-inputs.
    "vae_vamp": (lambda: _vae_family("build_vae", prior="vamp", num_pseudo_inputs=8), _digits,
                 lambda: {"optimizer": keras.optimizers.SGD(0.01)}),
    "beta_tcvae": (lambda: _vae_family("build_beta_tcvae", beta=6.0), _digits,
                   lambda: {"optimizer": keras.optimizers.SGD(0.01)}),
    "factor_vae": (lambda: _vae_family("build_factor_vae", discriminator_hidden=(16,)), _digits,
                   lambda: {"optimizer": keras.optimizers.SGD(0.01),
                            "discriminator_optimizer": keras.optimizers.SGD(0.01)}),
}

# Families whose one-step result must match exactly under MirroredStrategy. The VAE, the
# GANs and the denoiser's Corruption layer draw their noise with
# keras_ae.random.batch_noise (per example of the global batch).
MIRRORED = list(FAMILIES)
# Uneven and empty replica batches, once per train_step implementation: the AutoEncoder
# base (with convolutions, whose oneDNN gradients fail on empty batches), the VAE's noise
# the GAN's (with a gradient penalty) and the autoregressive models'.
UNEVEN = ["conv_dae", "vae", "gan", "wgan_gp", "pixelcnn", "vqvae", "realnvp", "diffusion", "wae"]

# Families whose two seeded runs are not always bit-identical, with the largest weight
# difference the determinism test accepts. WGAN-GP: in 2-4% of repeated runs (up to 25%
# with one inter-op thread, 0 of 30 eagerly) the first critic step's input-gradient norm
# at the interpolates comes out 5e-4 (relative) off, the same alternative value each time,
# while the seeds, the batch, alpha, the weights and both critic scores are identical;
# without oneDNN, with one intra-op thread and under XLA it still happens (cause not
# found). After the test's 3 epochs the weights then differ by 2e-4; an unseeded alpha
# gives 5e-3 and another global seed 0.9.
NEAR_IDENTICAL = {"wgan_gp": 1e-3}

# Registered families without a row of their own, and why their training is covered.
SHARED_STEP = {
    "autoregressive": "the abstract base of PixelCNN and PixelRNN (pixelcnn row)",
    "pixelrnn": "the AutoregressiveModel train_step of the pixelcnn row, with recurrent layers",
    "tied": "the AutoEncoder train_step of the dense_ae row; only the decoder's kernels are shared",
    "hashing": "the AutoEncoder train_step; its BinaryCode noise is keras.random's, like Dropout (docs/scale.md)",
    "anomaly_detector": "no train_step: it calibrates a trained model of another family (tests/test_detectors.py)",
    "latent_sampler": "no train_step: a density fitted on a trained model's codes (tests/test_latent_sampler.py)",
}


def uncovered_families() -> list[str]:
    """Registered family names with neither a row in FAMILIES nor a reason in SHARED_STEP."""
    import keras_ae.models  # noqa: F401  (registers every family)
    from keras_ae import registry

    covered = {registry.family_of(build()).name for build, _, _ in FAMILIES.values()}
    return sorted(f.name for f in registry.families() if f.name not in covered | set(SHARED_STEP))


__all__ = ["FAMILIES", "MIRRORED", "SHARED_STEP", "UNEVEN", "uncovered_families"]
