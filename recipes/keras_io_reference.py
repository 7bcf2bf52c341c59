"""keras.io reference models: keras_ae's default architectures written the keras.io way.

Each model has the identical architecture of a keras_ae builder's defaults, but is built
and trained the way the keras.io examples do it: a ``Sequential`` stack compiled with
``compile("adam", loss)`` (:func:`compile_keras_io`), or the keras.io VAE / DCGAN model
with its own ``train_step``; Keras' defaults otherwise (on a CPU-only machine Keras
resolves ``jit_compile="auto"`` to off, one step per execution). They are the "plain
Keras" side of ``recipes/benchmark.py``; import them from another recipe with
``from keras_io_reference import plain_dense_ae`` (``recipes/`` is on ``sys.path`` when a
recipe runs as a script).

| factory | keras_ae counterpart | keras.io loss |
| --- | --- | --- |
| :func:`plain_dense_ae` | ``build_dense_ae`` | ``compile("adam", "binary_crossentropy")`` on ``(x, x)`` |
| :func:`plain_conv_ae` | ``build_denoising_ae`` | ``compile("adam", "binary_crossentropy")`` on ``(noisy, x)`` |
| :func:`plain_vae` | ``build_vae`` | :class:`PlainVAE`'s ``train_step``, ``compile("adam")`` |
| :func:`plain_dcgan` | ``build_dcgan`` | :class:`PlainGAN`'s ``train_step``, compiled by the factory |
| :func:`plain_pixelcnn` | ``build_pixelcnn`` | ``compile("adam", BinaryCrossentropy(from_logits=True))``, ``(x, x)`` |

The keras.io recipes' own models, for ``recipes/time_to_quality.py`` (the keras.io recipe of
each family against keras_ae's defaults), with their training settings in
:data:`KERAS_IO_RECIPES`:

| factory | keras.io example |
| --- | --- |
| :func:`keras_io_denoiser` | "Convolutional autoencoder for image denoising" (``examples/vision/autoencoder.py``) |
| :func:`keras_io_pixelcnn` | "PixelCNN" (``examples/generative/pixelcnn.py``): ``PixelConvLayer``, ``ResidualBlock`` |
"""

from __future__ import annotations

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np
import tensorflow as tf

from keras_ae.models.gan import build_dcgan
from keras_ae.models.pixelcnn import build_pixelcnn


def compile_keras_io(model: keras.Model, loss, jit_compile: bool | None = None) -> keras.Model:
    """``model.compile("adam", loss)`` as the keras.io examples do; ``jit_compile=None``: Keras' default.

    Example:
        >>> compile_keras_io(plain_dense_ae((8, 8, 1), (16,), 4), "binary_crossentropy").optimizer.name
        'adam'
    """
    model.compile(optimizer="adam", loss=loss, **({} if jit_compile is None else {"jit_compile": jit_compile}))
    return model


def plain_dense_ae(shape: tuple, hidden: tuple, code_dim: int) -> keras.Model:
    """The keras.io deep auto-encoder: a Sequential stack of Dense layers.

    Example:
        >>> plain_dense_ae((28, 28, 1), (128, 64), 32).count_params()
        222384
    """
    layers = [keras.Input(shape), keras.layers.Flatten()]
    layers += [keras.layers.Dense(u, activation="relu") for u in hidden]
    layers += [keras.layers.Dense(code_dim)]
    layers += [keras.layers.Dense(u, activation="relu") for u in reversed(hidden)]
    layers += [keras.layers.Dense(int(np.prod(shape)), activation="sigmoid"), keras.layers.Reshape(shape)]
    return keras.Sequential(layers)


def plain_conv_ae(shape: tuple, filters: tuple = (32, 32)) -> keras.Model:
    """The keras.io convolutional denoiser with keras_ae's strided convolutions.

    Example:
        >>> plain_conv_ae((28, 28, 1)).output_shape
        (None, 28, 28, 1)
    """
    layers = [keras.Input(shape)]
    layers += [keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu") for f in filters]
    layers += [keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu")
               for f in reversed(filters)]
    layers += [keras.layers.Conv2D(shape[-1], 3, padding="same", activation="sigmoid")]
    return keras.Sequential(layers)


class PlainVAE(keras.Model):
    """The keras.io VAE example: ``z_mean``/``z_log_var``, a sampling step and a custom ``train_step``."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.encoder, self.decoder, self.latent_dim = encoder, decoder, latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            params = self.encoder(data)
            z_mean, z_log_var = params[:, : self.latent_dim], params[:, self.latent_dim:]
            eps = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
            z = z_mean + tf.exp(0.5 * z_log_var) * eps
            logits = self.decoder(z)
            rec = tf.reduce_mean(tf.reduce_sum(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=data, logits=logits), axis=(1, 2, 3)))
            kl = -0.5 * (1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
            total = rec + tf.reduce_mean(tf.reduce_sum(kl, axis=1))
        grads = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.total_loss_tracker.update_state(total)
        return {"loss": self.total_loss_tracker.result()}


def plain_vae(shape: tuple, hidden: tuple = (200, 200), latent_dim: int = 50) -> keras.Model:
    """A :class:`PlainVAE` with build_vae's default networks (tanh MLPs, written out by hand).

    Example:
        >>> plain_vae((28, 28, 1)).encoder.output_shape
        (None, 100)
    """
    enc = [keras.Input(shape), keras.layers.Flatten()] + [keras.layers.Dense(u, activation="tanh") for u in hidden]
    dec = [keras.Input((latent_dim,))] + [keras.layers.Dense(u, activation="tanh") for u in reversed(hidden)]
    dec += [keras.layers.Dense(int(np.prod(shape))), keras.layers.Reshape(shape)]
    return PlainVAE(keras.Sequential(enc + [keras.layers.Dense(2 * latent_dim)]), keras.Sequential(dec), latent_dim)


class PlainGAN(keras.Model):
    """The keras.io DCGAN example's model: D on real and fake stacked, label noise, then a G step."""

    def __init__(self, discriminator: keras.Model, generator: keras.Model, latent_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.seed_generator = keras.random.SeedGenerator(1337)
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer, loss_fn, jit_compile="auto"):
        super().compile(jit_compile=jit_compile)
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        combined = tf.concat([self.generator(z), real_images], axis=0)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        labels += 0.05 * keras.random.uniform(tf.shape(labels), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(tf.zeros((batch_size, 1)), self.discriminator(self.generator(z)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


def plain_dcgan(shape: tuple, jit_compile: bool | str = "auto", learning_rate: float = 2e-4,
                beta_1: float = 0.5) -> keras.Model:
    """A :class:`PlainGAN` around build_dcgan's default generator and discriminator.

    ``learning_rate`` / ``beta_1`` of both Adam optimizers: the defaults are the DCGAN paper's
    (the throughput rows of ``recipes/benchmark.py``); ``KERAS_IO_RECIPES["dcgan"]`` holds the
    keras.io example's (1e-4, Keras' default 0.9).

    Example:
        >>> plain_dcgan((28, 28, 1)).generator.output_shape
        (None, 28, 28, 1)
    """
    reference = build_dcgan(shape)
    g = keras.models.clone_model(reference.generator)
    d = keras.models.clone_model(reference.discriminator)
    model = PlainGAN(d, g, reference.latent_dim)
    d_optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1)
    g_optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta_1)
    model.compile(d_optimizer, g_optimizer, keras.losses.BinaryCrossentropy(from_logits=True), jit_compile=jit_compile)
    return model


def plain_pixelcnn(shape: tuple, filters: int, blocks: int) -> keras.Model:
    """The keras.io PixelCNN way: the causal network compiled with a per-pixel cross-entropy.

    Example:
        >>> plain_pixelcnn((28, 28, 1), 16, 1).output_shape
        (None, None, None, 1)
    """
    return build_pixelcnn(shape, filters, blocks).network


# -- the keras.io recipes' own models and hyper-parameters (recipes/time_to_quality.py) ------------
# What each keras.io recipe trains with. Where this file departs from the example, the entry
# says so ("keras.io: ..."): the same noise level as keras_ae's denoiser, and MNIST-sized
# batches for the DCGAN example (written for 64x64 CelebA).
KERAS_IO_RECIPES: dict[str, dict] = {
    "dense": {"source": "blog.keras.io/building-autoencoders-in-keras.html (deep auto-encoder)",
              "optimizer": "adam", "learning_rate": 1e-3, "loss": "binary_crossentropy", "batch_size": 256},
    "conv_denoising": {"source": "keras.io/examples/vision/autoencoder", "optimizer": "adam", "learning_rate": 1e-3,
                       "loss": "binary_crossentropy", "batch_size": 128, "noise_std": 0.5,
                       "note": "noise added once, up front, clipped to [0, 1] (keras.io: std 0.4)"},
    "vae": {"source": "keras.io/examples/generative/vae", "optimizer": "adam", "learning_rate": 1e-3,
            "batch_size": 128, "note": "summed BCE + analytic KL on grey (continuous) targets"},
    "dcgan": {"source": "keras.io/examples/generative/dcgan_overriding_train_step", "optimizer": "adam",
              "learning_rate": 1e-4, "beta_1": 0.9, "label_noise": 0.05, "batch_size": 128,
              "note": "BCE from logits (build_dcgan's discriminator has no sigmoid); keras.io: batch 32 on CelebA"},
    "pixelcnn": {"source": "keras.io/examples/generative/pixelcnn", "optimizer": "adam", "learning_rate": 5e-4,
                 "loss": "binary_crossentropy", "batch_size": 128, "filters": 128, "blocks": 5,
                 "note": "data binarized once, up front"},
}


def keras_io_denoiser(shape: tuple = (28, 28, 1)) -> keras.Model:
    """The keras.io denoising example's own auto-encoder (max-pooling encoder, transposed-conv decoder).

    Conv2D 32 3x3 ReLU + MaxPooling2D 2, twice; Conv2DTranspose 32 3x3 stride 2 ReLU, twice;
    Conv2D 3x3 sigmoid. Height and width must be multiples of 4 (two poolings, two 2x upsamplings).

    Args:
        shape: ``(height, width, channels)``.

    Returns:
        An uncompiled functional ``keras.Model`` (the example compiles it with
        ``compile(optimizer="adam", loss="binary_crossentropy")``).

    Example:
        >>> model = keras_io_denoiser((28, 28, 1))
        >>> model.output_shape, model.count_params()
        ((None, 28, 28, 1), 28353)
    """
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(32, (3, 3), activation="relu", padding="same")(inputs)
    x = keras.layers.MaxPooling2D((2, 2), padding="same")(x)
    x = keras.layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling2D((2, 2), padding="same")(x)
    x = keras.layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = keras.layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    outputs = keras.layers.Conv2D(shape[-1], (3, 3), activation="sigmoid", padding="same")(x)
    return keras.Model(inputs, outputs, name="keras_io_denoiser")


class PixelConvLayer(keras.layers.Layer):
    """The keras.io PixelCNN's masked convolution: mask ``"A"`` hides the centre pixel, ``"B"`` shows it.

    As in the example, the masked kernel is assigned to the convolution before every call, so
    weights outside the causal mask stay zero.
    """

    def __init__(self, mask_type: str, **kwargs):
        super().__init__()
        self.mask_type = mask_type
        self.conv = keras.layers.Conv2D(**kwargs)

    def build(self, input_shape):
        self.conv.build(input_shape)
        kernel_shape = tuple(self.conv.kernel.shape)
        mask = np.zeros(kernel_shape, dtype="float32")
        mask[: kernel_shape[0] // 2, ...] = 1.0
        mask[kernel_shape[0] // 2, : kernel_shape[1] // 2, ...] = 1.0
        if self.mask_type == "B":
            mask[kernel_shape[0] // 2, kernel_shape[1] // 2, ...] = 1.0
        self.mask = mask

    def call(self, inputs):
        self.conv.kernel.assign(self.conv.kernel * self.mask)
        return self.conv(inputs)


class ResidualBlock(keras.layers.Layer):
    """The keras.io PixelCNN's residual block: 1x1 ReLU, 3x3 mask-B ReLU (half the filters), 1x1 ReLU, add."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = keras.layers.Conv2D(filters=filters, kernel_size=1, activation="relu")
        self.pixel_conv = PixelConvLayer(mask_type="B", filters=filters // 2, kernel_size=3, activation="relu",
                                         padding="same")
        self.conv2 = keras.layers.Conv2D(filters=filters, kernel_size=1, activation="relu")

    def call(self, inputs):
        x = self.conv1(inputs)
        x = self.pixel_conv(x)
        x = self.conv2(x)
        return keras.layers.add([inputs, x])


def keras_io_pixelcnn(shape: tuple = (28, 28, 1), filters: int = 128, blocks: int = 5) -> keras.Model:
    """The keras.io PixelCNN: 7x7 mask-A layer, residual blocks, two 1x1 mask-B layers, sigmoid output.

    The example fixes the batch size in ``keras.Input(..., batch_size=128)``; here it is left
    free, so the same model also scores a test split in other batch sizes.

    Args:
        shape: ``(height, width, 1)`` binary images.
        filters: Feature maps (the example's 128).
        blocks: Residual blocks (the example's 5).

    Returns:
        An uncompiled functional ``keras.Model`` giving per-pixel probabilities (the example
        compiles it with ``Adam(5e-4)`` and ``"binary_crossentropy"``).

    Example:
        >>> model = keras_io_pixelcnn((28, 28, 1))
        >>> model.output_shape, model.count_params()
        ((None, 28, 28, 1), 532673)
    """
    inputs = keras.Input(shape=shape)
    x = PixelConvLayer(mask_type="A", filters=filters, kernel_size=7, activation="relu", padding="same")(inputs)
    for _ in range(blocks):
        x = ResidualBlock(filters=filters)(x)
    for _ in range(2):
        x = PixelConvLayer(mask_type="B", filters=filters, kernel_size=1, strides=1, activation="relu",
                           padding="valid")(x)
    outputs = keras.layers.Conv2D(filters=shape[-1], kernel_size=1, strides=1, activation="sigmoid", padding="valid")(x)
    return keras.Model(inputs, outputs, name="keras_io_pixelcnn")
