"""Denoising auto-encoders (Vincent et al. 2008): corrupt the input, reconstruct the clean one.

The corruption is a layer applied only when ``training=True``, so ``fit`` sees noisy
inputs with clean targets while ``predict`` / ``reconstruct`` denoise what they are given.
"""

from __future__ import annotations

from typing import Sequence

from keras_ae.data.corruption import Corruption
from keras_ae.models.base import AutoEncoder
from keras_ae.models.conv import build_conv_ae
from keras_ae.models.dense import build_dense_ae
from keras_ae.validation import check_choice
from keras_ae.registry import register_builder


@register_builder("denoising")
def build_denoising_ae(
    input_shape: int | Sequence[int] = (28, 28, 1),
    noise: str = "gaussian",
    level: float = 0.5,
    architecture: str = "conv",
    clip: tuple[float, float] | None = (0.0, 1.0),
    name: str = "denoising_ae",
    **kwargs,
) -> AutoEncoder:
    """A denoising auto-encoder, convolutional by default.

    Args:
        input_shape: Shape of one example.
        noise: ``"gaussian"``, ``"masking"`` or ``"salt_pepper"``.
        level: Noise standard deviation (Gaussian) or fraction of corrupted pixels.
        architecture: ``"conv"`` (``build_conv_ae``) or ``"dense"`` (``build_dense_ae``);
            works over- and undercomplete (choose ``code_dim``, and ``filters`` or ``hidden``).
        clip: Value range of the noisy images (``None`` for unbounded real data).
        name: Model name.
        **kwargs: Passed to the architecture's builder (``filters``, ``code_dim``, ``loss``...).

    Returns:
        An :class:`AutoEncoder` with a training-only ``Corruption`` layer.

    Example:
        >>> model = build_denoising_ae((8, 8, 1), noise="gaussian", level=0.5, filters=(8,))
        >>> model.compile(optimizer="adam")
        >>> history = model.fit(x_digits, epochs=2, batch_size=64, verbose=0)  # noisy inputs, clean targets
        >>> noisy_test = keras_ae.data.corrupt(x_digits_test, "gaussian", 0.5, seed=0)
        >>> model.reconstruct(noisy_test).shape  # no corruption outside training
        (64, 8, 8, 1)

        The keras.io denoising example on MNIST (minutes of training, so not run here):

        ```python
        (x_train, _), (x_test, _) = keras_ae.load_dataset("mnist")
        model = build_denoising_ae((28, 28, 1), noise="gaussian", level=0.5)
        model.compile(optimizer="adam")
        model.fit(x_train, epochs=15)
        denoised = model.reconstruct(keras_ae.data.corrupt(x_test, "gaussian", 0.5, seed=0))
        ```
    """
    check_choice(architecture, "architecture", ("conv", "dense"))
    corruption = Corruption(noise, level, clip=clip, name="corruption")
    builder = build_conv_ae if architecture == "conv" else build_dense_ae
    return builder(input_shape, corruption=corruption, name=name, **kwargs)
