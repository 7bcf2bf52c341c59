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
| :func:`keras_io_vqvae`, :func:`keras_io_vqvae_prior` | "Vector-Quantized VAEs" (``examples/generative/vq_vae.py``) |
| ``keras_io_ddim.keras_io_ddim`` | "Denoising Diffusion Implicit Models" (``examples/generative/ddim.py``) |
"""

from __future__ import annotations

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np
import tensorflow as tf

from keras_ae.models.gan import build_dcgan
from keras_ae.models.pixelcnn import build_pixelcnn

import keras_io_ddim as ddim  # the sibling recipe module (recipes/ is on sys.path)


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
    "diffusion": {"source": "keras.io/examples/generative/ddim", "optimizer": "adamw",
                  "learning_rate": ddim.LEARNING_RATE, "weight_decay": ddim.WEIGHT_DECAY, "batch_size": ddim.BATCH_SIZE,
                  "widths": list(ddim.WIDTHS), "block_depth": ddim.BLOCK_DEPTH, "ema": ddim.EMA,
                  "signal_rates": [ddim.MIN_SIGNAL_RATE, ddim.MAX_SIGNAL_RATE],
                  "loss": "mean absolute error of the noise",
                  "note": "recipes/keras_io_ddim.py: one channel, images padded to 32x32 and samples cropped back"},
    "vqvae": {"source": "keras.io/examples/generative/vq_vae", "optimizer": "adam", "learning_rate": 1e-3,
              "batch_size": 128, "latent_dim": 16, "num_embeddings": 128, "beta": 0.25,
              "loss": "mean squared error / data variance + VQ losses, images shifted to [-0.5, 0.5]",
              "prior": {"optimizer": "adam", "learning_rate": 3e-4, "batch_size": 128, "filters": 128,
                        "residual_blocks": 2, "pixelcnn_layers": 2},
              "note": "codebook as a Keras weight (keras.io: a tf.Variable); the prior without the example's "
                      "validation_split=0.1 (keras_ae's prior trains on every map too)"},
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


class KerasIOVectorQuantizer(keras.layers.Layer):
    """The keras.io VQ-VAE's ``VectorQuantizer``: nearest code, codebook + commitment loss, straight-through.

    The example keeps the codebook in a ``tf.Variable`` of shape ``(embedding_dim,
    num_embeddings)`` drawn from ``tf.random_uniform_initializer()`` (uniform in [-0.05, 0.05]);
    here it is a Keras weight with the same shape and initializer, so Keras 3 tracks and trains it.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, beta: float = 0.25, **kwargs):
        super().__init__(**kwargs)
        self.num_embeddings, self.embedding_dim, self.beta = num_embeddings, embedding_dim, beta
        self.embeddings = self.add_weight(shape=(embedding_dim, num_embeddings), name="embeddings_vqvae",
                                          initializer=keras.initializers.RandomUniform(-0.05, 0.05))

    def call(self, x):
        flattened = tf.reshape(x, [-1, self.embedding_dim])
        encodings = tf.one_hot(self.get_code_indices(flattened), self.num_embeddings)
        quantized = tf.reshape(tf.matmul(encodings, self.embeddings, transpose_b=True), tf.shape(x))
        commitment_loss = tf.reduce_mean((tf.stop_gradient(quantized) - x) ** 2)
        codebook_loss = tf.reduce_mean((quantized - tf.stop_gradient(x)) ** 2)
        self.add_loss(self.beta * commitment_loss + codebook_loss)
        return x + tf.stop_gradient(quantized - x)  # straight-through estimator

    def get_code_indices(self, flattened):
        similarity = tf.matmul(flattened, self.embeddings)
        distances = (tf.reduce_sum(flattened ** 2, axis=1, keepdims=True) + tf.reduce_sum(self.embeddings ** 2, axis=0)
                     - 2 * similarity)
        return tf.argmin(distances, axis=1)


class KerasIOVQVAETrainer(keras.Model):
    """The keras.io VQ-VAE's ``VQVAETrainer``: MSE over the data variance plus the quantizer's losses.

    Trains on images shifted to [-0.5, 0.5], as the example does; :meth:`reconstruct` takes
    and returns images in [0, 1].
    """

    def __init__(self, vqvae: keras.Model, train_variance: float, **kwargs):
        super().__init__(**kwargs)
        self.vqvae, self.train_variance = vqvae, float(train_variance)
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.vq_loss_tracker = keras.metrics.Mean(name="vq_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.vq_loss_tracker]

    def call(self, x):
        return self.vqvae(x)

    def train_step(self, x):
        with tf.GradientTape() as tape:
            reconstructions = self.vqvae(x)
            reconstruction_loss = tf.reduce_mean((x - reconstructions) ** 2) / self.train_variance
            vq_loss = sum(self.vqvae.losses)
            total_loss = reconstruction_loss + vq_loss
        grads = tape.gradient(total_loss, self.vqvae.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.vqvae.trainable_variables))
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.vq_loss_tracker.update_state(vq_loss)
        return {"loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "vqvae_loss": self.vq_loss_tracker.result()}

    def reconstruct(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Reconstructions in [0, 1] (the decoder's output + 0.5) of images ``x`` in [0, 1]."""
        parts = [self.vqvae(x[i:i + batch_size] - 0.5, training=False) for i in range(0, len(x), batch_size)]
        return np.concatenate([np.asarray(p) for p in parts]) + 0.5

    def code_indices(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """The code maps ``(n, h', w')`` of images ``x`` in [0, 1], as the example's prior section computes them."""
        encoder, quantizer = self.vqvae.get_layer("encoder"), self.vqvae.get_layer("vector_quantizer")
        maps = []
        for i in range(0, len(x), batch_size):
            z = encoder(x[i:i + batch_size] - 0.5, training=False)
            indices = quantizer.get_code_indices(tf.reshape(z, [-1, z.shape[-1]]))
            maps.append(tf.reshape(indices, tf.shape(z)[:-1]).numpy())
        return np.concatenate(maps)


def keras_io_vqvae(shape: tuple = (28, 28, 1), latent_dim: int = 16, num_embeddings: int = 128,
                   train_variance: float = 1.0) -> KerasIOVQVAETrainer:
    """The keras.io VQ-VAE (``examples/generative/vq_vae.py``) as its ``VQVAETrainer`` builds it.

    Encoder: Conv2D 32 and 64 3x3 stride 2 ReLU, then a 1x1 Conv2D to ``latent_dim``; 128 codes of
    dimension 16 (the example's ``VQVAETrainer(data_variance, latent_dim=16, num_embeddings=128)``);
    decoder: Conv2DTranspose 64 and 32 3x3 stride 2 ReLU, then a linear 3x3 Conv2DTranspose.

    Args:
        shape: ``(height, width, channels)``; height and width multiples of 4.
        latent_dim: Code vector dimension.
        num_embeddings: Codebook size.
        train_variance: Variance of the training images in [0, 1] (the example's ``np.var(x_train / 255.0)``).

    Returns:
        An uncompiled :class:`KerasIOVQVAETrainer` (the example compiles it with ``Adam()``, batch 128).

    Example:
        >>> trainer = keras_io_vqvae((28, 28, 1))
        >>> trainer.vqvae.output_shape, trainer.vqvae.count_params()
        ((None, 28, 28, 1), 49937)
    """
    encoder_inputs = keras.Input(shape=shape)
    x = keras.layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = keras.layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    encoder = keras.Model(encoder_inputs, keras.layers.Conv2D(latent_dim, 1, padding="same")(x), name="encoder")
    latent_inputs = keras.Input(shape=encoder.output.shape[1:])
    x = keras.layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(latent_inputs)
    x = keras.layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder = keras.Model(latent_inputs, keras.layers.Conv2DTranspose(shape[-1], 3, padding="same")(x), name="decoder")
    inputs = keras.Input(shape=shape)
    quantized = KerasIOVectorQuantizer(num_embeddings, latent_dim, name="vector_quantizer")(encoder(inputs))
    vqvae = keras.Model(inputs, decoder(quantized), name="vq_vae")
    return KerasIOVQVAETrainer(vqvae, train_variance)


def keras_io_vqvae_prior(map_shape: tuple = (7, 7), num_embeddings: int = 128, filters: int = 128,
                         residual_blocks: int = 2, pixelcnn_layers: int = 2) -> keras.Model:
    """The keras.io VQ-VAE's PixelCNN prior over code maps: one-hot codes in, per-position code logits out.

    A 7x7 mask-A layer, ``residual_blocks`` of :class:`ResidualBlock`, ``pixelcnn_layers``
    1x1 mask-B layers and a 1x1 convolution to ``num_embeddings`` logits.

    Args:
        map_shape: ``(h', w')`` of the code maps.
        num_embeddings: Codebook size.
        filters: Feature maps (the example's 128).
        residual_blocks: The example's ``num_residual_blocks = 2``.
        pixelcnn_layers: The example's ``num_pixelcnn_layers = 2``.

    Returns:
        An uncompiled functional ``keras.Model`` ``int32 (batch, h', w') -> logits (batch, h', w',
        num_embeddings)`` (the example compiles it with ``Adam(3e-4)`` and
        ``SparseCategoricalCrossentropy(from_logits=True)``, batch 128).

    Example:
        >>> keras_io_vqvae_prior((7, 7), 128).output_shape
        (None, 7, 7, 128)
    """
    inputs = keras.Input(shape=map_shape, dtype="int32")
    one_hot = keras.ops.one_hot(inputs, num_embeddings)
    x = PixelConvLayer(mask_type="A", filters=filters, kernel_size=7, activation="relu", padding="same")(one_hot)
    for _ in range(residual_blocks):
        x = ResidualBlock(filters=filters)(x)
    for _ in range(pixelcnn_layers):
        x = PixelConvLayer(mask_type="B", filters=filters, kernel_size=1, strides=1, activation="relu",
                           padding="valid")(x)
    outputs = keras.layers.Conv2D(filters=num_embeddings, kernel_size=1, strides=1, padding="valid")(x)
    return keras.Model(inputs, outputs, name="pixel_cnn")
