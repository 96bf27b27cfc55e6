"""State of the simulated nuclei: the torus they live on, their shapes and their appearance."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from cosinetrack.config.sections import SimConfig

# The torus extends the view by this many mean radii on each side: more than the largest nucleus
# extent (about 2.6 R): nuclei in the margin are invisible and wrap-around never reaches the view.
MARGIN_RADII = 4.0

# --- Shapes --------------------------------------------------------------------------------------
HARMONICS = np.array([2, 3, 4])
# Largest mean amplitude of each harmonic; higher orders smaller, or outlines turn spiky.
HARMONIC_AMPLITUDE = np.array([0.16, 0.10, 0.06])
MAX_ELONGATION = 1.8

# --- Appearance ----------------------------------------------------------------------------------
TEXTURE_SIZE = 48  # side of each nucleus' periodic chromatin texture patch
TEXTURE_SIGMA = 1.5
BRIGHTNESS_SIGMA = 0.25  # lognormal spread of the brightness between nuclei
DIM_FRACTION = 0.06  # nuclei that are much dimmer (near background level)
DIM_FACTOR = 0.3


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
