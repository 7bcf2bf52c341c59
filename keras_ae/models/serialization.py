"""The shared ``from_config`` of keras_ae models (configs that hold serialized sub-models)."""

from __future__ import annotations

from typing import Sequence

import keras


def from_nested_config(cls: type, config: dict, nested: Sequence[str], custom_objects=None):
    """``cls(**config)`` after rebuilding the serialized Keras objects under the ``nested`` keys.

    The shared ``from_config`` of keras_ae models, whose configs hold sub-models (encoder,
    decoder, generator, ...) and layers; a key that is absent, ``None`` or not a serialized
    object (e.g. the VAE's ``"standard_normal"`` prior) is passed on as it is.

    Args:
        cls: The model class.
        config: Its ``get_config()`` output.
        nested: Keys holding serialized objects.
        custom_objects: Passed to ``keras.saving.deserialize_keras_object``.

    Returns:
        The model.

    Example:
        >>> model = build_dense_ae((64,), hidden=(8,), code_dim=2)
        >>> type(from_nested_config(type(model), model.get_config(), ("encoder", "decoder"))).__name__
        'AutoEncoder'
    """
    config = dict(config)
    for key in nested:
        if isinstance(config.get(key), dict):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
    return cls(**config)
