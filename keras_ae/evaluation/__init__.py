"""Evaluation: reconstruction error, PSNR (and, per model family, likelihoods and sample quality)."""

from keras_ae.evaluation.reconstruction import psnr, reconstruction_error, squared_error_per_example

__all__ = ["psnr", "reconstruction_error", "squared_error_per_example"]
