"""Figures (PNG files), one module per kind; matplotlib (Agg backend, works without a display)
is imported only when a figure is drawn.

| module | holds |
| --- | --- |
| ``grids`` | image grids: labelled rows of images, sample grids, first-layer filters, ``tile_images`` |
| ``latent`` | 2-D code scatter plots, a VAE's latent scatter, decoded latent grid, samples, interpolations |
| ``traversal`` | latent traversals: one row per (active) latent dimension swept over values |
| ``manifold`` | tangent planes and contraction curves (the arrays: :mod:`keras_ae.manifold`) |
| ``applications`` | the application recipes' curves, bars and histograms |

Example:
    >>> from keras_ae.plotting import save_image_grid, save_code_scatter
"""

from keras_ae.plotting.applications import save_bars, save_curves, save_histograms
from keras_ae.plotting.grids import save_filters, save_image_grid, save_image_rows, tile_images
from keras_ae.plotting.latent import (
    latent_means,
    save_code_scatter,
    save_interpolations,
    save_latent_manifold,
    save_latent_scatter,
    save_samples,
)
from keras_ae.plotting.manifold import save_contraction_curves, save_tangent_planes
from keras_ae.plotting.traversal import plot_latent_traversal

__all__ = [
    "latent_means", "plot_latent_traversal", "save_bars", "save_code_scatter", "save_contraction_curves",
    "save_curves", "save_filters", "save_histograms", "save_image_grid", "save_image_rows", "save_interpolations",
    "save_latent_manifold", "save_latent_scatter", "save_samples", "save_tangent_planes", "tile_images",
]
