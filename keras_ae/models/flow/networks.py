"""The coupling networks of RealNVP: small convolutional ResNets (Dinh et al. 2017, Sec. 4.1)."""

from __future__ import annotations

import keras


def get_coupling_network(input_shape: tuple[int, int, int], out_channels: int, filters: int = 64, blocks: int = 2,
                         name: str = "coupling_net") -> keras.Model:
    """A ResNet from a coupling layer's conditioning input to log-scales and shifts.

    3x3 convolution to ``filters`` maps, ``blocks`` residual blocks (ReLU, 3x3 conv,
    ReLU, 3x3 conv, added to the input), ReLU and a 3x3 convolution to
    ``2 * out_channels`` outputs. The last convolution starts at zero, so a new coupling
    layer is the identity (log-scale 0, shift 0): a deep flow starts as the logit
    transform alone and training stays stable (as Glow does). No batch statistics, so a
    step under ``tf.distribute`` equals one on one device.

    Args:
        input_shape: ``(height, width, channels)`` of the conditioning input.
        out_channels: Channels the coupling transforms (the network outputs twice as many).
        filters: Feature maps of the hidden convolutions.
        blocks: Residual blocks.
        name: Model name.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> net = get_coupling_network((8, 8, 2), out_channels=1, filters=8, blocks=1)
        >>> net.output_shape, float(np.abs(net(np.ones((1, 8, 8, 2), "float32"))).max())  # zero at the start
        ((None, 8, 8, 2), 0.0)
    """
    inputs = keras.Input(input_shape, name="condition")
    h = keras.layers.Conv2D(filters, 3, padding="same", name="conv_in")(inputs)
    for b in range(1, blocks + 1):
        y = keras.layers.Activation("relu")(h)
        y = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block_{b}_conv_1")(y)
        y = keras.layers.Conv2D(filters, 3, padding="same", name=f"block_{b}_conv_2")(y)
        h = keras.layers.Add(name=f"block_{b}_residual")([h, y])
    h = keras.layers.Activation("relu")(h)
    outputs = keras.layers.Conv2D(2 * out_channels, 3, padding="same", kernel_initializer="zeros",
                                  name="log_scale_shift")(h)
    return keras.Model(inputs, outputs, name=name)


def coupling_network_parameter_count(in_channels: int, out_channels: int, filters: int, blocks: int) -> int:
    """Weights of :func:`get_coupling_network` (3x3 convolutions with biases).

    Args:
        in_channels: Channels of the conditioning input.
        out_channels: Channels the coupling transforms.
        filters: Feature maps of the hidden convolutions.
        blocks: Residual blocks.

    Returns:
        The number of parameters, what ``count_params()`` of the built network gives.

    Example:
        >>> net = get_coupling_network((8, 8, 2), out_channels=1, filters=8, blocks=1)
        >>> coupling_network_parameter_count(2, 1, 8, 1) == net.count_params()
        True
    """
    conv_in = 9 * in_channels * filters + filters
    residual = blocks * 2 * (9 * filters * filters + filters)
    return conv_in + residual + 9 * filters * 2 * out_channels + 2 * out_channels


def coupling_network_layer_count(blocks: int) -> int:
    """Keras layers of :func:`get_coupling_network` and its coupling layer: input, 3 + 4 per block, output, coupling.

    Args:
        blocks: Residual blocks of the network.

    Returns:
        ``4 * blocks + 5``.

    Example:
        >>> net = get_coupling_network((8, 8, 2), out_channels=1, filters=8, blocks=2)
        >>> coupling_network_layer_count(2) == len(net.layers) + 1  # + the coupling layer
        True
    """
    return 4 * blocks + 5


__all__ = ["coupling_network_layer_count", "coupling_network_parameter_count", "get_coupling_network"]
