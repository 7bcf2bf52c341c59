"""keras_ae: auto-encoders, representation learning and generative models for Keras 3.

Example:
    >>> import keras_ae
    >>> (x_train, _), (x_test, _) = keras_ae.load_dataset("digits")
    >>> model = keras_ae.build_denoising_ae(x_train.shape[1:], noise="gaussian", level=0.5)
    >>> model.compile()
    >>> history = model.fit(x_train, epochs=2, verbose=0)
    >>> model.reconstruct(x_test[:4]).shape
    (4, 8, 8, 1)

Then serve it (writes ``saved_models/digits_denoiser/1``):

```python
keras_ae.export(model, "digits_denoiser")
```
"""

# Before anything imports TensorFlow: the keras-ae command, `python -m keras_ae` and the
# recipes hide TensorFlow's C++ start-up lines (keras_ae.quiet; `--verbose` shows them).
from keras_ae.quiet import quiet_entry_point as _quiet_entry_point

_quiet_entry_point()

from keras_ae.version import __version__
from keras_ae.data import load_dataset, make_tf_dataset
from keras_ae.errors import (
    DatasetNotAvailableError,
    InputValidationError,
    KerasAEError,
    TrainingDivergedError,
    UnknownNameError,
)
from keras_ae.models import (
    GAN,
    VAE,
    AutoEncoder,
    build_beta_tcvae,
    build_conditional_gan,
    build_contractive_ae,
    build_conv_ae,
    build_conv1d_ae,
    build_dcgan,
    build_ddpm,
    build_dense_ae,
    build_denoising_ae,
    build_diffusion,
    build_factor_vae,
    build_gan,
    build_hashing_ae,
    build_linear_ae,
    build_pixelcnn,
    build_pixelrnn,
    build_rae,
    build_realnvp,
    build_sparse_ae,
    build_tied_ae,
    build_vae,
    build_vqvae,
    build_wae,
    fit_latent_sampler,
    fit_pca,
)

# The package keras_ae.export, callable as the function: keras_ae.export(model, "name").
from keras_ae import export
from keras_ae.applications.detectors import AnomalyDetector  # registered, so saved detectors load anywhere

__all__ = [
    "GAN", "VAE", "AnomalyDetector", "AutoEncoder", "DatasetNotAvailableError", "InputValidationError",
    "KerasAEError", "TrainingDivergedError", "UnknownNameError", "__version__", "build_beta_tcvae",
    "build_conditional_gan", "build_contractive_ae", "build_conv1d_ae", "build_conv_ae", "build_dcgan",
    "build_ddpm", "build_dense_ae", "build_denoising_ae", "build_diffusion", "build_factor_vae", "build_gan",
    "build_hashing_ae", "build_linear_ae", "build_pixelcnn", "build_pixelrnn", "build_rae", "build_realnvp",
    "build_sparse_ae", "build_tied_ae", "build_vae", "build_vqvae", "build_wae", "export", "fit_latent_sampler",
    "fit_pca", "load_dataset", "make_tf_dataset",
]
