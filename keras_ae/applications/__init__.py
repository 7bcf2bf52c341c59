"""What auto-encoders are for: one module per application.

- :mod:`~keras_ae.applications.reduction`: ``AutoEncoderTransformer``, a scikit-learn
  transformer (``Pipeline``, ``GridSearchCV`` over the code size).
- :mod:`~keras_ae.applications.visualization`: 2-D codes of PCA, an auto-encoder and a
  VAE side by side, with trustworthiness.
- :mod:`~keras_ae.applications.denoising_photos`: a patch denoising auto-encoder for
  real photos, learned filters, whole-photo denoising with PSNR.
- :mod:`~keras_ae.applications.pretraining`: unsupervised pretraining, fine-tuning with
  few labels, linear probes.
- :mod:`~keras_ae.applications.hashing`: semantic hashing, ``HammingIndex`` search and
  retrieval metrics, LSH and PCA baselines.
- :mod:`~keras_ae.applications.detectors`: ``AnomalyDetector``, a calibrated anomaly detector
  (scikit-learn / PyOD API) that saves as ``.keras`` and exports as one SavedModel.
- :mod:`~keras_ae.applications.anomaly`: reconstruction-error anomaly detection and the
  leave-one-class-out benchmark.

Example:
    >>> from keras_ae.applications import AutoEncoderTransformer, HammingIndex
"""

from keras_ae.applications.anomaly import (
    ReconstructionAnomalyDetector,
    isolation_forest_detector,
    leave_one_class_out,
    negative_elbo_score,
    pca_detector,
)
from keras_ae.applications.detectors import AnomalyDetector
from keras_ae.applications.clustering import DEC, ClusteringLayer, clustering_accuracy, clustering_scores
from keras_ae.applications.denoising_photos import (
    build_patch_ae,
    denoise_image,
    extract_patches,
    load_photos,
    reassemble_patches,
)
from keras_ae.applications.hashing import (
    HammingIndex,
    PCASignHasher,
    RandomProjectionHasher,
    pack_bits,
    retrieval_metrics,
    unpack_bits,
)
from keras_ae.applications.pretraining import (
    COMPARISON_KINDS,
    build_classifier,
    build_pretraining_ae,
    compare_pretraining,
    greedy_layerwise_pretrain,
    labelled_split,
    labelled_subset,
    layerwise_daes,
    linear_probe_error,
    select_by_validation,
    stack_encoders,
)
from keras_ae.applications.reduction import AutoEncoderTransformer
from keras_ae.applications.visualization import compare_embeddings, fit_embedding, trustworthiness_scores

__all__ = [
    "AnomalyDetector", "AutoEncoderTransformer", "HammingIndex", "PCASignHasher", "RandomProjectionHasher",
    "ReconstructionAnomalyDetector", "build_classifier", "build_patch_ae", "build_pretraining_ae", "compare_embeddings",
    "compare_pretraining", "denoise_image",
    "extract_patches", "fit_embedding", "labelled_split", "labelled_subset", "linear_probe_error", "load_photos",
    "pack_bits", "reassemble_patches", "retrieval_metrics", "select_by_validation", "trustworthiness_scores",
    "unpack_bits",
    "DEC", "ClusteringLayer", "clustering_accuracy", "clustering_scores", "isolation_forest_detector",
    "leave_one_class_out", "negative_elbo_score", "pca_detector",
    "COMPARISON_KINDS", "greedy_layerwise_pretrain", "layerwise_daes", "stack_encoders",
]
