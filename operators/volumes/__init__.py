"""Volumes: learn volumetric models (per-voxel logistic, occupancy VAE, implicit signed-distance decoder)
from a collection; generate, complete and interpolate shapes with them."""
