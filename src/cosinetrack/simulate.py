"""Embedded simulator of fluorescence-nuclei time-lapses in CTC layout, with full ground truth.

Nuclei are star-shaped outlines `r(theta) = R (1 + sum_k a_k cos(k theta + phi_k))`, k = 2..4,
elongated and rotated, whose shape parameters drift slowly. They move by a persistent random walk on
a torus larger than the field of view, so they leave and enter the view across its border, while
soft repulsion (some overlap allowed, so they press) and short-range adhesion form clusters of
touching nuclei. Where outlines overlap, each pixel goes to the nucleus with the smallest normalised
distance `|p - c| / r(theta)`, which gives flat contact faces. Grown nuclei divide into two
half-area daughters along their long axis. The image is a textured, rim-dimmed intensity per nucleus
on an uneven background, blurred by a PSF and corrupted by shot and read noise.

Ground truth follows the Cell Tracking Challenge: TRA masks (track ids) on every frame with a
`man_track.txt` that matches them exactly, and complete SEG masks on a sparse subset of frames whose
labels are not the track ids. A track is a maximal run of frames in which its nucleus shows at least
`min_size` pixels, so a nucleus that leaves the view, or whose visible part becomes a sliver, ends
its track, and one that comes back starts a new one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage.transform import resize

from cosinetrack import ctc
from cosinetrack.config import SimConfig
from cosinetrack.store import atomic_path

logger = logging.getLogger(__name__)

# --- Geometry -------------------------------------------------------------------------------------
# The torus extends the view by this many mean radii on each side: more than the largest nucleus
# extent (about 2.6 R): nuclei in the margin are invisible and wrap-around never reaches the view.
MARGIN_RADII = 4.0
# Substeps of the force relaxation per frame; three keep the soft contacts stable.
SUBSTEPS = 3
# Frames of motion before frame 0, so the first frame already shows pressed clusters.
WARMUP_FRAMES = 30

# --- Mechanics (dimensionless, in units of the summed radii of a pair) ---------------------------
# Pairs relax towards this centre distance / (R_i + R_j) < 1: slight overlap, so nuclei press.
CONTACT = 0.9
# Below this, repulsion stiffens so that a nucleus is never buried under its neighbours.
HARD_CONTACT = 0.72
REPULSION = 0.22
HARD_REPULSION = 0.8
# Adhesion pulls pairs whose gap is small back into contact (zero at CONTACT and at ADHESION_RANGE).
ADHESION = 0.1
ADHESION_RANGE = 1.3
# Largest expansion of the nuclei's positions per frame about the view centre (see `expand`).
MAX_EXPANSION = 0.01
# Random walk: velocity persistence per frame and its spread in mean radii per frame.
PERSISTENCE = 0.8
SPEED = 0.09

# --- Shapes and life cycle ------------------------------------------------------------------------
HARMONICS = np.array([2, 3, 4])
# Largest mean amplitude of each harmonic; higher orders smaller, or outlines turn spiky.
HARMONIC_AMPLITUDE = np.array([0.16, 0.10, 0.06])
MAX_ELONGATION = 1.8
# Per-frame relaxation rate towards the target radius: a daughter regrows in about 30 frames.
GROWTH = 0.04
# A nucleus divides only once this old and this close to its target radius.
MIN_DIVISION_AGE = 10
GROWN = 0.9

# --- Imaging --------------------------------------------------------------------------------------
PROFILE_RIM = 0.35  # intensity at the rim relative to the centre is 1 - PROFILE_RIM
TEXTURE_SIZE = 48  # side of each nucleus' periodic chromatin texture patch
TEXTURE_SIGMA = 1.5
TEXTURE_CONTRAST = 0.2
BRIGHTNESS_SIGMA = 0.25  # lognormal spread of the brightness between nuclei
DIM_FRACTION = 0.06  # nuclei that are much dimmer (near background level)
DIM_FACTOR = 0.3
DAUGHTER_BOOST = 0.4  # daughters start this much brighter (condensed chromatin) ...
BOOST_DECAY = 0.8  # ... fading by this factor per frame
PSF_SIGMA = 1.2
HAZE_SIGMA = 8.0  # out-of-focus light of the nuclei
HAZE = 0.12
PEAK_PHOTONS = 90.0  # photons at the centre of a nucleus of brightness 1
BACKGROUND_PHOTONS = 30.0
BACKGROUND_VARIATION = 0.4  # relative amplitude of the smooth uneven background
FLICKER = 0.03  # frame-to-frame relative change of the illumination
GAIN = 4.0  # camera counts per photon
OFFSET = 100.0
READ_NOISE = 6.0


@dataclass
class Nuclei:
    """State of all simulated nuclei, one row per nucleus, as parallel arrays."""

    pos: np.ndarray  # (N, 2) float, centre (y, x) on the torus
    vel: np.ndarray  # (N, 2) float, persistent random-walk velocity in pixels per frame
    radius: np.ndarray  # (N,) current mean radius R
    target: np.ndarray  # (N,) radius a nucleus grows towards
    age: np.ndarray  # (N,) frames since birth
    amp: np.ndarray  # (N, 3) harmonic amplitudes a_k
    amp_mean: np.ndarray  # (N, 3) amplitudes the drift reverts to
    phase: np.ndarray  # (N, 3) harmonic phases phi_k
    elong: np.ndarray  # (N,) long/short axis ratio
    elong_mean: np.ndarray  # (N,)
    angle: np.ndarray  # (N,) orientation of the long axis, radians from the x axis
    brightness: np.ndarray  # (N,)
    boost: np.ndarray  # (N,) extra relative brightness of young daughters
    texture: np.ndarray  # (N, TEXTURE_SIZE, TEXTURE_SIZE) float32 chromatin texture, std 1
    track: np.ndarray  # (N,) int64 track id while visible, else 0
    parent: np.ndarray  # (N,) int64 mother's track id for daughters not yet rendered, else 0
    pixels: np.ndarray  # (N,) int64 pixels shown in the last rendered frame

    def __len__(self) -> int:
        """Return the number of nuclei."""
        return len(self.radius)

    def take(self, index: np.ndarray) -> Nuclei:
        """Return the nuclei selected by a boolean mask or index array."""
        return Nuclei(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    def extend(self, other: Nuclei) -> Nuclei:
        """Return these nuclei followed by `other`."""
        return Nuclei(
            **{
                f.name: np.concatenate([getattr(self, f.name), getattr(other, f.name)])
                for f in dataclasses.fields(self)
            }
        )


@dataclass(frozen=True)
class Geometry:
    """The torus the nuclei live on and where the field of view sits in it."""

    height: int
    width: int
    margin: int

    @property
    def size(self) -> np.ndarray:
        """Return the torus side lengths (y, x)."""
        return np.array([self.height + 2 * self.margin, self.width + 2 * self.margin], float)

    @classmethod
    def of(cls, cfg: SimConfig) -> Geometry:
        """Build the geometry of a configuration."""
        return cls(cfg.height, cfg.width, int(np.ceil(MARGIN_RADII * cfg.radius)) + 4)


@dataclass(frozen=True)
class SimFrame:
    """One simulated frame: the uint16 image and its full label mask (track ids, 0 = background)."""

    index: int
    image: np.ndarray
    labels: np.ndarray


@dataclass(frozen=True)
class SequenceSummary:
    """Statistics of one simulated sequence, for logs and checks."""

    frames: int
    tracks: int
    nuclei_per_frame: float
    touching: float  # median over frames of the fraction of nuclei touching another
    divisions: int
    entries: int  # tracks without a parent that begin after frame 0
    exits: int  # tracks that end before the last frame without dividing


def sequence_rng(seed: int, sequence: int) -> np.random.Generator:
    """Return the generator of one sequence, derived from the dataset seed and sequence index."""
    return np.random.default_rng(np.random.SeedSequence([seed, sequence]))


def seg_frames(frames: int, fraction: float) -> list[int]:
    """Return the evenly spaced frames that get SEG masks, always including frame 0."""
    count = max(1, round(frames * fraction))
    return sorted({int(t) for t in np.linspace(0, frames - 1, count).round()})


def extent(nuc: Nuclei) -> np.ndarray:
    """Return for each nucleus the largest distance of its outline from its centre, plus a pixel."""
    return nuc.radius * (1 + nuc.amp.sum(axis=1)) * np.sqrt(nuc.elong) + 1.5


def view_distance(pos: np.ndarray, geo: Geometry) -> np.ndarray:
    """Return each centre's signed distance into the view (negative outside)."""
    y = pos[:, 0] - geo.margin
    x = pos[:, 1] - geo.margin
    return np.minimum.reduce([y, x, geo.height - y, geo.width - x])


def random_textures(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return n periodic smoothed-noise textures with unit spread (chromatin-like granularity)."""
    noise = rng.normal(size=(n, TEXTURE_SIZE, TEXTURE_SIZE))
    smooth = ndi.gaussian_filter(noise, (0, TEXTURE_SIGMA, TEXTURE_SIGMA), mode="wrap")
    smooth /= smooth.std(axis=(1, 2), keepdims=True)
    return smooth.astype(np.float32)


def random_brightness(rng: np.random.Generator, n: int) -> np.ndarray:
    """Return lognormal brightnesses, a few nuclei much dimmer (near background level)."""
    brightness = rng.lognormal(0.0, BRIGHTNESS_SIGMA, n)
    brightness[rng.random(n) < DIM_FRACTION] *= DIM_FACTOR
    return np.clip(brightness, 0.12, 3.0)


def new_nuclei(
    rng: np.random.Generator, pos: np.ndarray, target: np.ndarray, radius: np.ndarray, speed: float
) -> Nuclei:
    """Create nuclei with random shape, brightness and texture at the given centres and sizes."""
    n = len(pos)
    amp_mean = rng.uniform(0.0, 1.0, (n, 3)) * HARMONIC_AMPLITUDE
    elong_mean = rng.uniform(1.0, 1.5, n)
    zeros = np.zeros(n, dtype=np.int64)
    return Nuclei(
        pos=np.asarray(pos, float).reshape(n, 2),
        vel=rng.normal(0.0, speed, (n, 2)),
        radius=np.asarray(radius, float),
        target=np.asarray(target, float),
        age=zeros.copy(),
        amp=amp_mean.copy(),
        amp_mean=amp_mean,
        phase=rng.uniform(0.0, 2 * np.pi, (n, 3)),
        elong=elong_mean.copy(),
        elong_mean=elong_mean,
        angle=rng.uniform(0.0, np.pi, n),
        brightness=random_brightness(rng, n),
        boost=np.zeros(n),
        texture=random_textures(rng, n),
        track=zeros.copy(),
        parent=zeros.copy(),
        pixels=zeros.copy(),
    )


def random_targets(rng: np.random.Generator, n: int, radius: float) -> np.ndarray:
    """Return target radii spread around the configured mean radius."""
    return radius * np.clip(rng.lognormal(0.0, 0.15, n), 0.7, 1.4)


def torus_delta(a: np.ndarray, b: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Return the shortest displacement from b to a on the torus (minimum image)."""
    diff = a - b
    return diff - size * np.round(diff / size)


def fits(
    candidate: np.ndarray, radius: float, pos: np.ndarray, radii: np.ndarray, size: np.ndarray
) -> bool:
    """Tell whether a new nucleus at `candidate` would overlap no existing one beyond contact."""
    if not len(pos):
        return True
    dist = np.hypot(*torus_delta(pos, candidate, size).T)
    return bool(np.all(dist >= CONTACT * (radii + radius)))


def initial_nuclei(rng: np.random.Generator, cfg: SimConfig, geo: Geometry) -> Nuclei:
    """Scatter nuclei over the torus until they cover `cfg.density` of it, none overlapping much."""
    size = geo.size
    goal = cfg.density * size.prod()
    speed = SPEED * cfg.radius
    capacity = int(goal / (np.pi * (0.7 * cfg.radius) ** 2)) + 1
    pos = np.zeros((capacity, 2))
    targets = np.zeros(capacity)
    n, covered = 0, 0.0
    for _ in range(50 * capacity):
        if covered >= goal or n == capacity:
            break
        target = float(random_targets(rng, 1, cfg.radius)[0])
        candidate = rng.uniform(0.0, 1.0, 2) * size
        if fits(candidate, target, pos[:n], targets[:n], size):
            pos[n], targets[n] = candidate, target
            n += 1
            covered += np.pi * target**2
    if covered < goal:
        logger.warning(
            "placed nuclei cover %.2f of the field, not density %.2f",
            covered / size.prod(),
            cfg.density,
        )
    # Spread the ages so that divisions happen from the start and sizes vary.
    age = rng.integers(0, 60, n)
    radius = targets[:n] * (1 - (1 - np.sqrt(0.5)) * (1 - GROWTH) ** age)
    nuc = new_nuclei(rng, pos[:n], targets[:n], radius, speed)
    nuc.age = age.astype(np.int64)
    return nuc


def pair_displacement(pos: np.ndarray, radius: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Return each nucleus' displacement by soft repulsion and short-range adhesion of all pairs."""
    diff = torus_delta(pos[:, None, :], pos[None, :, :], size)
    dist = np.hypot(diff[..., 0], diff[..., 1])
    reach = radius[:, None] + radius[None, :]
    s = dist / reach
    np.fill_diagonal(s, np.inf)
    push = REPULSION * np.clip(CONTACT - s, 0, None) + HARD_REPULSION * np.clip(
        HARD_CONTACT - s, 0, None
    )
    pull = ADHESION * np.clip(np.minimum(s - CONTACT, ADHESION_RANGE - s), 0, None)
    # Each partner moves by half of the pair's correction.
    magnitude = 0.5 * (push - pull) * reach
    unit = diff / np.maximum(dist, 1e-9)[..., None]
    return (magnitude[..., None] * unit).sum(axis=1)


def move(nuc: Nuclei, rng: np.random.Generator, geo: Geometry, speed: float) -> None:
    """Advance positions one frame: persistent random walk plus pairwise contact forces."""
    kick = np.sqrt(1 - PERSISTENCE**2) * speed
    nuc.vel = PERSISTENCE * nuc.vel + rng.normal(0.0, kick, nuc.vel.shape)
    for _ in range(SUBSTEPS):
        nuc.pos = nuc.pos + nuc.vel / SUBSTEPS + pair_displacement(nuc.pos, nuc.radius, geo.size)
    nuc.pos = np.mod(nuc.pos, geo.size)


def drift_shapes(nuc: Nuclei, rng: np.random.Generator) -> None:
    """Let outlines, orientation and size change slowly, and age the nuclei by a frame."""
    n = len(nuc)
    nuc.amp = np.clip(
        nuc.amp + 0.1 * (nuc.amp_mean - nuc.amp) + rng.normal(0.0, 0.008, (n, 3)),
        0.0,
        1.5 * HARMONIC_AMPLITUDE,
    )
    nuc.phase = nuc.phase + rng.normal(0.0, 0.06, (n, 3))
    nuc.elong = np.clip(
        nuc.elong + 0.1 * (nuc.elong_mean - nuc.elong) + rng.normal(0.0, 0.02, n),
        1.0,
        MAX_ELONGATION,
    )
    nuc.angle = nuc.angle + rng.normal(0.0, 0.04, n)
    nuc.radius = nuc.radius + GROWTH * (nuc.target - nuc.radius)
    nuc.boost = nuc.boost * BOOST_DECAY
    nuc.age = nuc.age + 1


def expand(nuc: Nuclei, geo: Geometry, density: float) -> None:
    """Spread the nuclei outward from the view centre while the view is denser than configured.

    Divisions add nuclei faster than they diffuse out of a large view; like a growing colony, the
    crowd then drifts outward, so more nuclei leave across the border and the density stays put.
    """
    inside = view_distance(nuc.pos, geo) > 0
    covered = float(np.sum(np.pi * nuc.radius[inside] ** 2)) / (geo.height * geo.width)
    rate = float(np.clip(0.2 * (covered / density - 1), 0.0, MAX_EXPANSION))
    if rate > 0:
        nuc.pos = np.mod(nuc.pos + rate * (nuc.pos - geo.size / 2), geo.size)


def may_divide(nuc: Nuclei, geo: Geometry) -> np.ndarray:
    """Tell which nuclei are grown and either fully invisible or well inside the view.

    A nucleus straddling the border may not divide, so that both daughters of a visible mother are
    visible and every division in the ground truth has exactly two daughters.
    """
    grown = (nuc.age >= MIN_DIVISION_AGE) & (nuc.radius >= GROWN * nuc.target)
    inside = view_distance(nuc.pos, geo) > 1.5 * extent(nuc)
    hidden = (nuc.pixels == 0) & (nuc.track == 0)
    return grown & (inside | hidden)


def divide(
    nuc: Nuclei, rng: np.random.Generator, geo: Geometry, rate: float, speed: float
) -> tuple[Nuclei, int]:
    """Replace each dividing nucleus by two half-area daughters along its long axis."""
    dividing = may_divide(nuc, geo) & (rng.random(len(nuc)) < rate)
    if not dividing.any():
        return nuc, 0
    mothers = nuc.take(dividing)
    m = len(mothers)
    axis = np.stack([np.sin(mothers.angle), np.cos(mothers.angle)], axis=1)
    offset = (0.5 * mothers.radius * np.sqrt(mothers.elong))[:, None] * axis
    pos = np.concatenate([mothers.pos + offset, mothers.pos - offset])
    target = np.tile(mothers.target, 2) * rng.lognormal(0.0, 0.05, 2 * m)
    daughters = new_nuclei(rng, pos, target, np.tile(mothers.radius, 2) * np.sqrt(0.5), speed)
    # Daughters split apart along the division axis; each is longer across it than along it.
    daughters.vel = np.tile(mothers.vel, (2, 1)) + np.concatenate([axis, -axis]) * 0.5 * speed
    daughters.angle = np.tile(mothers.angle, 2) + np.pi / 2 + rng.normal(0.0, 0.2, 2 * m)
    daughters.brightness = np.tile(mothers.brightness, 2) * rng.lognormal(0.0, 0.1, 2 * m)
    daughters.boost = np.full(2 * m, DAUGHTER_BOOST)
    daughters.parent = np.tile(mothers.track, 2)
    return nuc.take(~dividing).extend(daughters), m


def balance_density(nuc: Nuclei, rng: np.random.Generator, geo: Geometry, cfg: SimConfig) -> Nuclei:
    """Remove or add nuclei hidden in the margin when the coverage drifts from the density.

    The torus would otherwise fill up through divisions; nuclei added in the margin later wander
    into the view, so entries keep the density in view roughly constant.
    """
    size = geo.size
    goal = cfg.density * size.prod()
    covered = float(np.sum(np.pi * nuc.radius**2))
    hidden = (nuc.pixels == 0) & (nuc.track == 0) & (view_distance(nuc.pos, geo) < -extent(nuc))
    if covered > 1.02 * goal and hidden.any():
        # Remove enough hidden nuclei to get back to the goal; an emptier margin lets fewer enter.
        order = rng.permutation(np.flatnonzero(hidden))
        excess = np.cumsum(np.pi * nuc.radius[order] ** 2) <= covered - goal
        drop = order[: max(1, int(excess.sum()))]
        return nuc.take(~np.isin(np.arange(len(nuc)), drop))
    if covered < 0.95 * goal:
        target = random_targets(rng, 1, cfg.radius)
        for _ in range(20):
            candidate = rng.uniform(0.0, 1.0, (1, 2)) * size
            reach = target * (1 + HARMONIC_AMPLITUDE.sum()) * np.sqrt(MAX_ELONGATION) + 1.5
            if view_distance(candidate, geo)[0] < -reach[0] and fits(
                candidate[0], target[0], nuc.pos, nuc.radius, size
            ):
                return nuc.extend(new_nuclei(rng, candidate, target, target, SPEED * cfg.radius))
    return nuc


def normalised_distance(nuc: Nuclei, i: int, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Return |p - c| / r(theta) of nucleus i at offsets (dy, dx) from its centre (< 1 inside)."""
    cos, sin = np.cos(nuc.angle[i]), np.sin(nuc.angle[i])
    stretch = np.sqrt(nuc.elong[i])
    u = (dx * cos + dy * sin) / stretch
    v = (dy * cos - dx * sin) * stretch
    theta = np.arctan2(v, u)
    outline = 1 + np.sum(
        nuc.amp[i][:, None, None]
        * np.cos(HARMONICS[:, None, None] * theta + nuc.phase[i][:, None, None]),
        axis=0,
    )
    return np.hypot(u, v) / (nuc.radius[i] * outline)


def render(nuc: Nuclei, geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Draw all nuclei into the view: owner index + 1 per pixel, and the noise-free intensity.

    Each nucleus is drawn only in its bounding box; a pixel inside several outlines goes to the one
    with the smallest normalised distance, which flattens the faces where nuclei press together.
    """
    shape = (geo.height, geo.width)
    best = np.full(shape, np.inf, dtype=np.float32)
    owner = np.zeros(shape, dtype=np.int32)
    signal = np.zeros(shape, dtype=np.float32)
    centres = nuc.pos - geo.margin
    reach = extent(nuc)
    for i in range(len(nuc)):
        cy, cx = centres[i]
        y0, y1 = max(int(cy - reach[i]), 0), min(int(cy + reach[i]) + 2, geo.height)
        x0, x1 = max(int(cx - reach[i]), 0), min(int(cx + reach[i]) + 2, geo.width)
        if y0 >= y1 or x0 >= x1:
            continue
        ys, xs = np.arange(y0, y1), np.arange(x0, x1)
        d = normalised_distance(nuc, i, (ys - cy)[:, None], (xs - cx)[None, :]).astype(np.float32)
        box = (slice(y0, y1), slice(x0, x1))
        mine = (d < 1) & (d < best[box])
        if not mine.any():
            continue
        # The texture moves with the nucleus: index it by the offset from the rounded centre.
        ty = (ys - round(cy)) % TEXTURE_SIZE
        tx = (xs - round(cx)) % TEXTURE_SIZE
        texture = nuc.texture[i][ty[:, None], tx[None, :]]
        level = nuc.brightness[i] * (1 + nuc.boost[i])
        value = level * (1 - PROFILE_RIM * d**2) * np.maximum(1 + TEXTURE_CONTRAST * texture, 0.2)
        best[box][mine] = d[mine]
        owner[box][mine] = i + 1
        signal[box][mine] = value[mine]
    return owner, signal


def background_field(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Return an uneven background in photons: offset plus a smooth low-frequency field."""
    coarse = rng.normal(size=(5, 5))
    field = resize(coarse, shape, order=3, mode="reflect", anti_aliasing=False)
    field /= np.abs(field).max()
    return (BACKGROUND_PHOTONS * (1 + BACKGROUND_VARIATION * field)).astype(np.float32)


def form_image(signal: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn the noise-free intensity into a camera frame: haze, PSF blur, shot and read noise."""
    blurred = ndi.gaussian_filter(signal, PSF_SIGMA) + HAZE * ndi.gaussian_filter(
        signal, HAZE_SIGMA
    )
    flicker = 1 + FLICKER * rng.normal()
    photons = rng.poisson(np.maximum(flicker * (PEAK_PHOTONS * blurred + background), 0))
    counts = GAIN * photons + OFFSET + rng.normal(0.0, READ_NOISE, signal.shape)
    return np.clip(np.rint(counts), 0, ctc.UINT16_MAX).astype(np.uint16)


class TrackBook:
    """Track table kept while frames are simulated: a track is a run of frames showing a nucleus."""

    def __init__(self) -> None:
        """Start with no tracks."""
        self.rows: dict[int, list[int]] = {}  # label -> [begin, end, parent]
        self.next_label = 1

    def update(self, nuc: Nuclei, counts: np.ndarray, t: int, min_size: int) -> np.ndarray:
        """Record frame t; return the map from owner index (+1) to track id (0: not labelled)."""
        shown = counts >= min_size
        nuc.pixels = counts.astype(np.int64)
        nuc.track[~shown] = 0  # their tracks ended with the previous frame
        starting = np.flatnonzero(shown & (nuc.track == 0))
        # A daughter keeps its mother only if its sister shows too: divisions have two daughters.
        parents, sisters = np.unique(nuc.parent[shown], return_counts=True)
        complete = set(parents[(sisters == 2) & (parents > 0)].tolist())
        for i in starting:
            parent = int(nuc.parent[i]) if int(nuc.parent[i]) in complete else 0
            nuc.track[i] = self.next_label
            self.rows[self.next_label] = [t, t, parent]
            self.next_label += 1
        for label in nuc.track[shown].tolist():
            self.rows[label][1] = t
        nuc.parent[:] = 0
        if self.next_label > ctc.UINT16_MAX:
            raise ValueError("more than 65535 tracks; simulate fewer frames or nuclei")
        return np.concatenate([[0], np.where(shown, nuc.track, 0)]).astype(np.uint16)

    def table(self) -> np.ndarray:
        """Return the (N, 4) track table L B E P, sorted by label."""
        rows = [[label, *row] for label, row in sorted(self.rows.items())]
        return np.array(rows, dtype=np.int64).reshape(-1, 4)


class Simulation:
    """One simulated sequence: iterate `frames()` once, then read the track table `tracks`."""

    def __init__(self, cfg: SimConfig, sequence: int) -> None:
        """Prepare sequence `sequence` (1, 2, ...) of the dataset described by `cfg`."""
        self.cfg = cfg
        self.sequence = sequence
        self._tracks: np.ndarray | None = None
        self.counts: list[int] = []  # labelled nuclei per frame
        self.touching: list[float] = []  # touching fraction per frame
        self.divisions = 0

    @property
    def tracks(self) -> np.ndarray:
        """Return the (N, 4) int64 track table L B E P; only after all frames were generated."""
        if self._tracks is None:
            raise RuntimeError("the track table is known only after frames() has been exhausted")
        return self._tracks

    def frames(self) -> Iterator[SimFrame]:
        """Simulate and yield the frames one at a time, so memory stays bounded by a frame."""
        cfg, geo = self.cfg, Geometry.of(self.cfg)
        self._tracks, self.counts, self.touching, self.divisions = None, [], [], 0
        rng = sequence_rng(cfg.seed, self.sequence)
        speed = SPEED * cfg.radius
        background = background_field(rng, (cfg.height, cfg.width))
        nuc = initial_nuclei(rng, cfg, geo)
        for _ in range(WARMUP_FRAMES):
            move(nuc, rng, geo, speed)
            drift_shapes(nuc, rng)
        book = TrackBook()
        for t in range(cfg.frames):
            if t > 0:
                nuc = self._advance(nuc, rng, geo, speed)
            owner, signal = render(nuc, geo)
            counts = np.bincount(owner.ravel(), minlength=len(nuc) + 1)[1:]
            labels = book.update(nuc, counts, t, cfg.min_size)[owner]
            self.counts.append(int(np.count_nonzero(np.unique(labels))))
            self.touching.append(touching_fraction(labels))
            yield SimFrame(t, form_image(signal, background, rng), labels)
        self._tracks = book.table()

    def _advance(
        self, nuc: Nuclei, rng: np.random.Generator, geo: Geometry, speed: float
    ) -> Nuclei:
        """Advance the nuclei by one frame: motion, shape drift, divisions and density balance."""
        move(nuc, rng, geo, speed)
        expand(nuc, geo, self.cfg.density)
        drift_shapes(nuc, rng)
        nuc, divided = divide(nuc, rng, geo, self.cfg.division_rate, speed)
        self.divisions += divided
        return balance_density(nuc, rng, geo, self.cfg)

    def summary(self) -> SequenceSummary:
        """Return the statistics of the finished sequence."""
        tracks = self.tracks
        last = self.cfg.frames - 1
        mothers = set(tracks[tracks[:, 3] > 0, 3].tolist())
        ended = (tracks[:, 2] < last) & ~np.isin(tracks[:, 0], list(mothers))
        return SequenceSummary(
            frames=self.cfg.frames,
            tracks=len(tracks),
            nuclei_per_frame=float(np.mean(self.counts)),
            touching=float(np.median(self.touching)),
            divisions=len(mothers),
            entries=int(np.sum((tracks[:, 3] == 0) & (tracks[:, 1] > 0))),
            exits=int(np.sum(ended)),
        )


def simulate_sequence(cfg: SimConfig, sequence: int) -> Simulation:
    """Return the simulation of sequence `sequence` (1, 2, ...); iterate its `frames()` once."""
    return Simulation(cfg, sequence)


def touching_fraction(labels: np.ndarray) -> float:
    """Return the fraction of labelled nuclei that are 4-adjacent to another nucleus (0 if none)."""
    present = np.unique(labels)
    present = present[present > 0]
    if not present.size:
        return 0.0
    touching = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        contact = (a != b) & (a > 0) & (b > 0)
        touching += [a[contact], b[contact]]
    return np.unique(np.concatenate(touching)).size / present.size


def seg_relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber a mask 1..n in raster order of centroids, as SEG annotations are not track ids."""
    present = np.unique(labels)
    present = present[present > 0]
    if not present.size:
        return np.zeros(labels.shape, dtype=np.uint16)
    centroids = np.array(ndi.center_of_mass(np.ones(labels.shape), labels, present)).reshape(-1, 2)
    order = np.lexsort((centroids[:, 1], centroids[:, 0]))
    mapping = {int(present[j]): rank for rank, j in enumerate(order, start=1)}
    return ctc.relabel(labels, mapping)


def write_sequence(root: Path, name: str, cfg: SimConfig, sequence: int) -> SequenceSummary:
    """Simulate one sequence and write `{name}/`, `{name}_GT/TRA` and `{name}_GT/SEG` under root."""
    raw = Path(root) / name
    tra = Path(root) / f"{name}_GT" / "TRA"
    seg = Path(root) / f"{name}_GT" / "SEG"
    for folder in (raw, tra, seg):
        folder.mkdir(parents=True, exist_ok=True)
    annotated = set(seg_frames(cfg.frames, cfg.seg_fraction))
    simulation = simulate_sequence(cfg, sequence)
    for frame in simulation.frames():
        t = frame.index
        tifffile.imwrite(raw / ctc.mask_name("t", t, cfg.frames), frame.image)
        ctc.write_label_frame(tra / ctc.mask_name("man_track", t, cfg.frames), frame.labels)
        if t in annotated:
            ctc.write_label_frame(
                seg / ctc.mask_name("man_seg", t, cfg.frames), seg_relabel(frame.labels)
            )
    ctc.write_track_table(tra / "man_track.txt", simulation.tracks)
    return simulation.summary()


def run_simulate(out_dir: Path, cfg: SimConfig) -> None:
    """Write the whole dataset (sequences 01, 02, ...) atomically; log a summary per sequence."""
    summaries = {}
    with atomic_path(Path(out_dir)) as partial:
        for sequence in range(1, cfg.sequences + 1):
            name = f"{sequence:02d}"
            summary = write_sequence(partial, name, cfg, sequence)
            summaries[name] = dataclasses.asdict(summary)
            logger.info(
                "sequence %s: %d frames, %.1f nuclei per frame, %.0f%% touching (median), "
                "%d divisions, %d entries, %d exits, %d tracks",
                name,
                summary.frames,
                summary.nuclei_per_frame,
                100 * summary.touching,
                summary.divisions,
                summary.entries,
                summary.exits,
                summary.tracks,
            )
        record = {"config": cfg.model_dump(mode="json"), "sequences": summaries}
        (partial / "simulation.json").write_text(json.dumps(record, indent=2) + "\n")


def write_ground_truth_result(gt_dir: Path, res_dir: Path, frames: int) -> None:
    """Write a sequence's TRA ground truth as a CTC result folder: the perfect result (checks)."""
    gt = ctc.read_ground_truth(Path(gt_dir), frames)
    ctc.write_result(Path(res_dir), ctc.iter_frames(gt.tra), gt.tracks, frames)
