"""The keras.io "Denoising Diffusion Implicit Models" example (``examples/generative/ddim.py``), for MNIST.

The example's network and training as written: a residual U-Net of widths 32-64-96-128 with
block depth 2 (BatchNorm without scale or centre, swish, average pooling, bilinear
upsampling), the noise variance fed through a 32-wide sinusoidal embedding, a continuous
offset-cosine schedule between signal rates 0.95 and 0.02, the mean absolute error of the
predicted noise, an exponential moving average of the weights (0.999) that the sampler
uses, ``AdamW(1e-3, weight_decay=1e-4)``, batch 64, and a ``Normalization`` layer adapted to
the training images. Departures, for 28x28x1 MNIST: one channel instead of three; the images
padded with black to 32x32 (the U-Net halves the size three times) and the samples cropped
back; the noise drawn for the batch's actual size (the example's datasets drop the
remainder); the moving-average copy starts from the trained network's initial weights (the
example's ``clone_model`` copy starts from its own random ones); and :meth:`KerasIODDIM.generate`
takes a seed (the same starting noise for every scoring).

``recipes/time_to_quality.py`` races it against ``build_diffusion``'s defaults; import it
with ``from keras_io_ddim import keras_io_ddim`` (``recipes/`` is on ``sys.path`` when a
recipe runs as a script).
"""

from __future__ import annotations

import math

import keras_ae  # noqa: F401  (first: it hides TensorFlow's C++ start-up lines, keras_ae.quiet)

import keras
import numpy as np
import tensorflow as tf

# The example's hyper-parameters.
MIN_SIGNAL_RATE, MAX_SIGNAL_RATE = 0.02, 0.95
EMBEDDING_DIMS, EMBEDDING_MAX_FREQUENCY = 32, 1000.0
WIDTHS, BLOCK_DEPTH = (32, 64, 96, 128), 2
BATCH_SIZE, EMA, LEARNING_RATE, WEIGHT_DECAY = 64, 0.999, 1e-3, 1e-4


@keras.saving.register_keras_serializable(package="keras_io_ddim")  # as the example: clone_model rebuilds it
def sinusoidal_embedding(x):
    """The example's embedding of the noise variance ``(batch, 1, 1, 1) -> (batch, 1, 1, 32)``."""
    frequencies = tf.exp(tf.linspace(tf.math.log(1.0), tf.math.log(EMBEDDING_MAX_FREQUENCY), EMBEDDING_DIMS // 2))
    angular_speeds = tf.cast(2.0 * math.pi * frequencies, "float32")
    return tf.concat([tf.sin(angular_speeds * x), tf.cos(angular_speeds * x)], axis=3)


def residual_block(x, width: int):
    """BatchNorm (no centre, no scale), 3x3 swish conv, 3x3 conv, plus the input (1x1 conv if widths differ)."""
    residual = x if x.shape[3] == width else keras.layers.Conv2D(width, kernel_size=1)(x)
    x = keras.layers.BatchNormalization(center=False, scale=False)(x)
    x = keras.layers.Conv2D(width, kernel_size=3, padding="same", activation="swish")(x)
    x = keras.layers.Conv2D(width, kernel_size=3, padding="same")(x)
    return keras.layers.Add()([x, residual])


def residual_unet(image_size: int = 32, channels: int = 1, widths=WIDTHS, block_depth: int = BLOCK_DEPTH):
    """The example's ``get_network``: ``[noisy images, noise variances (batch, 1, 1, 1)] -> predicted noise``.

    Example:
        >>> residual_unet(32, 1).output_shape
        (None, 32, 32, 1)
    """
    noisy_images = keras.Input(shape=(image_size, image_size, channels))
    noise_variances = keras.Input(shape=(1, 1, 1))
    e = keras.layers.Lambda(sinusoidal_embedding, output_shape=(1, 1, EMBEDDING_DIMS))(noise_variances)
    e = keras.layers.UpSampling2D(size=image_size, interpolation="nearest")(e)
    x = keras.layers.Concatenate()([keras.layers.Conv2D(widths[0], kernel_size=1)(noisy_images), e])
    skips = []
    for width in widths[:-1]:
        for _ in range(block_depth):
            x = residual_block(x, width)
            skips.append(x)
        x = keras.layers.AveragePooling2D(pool_size=2)(x)
    for _ in range(block_depth):
        x = residual_block(x, widths[-1])
    for width in reversed(widths[:-1]):
        x = keras.layers.UpSampling2D(size=2, interpolation="bilinear")(x)
        for _ in range(block_depth):
            x = keras.layers.Concatenate()([x, skips.pop()])
            x = residual_block(x, width)
    x = keras.layers.Conv2D(channels, kernel_size=1, kernel_initializer="zeros")(x)
    return keras.Model([noisy_images, noise_variances], x, name="residual_unet")


def diffusion_schedule(diffusion_times):
    """The example's offset cosine schedule: ``(noise_rates, signal_rates)`` of times in [0, 1]."""
    start_angle = tf.cast(tf.acos(MAX_SIGNAL_RATE), "float32")
    end_angle = tf.cast(tf.acos(MIN_SIGNAL_RATE), "float32")
    angles = start_angle + diffusion_times * (end_angle - start_angle)
    return tf.sin(angles), tf.cos(angles)


class KerasIODDIM(keras.Model):
    """The example's ``DiffusionModel``: trains ``network``, samples with its moving average ``ema_network``.

    Takes and gives 28x28 images in [0, 1]; inside, images are padded to ``image_size``.
    """

    def __init__(self, image_shape=(28, 28, 1), image_size: int = 32, **kwargs):
        if image_size % 8 or image_size < max(image_shape[:2]):
            raise ValueError(f"image_size must be a multiple of 8 holding the {image_shape[:2]} images, "
                             f"got {image_size}.")
        super().__init__(**kwargs)
        self.image_shape, self.image_size = tuple(image_shape), image_size
        self.pad = ((image_size - self.image_shape[0]) // 2, (image_size - self.image_shape[1]) // 2)
        self.normalizer = keras.layers.Normalization()
        self.network = residual_unet(image_size, self.image_shape[-1])
        self.ema_network = keras.models.clone_model(self.network)
        self.noise_loss_tracker = keras.metrics.Mean(name="n_loss")
        self.image_loss_tracker = keras.metrics.Mean(name="i_loss")

    @property
    def metrics(self):
        return [self.noise_loss_tracker, self.image_loss_tracker]

    def padded(self, images):
        """Images ``(n, 28, 28, c)`` padded with black to ``(n, image_size, image_size, c)``."""
        (top, left), (h, w) = self.pad, self.image_shape[:2]
        return tf.pad(images, [[0, 0], [top, self.image_size - h - top], [left, self.image_size - w - left], [0, 0]])

    def adapt(self, x_train: np.ndarray) -> None:
        """The example's ``normalizer.adapt`` on the (padded) training images, and the EMA copy's start."""
        self.normalizer.adapt(self.padded(x_train))
        self.ema_network.set_weights(self.network.get_weights())

    def denoise(self, noisy_images, noise_rates, signal_rates, training):
        network = self.network if training else self.ema_network
        pred_noises = network([noisy_images, noise_rates ** 2], training=training)
        return pred_noises, (noisy_images - noise_rates * pred_noises) / signal_rates

    def train_step(self, images):
        images = self.normalizer(self.padded(images), training=True)
        batch = tf.shape(images)[0]
        noises = keras.random.normal(shape=tf.shape(images))
        diffusion_times = keras.random.uniform(minval=0.0, maxval=1.0, shape=(batch, 1, 1, 1))
        noise_rates, signal_rates = diffusion_schedule(diffusion_times)
        noisy_images = signal_rates * images + noise_rates * noises
        with tf.GradientTape() as tape:
            pred_noises, pred_images = self.denoise(noisy_images, noise_rates, signal_rates, training=True)
            noise_loss = tf.reduce_mean(keras.losses.mean_absolute_error(noises, pred_noises))
            image_loss = tf.reduce_mean(keras.losses.mean_absolute_error(images, pred_images))
        gradients = tape.gradient(noise_loss, self.network.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.network.trainable_weights))
        self.noise_loss_tracker.update_state(noise_loss)
        self.image_loss_tracker.update_state(image_loss)
        for weight, ema_weight in zip(self.network.weights, self.ema_network.weights):
            ema_weight.assign(EMA * ema_weight + (1 - EMA) * weight)
        return {m.name: m.result() for m in self.metrics}

    @tf.function(reduce_retracing=True)
    def _reverse_diffusion(self, initial_noise, diffusion_steps: int):
        n = tf.shape(initial_noise)[0]
        step_size = 1.0 / diffusion_steps
        next_noisy_images = initial_noise
        pred_images = initial_noise
        for step in tf.range(diffusion_steps):  # a graph loop (autograph): one copy of the network
            noisy_images = next_noisy_images
            diffusion_times = tf.ones((n, 1, 1, 1)) - tf.cast(step, tf.float32) * step_size
            noise_rates, signal_rates = diffusion_schedule(diffusion_times)
            pred_noises, pred_images = self.denoise(noisy_images, noise_rates, signal_rates, training=False)
            next_noise_rates, next_signal_rates = diffusion_schedule(diffusion_times - step_size)
            next_noisy_images = next_signal_rates * pred_images + next_noise_rates * pred_noises
        images = self.normalizer.mean + pred_images * self.normalizer.variance ** 0.5
        return tf.clip_by_value(images, 0.0, 1.0)

    def generate(self, num_images: int, diffusion_steps: int = 20, seed: int = 0, batch_size: int = 500) -> np.ndarray:
        """The example's deterministic DDIM sampler; ``(num_images, 28, 28, c)`` in [0, 1], cropped back.

        The starting noise is ``tf.random.stateless_normal`` with ``seed``: the same images for
        the same weights and seed.
        """
        (top, left), (h, w) = self.pad, self.image_shape[:2]
        shape = (num_images, self.image_size, self.image_size, self.image_shape[-1])
        noise = tf.random.stateless_normal(shape, seed=[seed, 0])
        parts = [self._reverse_diffusion(noise[i:i + batch_size], diffusion_steps).numpy()
                 for i in range(0, num_images, batch_size)]
        images = np.concatenate(parts) if parts else np.zeros((0, *shape[1:]), np.float32)
        return images[:, top:top + h, left:left + w]


def keras_io_ddim(x_train: np.ndarray, image_size: int | None = None) -> KerasIODDIM:
    """A :class:`KerasIODDIM` for ``x_train``'s images, its normalizer adapted, compiled the example's way.

    Args:
        x_train: Training images ``(n, h, w, c)`` in [0, 1], ``h, w <= image_size``.
        image_size: Side of the padded square the U-Net sees, a multiple of 8 (three halvings);
            default the smallest that holds the images (32 for MNIST's 28x28).

    Returns:
        The model, compiled with ``AdamW(1e-3, weight_decay=1e-4)``; ``fit(x_train, batch_size=64)``.

    Example:
        >>> model = keras_io_ddim(np.zeros((8, 28, 28, 1), np.float32))
        >>> model.network.count_params()
        1953377
    """
    if image_size is None:
        image_size = 8 * math.ceil(max(x_train.shape[1:3]) / 8)
    model = KerasIODDIM(x_train.shape[1:], image_size)
    model.adapt(x_train)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY))
    return model
