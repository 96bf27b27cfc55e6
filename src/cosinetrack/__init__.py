"""Cell segmentation and tracking with cosine embeddings and recurrent stacked hourglass networks.

Implements Payer et al., "Instance Segmentation and Tracking with Cosine Embeddings and Recurrent
Hourglass Networks" (MICCAI 2018) as a package whose stages a Snakemake workflow calls.
"""

__version__ = "0.1.0"
