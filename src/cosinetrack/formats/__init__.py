"""File formats.

The Cell Tracking Challenge layout, the Zarr stores between stages, atomic writes, real data fetched
from public packages.
"""
