"""Embedded simulator of time-lapses in CTC layout, with full ground truth: nuclei or rods.

Nuclei are star-shaped outlines `r(theta) = R (1 + sum_k a_k cos(k theta + phi_k))`, k = 2..4,
elongated and rotated, whose shape parameters drift slowly. They move by a persistent random walk on
a torus larger than the field of view, so they leave and enter the view across its border, while
soft repulsion (some overlap allowed, so they press) and short-range adhesion form clusters of
touching nuclei. Where outlines overlap, each pixel goes to the nucleus with the smallest normalised
distance `|p - c| / r(theta)`, which gives flat contact faces. Grown nuclei divide into two
half-area daughters along their long axis. The image is a textured, rim-dimmed intensity per nucleus
on an uneven background, blurred by a PSF and corrupted by shot and read noise.

Rods (`cells: rods`) are capsules that grow exponentially in length, divide across their middle at
about twice their birth length and push each other apart, so a few cells near the centre become a
packed microcolony; they are imaged in phase contrast, dark with bright halos.

Ground truth follows the Cell Tracking Challenge: TRA masks (track ids) on every frame with a
`man_track.txt` that matches them exactly, and complete SEG masks on a sparse subset of frames whose
labels are not the track ids. A track is a maximal run of frames in which its cell shows at least
`min_size` pixels, so a cell that leaves the view, or whose visible part becomes a sliver, ends
its track, and one that comes back starts a new one.

Modules: `nuclei` (state, shapes, appearance), `motion` (random walk, contacts, growth, division),
`render` (labels, intensity, camera), `sequence` (one nuclei sequence frame by frame); `rods`
(capsules, growth, division), `packing` (overlap relaxation), `phase` (labels, phase contrast),
`colony` (one rods sequence frame by frame); shared: `movie` (frames and summary of a sequence),
`lineage` (track table while frames are made), `annotate` (the challenge's kinds of ground truth)
and `write` (CTC layout on disk).
"""

from cosinetrack.simulate.colony import Colony
from cosinetrack.simulate.lineage import TrackBook, touching_fraction
from cosinetrack.simulate.movie import SequenceSummary, SimFrame, sequence_rng
from cosinetrack.simulate.nuclei import Geometry, Nuclei
from cosinetrack.simulate.rods import Rods
from cosinetrack.simulate.sequence import Simulation, simulate_sequence
from cosinetrack.simulate.write import (
    run_simulate,
    seg_frames,
    seg_relabel,
    write_ground_truth_result,
    write_sequence,
)

__all__ = [
    "Colony",
    "Geometry",
    "Nuclei",
    "Rods",
    "SequenceSummary",
    "SimFrame",
    "Simulation",
    "TrackBook",
    "run_simulate",
    "seg_frames",
    "seg_relabel",
    "sequence_rng",
    "simulate_sequence",
    "touching_fraction",
    "write_ground_truth_result",
    "write_sequence",
]
