"""Keras callbacks for keras_ae models, one per module (as in ``keras/src/callbacks/``).

NaN safety (:class:`~keras_ae.training.nan_guard.NaNGuard`), which every keras_ae ``fit``
runs, lives in :mod:`keras_ae.training.nan_guard`; resumable checkpoints in
:mod:`keras_ae.training.checkpoints`.
"""

from keras_ae.training.callbacks.gan_monitor import GANMonitor

__all__ = ["GANMonitor"]
