"""Keras callbacks for keras_ae models, one per module (as in ``keras/src/callbacks/``).

| module | callback |
| --- | --- |
| ``image_summaries`` | :class:`ImageSummaries`: TensorBoard images (reconstructions, samples) |
| ``embedding_projector`` | :class:`EmbeddingProjector`: test codes in TensorBoard's projector |
| ``tensorboard`` | :func:`tensorboard_callbacks`: Keras' ``TensorBoard`` plus the two above |
| ``contained`` | :class:`ContainedCallback`: keeps a callback's failure instead of ending ``fit`` |
| ``k_schedule`` | :class:`KSchedule`: anneals a k-sparse code's k (Makhzani & Frey) |
| ``periodic`` | :class:`PeriodicCallback`, :class:`PeriodicSummaries`: the base of the every-N-epochs callbacks |

NaN safety (:class:`~keras_ae.training.nan_guard.NaNGuard`), which every keras_ae ``fit``
runs, lives in :mod:`keras_ae.training.nan_guard`; resumable checkpoints in
:mod:`keras_ae.training.checkpoints`; the GAN's sample grids (:class:`~keras_ae.models.gan.GANMonitor`)
in :mod:`keras_ae.models.gan.monitor`.
"""

from keras_ae.training.callbacks.contained import ContainedCallback, contained, failures
from keras_ae.training.callbacks.embedding_projector import EmbeddingProjector, write_projector
from keras_ae.training.callbacks.image_summaries import ImageSummaries, model_images
from keras_ae.training.callbacks.k_schedule import KSchedule, scheduled_k
from keras_ae.training.callbacks.periodic import PeriodicCallback, PeriodicSummaries
from keras_ae.training.callbacks.tensorboard import tensorboard_callbacks

__all__ = ["ContainedCallback", "EmbeddingProjector", "ImageSummaries", "KSchedule", "PeriodicCallback",
           "PeriodicSummaries", "contained", "failures", "model_images", "scheduled_k", "tensorboard_callbacks",
           "write_projector"]
