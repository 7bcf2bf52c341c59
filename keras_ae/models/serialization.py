"""The shared config code of keras_ae models whose configs hold serialized sub-models: :func:`from_nested_config`,
the :class:`NestedConfig` mixin, and :func:`frozen_copy` of a sub-model (the EMA networks)."""

from __future__ import annotations

from typing import Any, Sequence, TypeVar

import keras

ModelT = TypeVar("ModelT", bound=keras.Model)


def from_nested_config(cls: type[ModelT], config: dict, nested: Sequence[str],
                       custom_objects: dict[str, Any] | None = None) -> ModelT:
    """``cls(**config)`` after rebuilding the serialized Keras objects under the ``nested`` keys.

    The shared ``from_config`` of keras_ae models, whose configs hold sub-models (encoder,
    decoder, generator, ...) and layers; a key that is absent, ``None`` or not a serialized
    object (e.g. the VAE's ``"standard_normal"`` prior) is passed on as it is.

    Args:
        cls: The model class.
        config: Its ``get_config()`` output.
        nested: Keys holding serialized objects.
        custom_objects: Names and classes passed to ``keras.saving.deserialize_keras_object``, or ``None``.

    Returns:
        The model, an instance of ``cls``.

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


class NestedConfig:
    """Mixin (before ``keras.Model``) of the models made of functional sub-models built at construction.

    ``get_config`` is Keras's base config (name, trainable, dtype policy) plus the sub-models
    named in ``nested_config_keys`` (the attributes of those names), serialized; subclasses
    add their settings to it. ``from_config`` rebuilds the sub-models
    (:func:`from_nested_config`); ``build`` has nothing left to create.

    Example:
        >>> model = build_pixelcnn((8, 8, 1), filters=8, blocks=0)
        >>> model.nested_config_keys, model.get_config()["network"]["class_name"]
        (('network',), 'Functional')
    """

    nested_config_keys: tuple[str, ...] = ()

    def get_config(self) -> dict:
        config = super().get_config()  # name, trainable, dtype (policy)
        config.update({key: keras.saving.serialize_keras_object(getattr(self, key)) for key in self.nested_config_keys})
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return from_nested_config(cls, config, cls.nested_config_keys, custom_objects)

    def build(self, input_shape=None):
        self.built = True  # the sub-models are functional models, built at construction


def frozen_copy(model: keras.Model, name: str) -> keras.Model:
    """A non-trainable copy of ``model`` with its current weights: the EMA networks of the GAN and diffusion models.

    Args:
        model: A functional or subclassed Keras model (the latter is rebuilt from its config
            when ``keras.models.clone_model`` cannot copy it).
        name: The copy's name.

    Returns:
        The copy.

    Example:
        >>> encoder = build_dense_ae((8, 8, 1), hidden=(8,), code_dim=2).encoder
        >>> copy = frozen_copy(encoder, "encoder_copy")
        >>> copy.name, copy.trainable, len(copy.weights) == len(encoder.weights)
        ('encoder_copy', False, True)
    """
    try:
        clone = keras.models.clone_model(model)
    except Exception:  # subclassed models: rebuild from their config
        clone = model.__class__.from_config(model.get_config())
    clone.name = name
    clone.set_weights(model.get_weights())
    clone.trainable = False
    return clone
