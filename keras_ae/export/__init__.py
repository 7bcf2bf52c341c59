"""Export keras_ae models as self-contained TensorFlow SavedModels for serving.

``export(model, "mnist_denoiser")`` writes ``saved_models/mnist_denoiser/<version>/``,
the layout TensorFlow Serving polls. Each model family contributes named signatures
(its ``serving_endpoints`` method, beside the model class) with named inputs and outputs
and a free batch dimension; the auto-encoder family exports::

    serving_default = reconstruct   images -> reconstruction
    encode                          images -> code
    decode                          code   -> images
    denoise                         images -> denoised        (denoisers only)
    reconstruct_uint8, encode_uint8, denoise_uint8             (uint8 [0, 255] images)

Modules: :mod:`~keras_ae.export.endpoints` (checked signatures),
:mod:`~keras_ae.export.versions` (folders, versions, atomic publishing),
:mod:`~keras_ae.export.exporter` (``export()`` and the metadata asset),
:mod:`~keras_ae.export.tflite` (``format="tflite"``, run with LiteRT: :func:`run_tflite`, :func:`tflite_parity`).

The package is also the function: ``keras_ae.export(model, name)`` calls
:func:`~keras_ae.export.exporter.export`, while ``import keras_ae.export as m`` gives this
module (its class is :class:`CallableModule`).

Example:
    >>> import keras_ae.export as m
    >>> m is keras_ae.export, m.export is m.exporter.export, callable(m)
    (True, True, True)
"""

import importlib
import inspect
import sys
import types
from pathlib import Path
from typing import Any

from keras_ae.export.endpoints import (
    MAX_SAMPLE_COUNT, Endpoint, ExportOptions, data_name, describe_data, describe_endpoint, image_endpoints,
    make_endpoint, sample_endpoint, tensor_spec, to_uint8, uint8_endpoint,
)
from keras_ae.export import exporter
from keras_ae.export.exporter import (
    METADATA_FILE, ExportError, export, export_metadata, family_for, is_trained, read_metadata,
)
from keras_ae.export.versions import (
    DEFAULT_BASE_DIR, ExportExistsError, check_export_name, existing_versions, model_directory,
    remove_stale_temporaries,
)
from keras_ae.export.tflite import QUANTIZATIONS, TFLITE_FAMILIES, TFLITE_FILE, run_tflite, tflite_parity

__all__ = [
    "DEFAULT_BASE_DIR", "MAX_SAMPLE_COUNT", "METADATA_FILE", "QUANTIZATIONS", "TFLITE_FAMILIES", "TFLITE_FILE",
    "Endpoint", "ExportError", "ExportExistsError", "ExportOptions", "check_export_name", "data_name",
    "describe_data", "describe_endpoint", "existing_versions", "export", "export_metadata", "family_for",
    "image_endpoints", "is_trained", "make_endpoint", "model_directory", "read_metadata", "remove_stale_temporaries",
    "run_tflite", "sample_endpoint", "tensor_spec", "tflite_parity", "to_uint8", "uint8_endpoint",
]


class CallableModule(types.ModuleType):
    """The class of the ``keras_ae.export`` module: calling the module calls :func:`export`.

    ``keras_ae.export`` is both the package (``import keras_ae.export as m``,
    ``from keras_ae.export import read_metadata``) and the documented call
    ``keras_ae.export(model, "name")``: one object, so neither name hides the other.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        """``keras_ae.export(model, name, ...)``: :func:`~keras_ae.export.exporter.export`, same arguments.

        Returns:
            The version folder, e.g. ``saved_models/mnist_denoiser/1``.
        """
        return exporter.export(*args, **kwargs)

    def __reduce__(self):
        # Modules do not pickle; this one pickles as a reference, found again by import.
        return importlib.import_module, (self.__name__,)


# inspect.signature(keras_ae.export) and help() show export()'s arguments.
__signature__ = inspect.signature(export)
sys.modules[__name__].__class__ = CallableModule
