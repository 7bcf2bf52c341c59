"""Evaluation: reconstruction error, PSNR, likelihoods and sample quality for any generator."""

from keras_ae.evaluation.feature_extractors import dataset_classifier, inception_extractor
from keras_ae.evaluation.reconstruction import psnr, reconstruction_error, squared_error_per_example, timestep_errors
from keras_ae.evaluation.sample_quality import (SampleQuality, classifier_score, evaluate_samples, frechet_distance,
                                                kernel_distance, mode_coverage)

__all__ = [
    "SampleQuality", "classifier_score", "dataset_classifier", "evaluate_samples", "frechet_distance",
    "inception_extractor", "kernel_distance", "mode_coverage", "psnr", "reconstruction_error",
    "squared_error_per_example", "timestep_errors",
]
