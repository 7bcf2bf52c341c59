"""Evaluation: reconstruction error, PSNR, likelihoods and sample quality for any generator; a VAE's
posterior-collapse diagnostics; disentanglement metrics (MIG, SAP, DCI, FactorVAE and beta-VAE scores)."""

from keras_ae.evaluation.disentanglement import (FactorData, FactorGrid, beta_vae_score, dci, factor_vae_score, mig,
                                                 mutual_information_matrix, sap)
from keras_ae.evaluation.feature_extractors import dataset_classifier, inception_extractor
from keras_ae.evaluation.posterior_collapse import (PosteriorCollapseSummaries, active_units, collapse_report,
                                                    kl_per_dimension, mutual_information)
from keras_ae.evaluation.reconstruction import psnr, reconstruction_error, squared_error_per_example, timestep_errors
from keras_ae.evaluation.sample_quality import (SampleQuality, classifier_score, evaluate_samples, frechet_distance,
                                                kernel_distance, mode_coverage)

__all__ = [
    "PosteriorCollapseSummaries", "SampleQuality", "active_units", "classifier_score", "collapse_report",
    "dataset_classifier", "evaluate_samples", "frechet_distance", "inception_extractor", "kernel_distance",
    "kl_per_dimension", "mode_coverage", "mutual_information", "psnr", "reconstruction_error",
    "squared_error_per_example", "timestep_errors",
    # disentanglement
    "FactorData", "FactorGrid", "beta_vae_score", "dci", "factor_vae_score", "mig", "mutual_information_matrix", "sap",
]
