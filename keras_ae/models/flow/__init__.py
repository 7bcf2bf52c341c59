"""Normalizing flows: RealNVP (Dinh et al. 2017) with exact, dequantized likelihoods on 8-bit images.

* :mod:`~keras_ae.models.flow.model`: :class:`RealNVP` (the multi-scale bijection, exact
  log-densities, the dequantization bound in nats and bits/dim, sampling, encode/decode,
  training step, export signatures) and the logit bijector;
* :mod:`~keras_ae.models.flow.networks`: the coupling ResNets;
* :mod:`~keras_ae.models.flow.builders`: :func:`build_realnvp` (``keras-ae train realnvp``).
"""

from keras_ae.models.flow.model import BINS, RealNVP, logit_bijector
from keras_ae.models.flow.builders import build_realnvp

__all__ = ["BINS", "RealNVP", "build_realnvp", "logit_bijector"]
