"""Recurrent stacked hourglass network that maps frames to per-pixel embeddings."""

from cosinetrack.model.convgru import ConvGRU
from cosinetrack.model.hourglass import Hourglass
from cosinetrack.model.network import StackedHourglass, State

__all__ = ["ConvGRU", "Hourglass", "StackedHourglass", "State"]
