"""What every keras_ae family's training shares; imports no model module.

| module | holds |
| --- | --- |
| ``trainer`` | :class:`Trainer`: the one ``fit`` / ``evaluate`` / ``compile`` of every family |
| ``data_checks`` | ``tf.data`` input checks (:class:`DataSpec`) |
| ``batches`` | arrays or datasets, checked batch by batch, for encode / likelihoods / metrics |
| ``pipeline`` | the prefetched ``tf.data`` pipeline ``fit`` builds for NumPy arrays |
| ``defaults`` | steps per execution, the XLA policy, the default optimizer and learning rate, with their measurements |
| ``ema`` | :func:`ema_weights`: an optimizer's weight averages swapped into the model for a while |
| ``nan_guard`` | :class:`NaNGuard`: stop on NaN/inf, restore the last finite state |
| ``distribute`` | what ``fit`` needs on several hosts (``MultiWorkerMirroredStrategy``) |
| ``checkpoints`` | resumable training (backups, best/last ``.keras`` checkpoints) |
| ``callbacks`` | Keras callbacks, one per module (``KSchedule``, TensorBoard images and projector) |
"""

from keras_ae.training.data_checks import DataSpec, check_dataset
from keras_ae.training.ema import ema_weights
from keras_ae.training.nan_guard import NaNGuard
from keras_ae.training.trainer import Trainer

__all__ = ["DataSpec", "NaNGuard", "Trainer", "check_dataset", "ema_weights"]
