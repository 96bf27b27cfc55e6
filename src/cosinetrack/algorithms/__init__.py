"""Numerical building blocks the stages share.

HDBSCAN on a k-nearest-neighbour graph, resampling, division repair.
"""
