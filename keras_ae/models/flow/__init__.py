"""Normalizing flows: RealNVP (Dinh et al. 2017) with exact, dequantized likelihoods on 8-bit images.

* :mod:`~keras_ae.models.flow.model`: :class:`RealNVP` (the multi-scale bijection, exact
  log-densities, the training step) and the logit bijector;
* :mod:`~keras_ae.models.flow.likelihood`: the dequantization bound in nats and bits/dim;
* :mod:`~keras_ae.models.flow.sampling`: encode/decode of 8-bit images and sampling;
* :mod:`~keras_ae.models.flow.serving`: the export signatures;
* :mod:`~keras_ae.models.flow.networks`: the coupling ResNets;
* :mod:`~keras_ae.models.flow.builders`: :func:`build_realnvp` (``keras-ae train realnvp``).
"""

from keras_ae.models.flow.model import BINS, RealNVP, logit_bijector
from keras_ae.models.flow.builders import build_realnvp

__all__ = ["BINS", "RealNVP", "build_realnvp", "logit_bijector"]
