import numpy as np
import pytest
from conftest import disk
from skimage.transform import resize

from cosinetrack.algorithms.resample import (
    follow_foreground,
    resize_image,
    resize_labels,
    scaled_shape,
)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


def test_scaled_shape() -> None:
    assert scaled_shape((256, 255), 0.5) == (128, 128)
    assert scaled_shape((3, 3), 0.1) == (1, 1)


def test_same_shape_is_returned_unchanged() -> None:
    labels = np.arange(12, dtype=np.uint16).reshape(3, 4)
    assert resize_labels(labels, (3, 4)) is labels


@pytest.mark.parametrize("scale", [0.5, 0.75])
def test_smooth_enlargement_restores_shrunk_disks(scale: float) -> None:
    shape = (96, 120)
    labels = np.zeros(shape, np.uint16)
    labels[disk(shape, (30, 30), 12)] = 3
    labels[disk(shape, (30, 53), 11)] = 7  # touches label 3
    labels[disk(shape, (88, 110), 10)] = 9  # cut by the frame edge
    small = resize_labels(labels, (round(96 * scale), round(120 * scale)))
    assert small.dtype == np.uint16 and set(np.unique(small)) == {0, 3, 7, 9}
    back = resize_labels(small, shape)
    for label in (3, 7, 9):
        assert iou(back == label, labels == label) > (0.88 if scale == 0.5 else 0.93)
    nearest = resize(small, shape, order=0, preserve_range=True, anti_aliasing=False)
    assert iou(back == 3, labels == 3) >= iou(nearest == 3, labels == 3)


def test_resize_image_keeps_the_intensity_range() -> None:
    image = np.linspace(-1, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    small = resize_image(image, (32, 32))
    assert small.dtype == np.float32 and small.shape == (32, 32)
    assert -1.0 <= small.min() < -0.9 and 0.9 < small.max() <= 1.0


def test_a_label_too_small_to_win_a_pixel_is_kept() -> None:
    labels = np.zeros((10, 10), np.uint16)
    labels[4, 4] = 5  # one pixel, shrunk 2.5x: covers no output pixel by more than half
    labels[0:8, 7:10] = 6
    out = resize_labels(labels, (4, 4))
    assert set(np.unique(out)) == {0, 5, 6} and (out == 5).sum() == 1


def test_shrinking_keeps_outlines_centred() -> None:
    # A 20x20 square at an odd offset, halved: nearest sampling shifts it by half an output pixel,
    # the area majority keeps it where it is (its centre stays at the same place).
    labels = np.zeros((64, 64), np.uint16)
    labels[11:31, 21:41] = 1
    small = resize_labels(labels, (32, 32))
    ys, xs = np.nonzero(small == 1)
    assert (ys.mean() + 0.5) * 2 - 0.5 == pytest.approx(20.5, abs=0.3)
    assert (xs.mean() + 0.5) * 2 - 0.5 == pytest.approx(30.5, abs=0.3)
    assert (small == 1).sum() == 81  # border rows and columns are half covered: background


def test_outlines_follow_the_interpolated_cosine_between_working_pixels() -> None:
    # Two touching disks of radius 10.3 at 64x96, worked on at a quarter of the size. A cosine
    # to the background that rises linearly across each outline puts the outline between the
    # 16x24 working pixels; enlarged labels alone can only follow the working grid.
    shape, small = (64, 96), (16, 24)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    centres = [(31.5, 37.0), (31.5, 57.6)]
    distance = np.stack([np.hypot(yy - cy, xx - cx) for cy, cx in centres])  # (2, H, W)
    truth = np.where(distance.min(0) <= 10.3, distance.argmin(0) + 1, 0).astype(np.uint16)
    cosine = np.clip((distance.min(0) - 10.3) / 8, -1, 1)  # 0 on the outline, < 0 inside
    working = resize_labels(truth, small)
    enlarged = resize_labels(working, shape)
    followed = follow_foreground(enlarged, resize_image(cosine, small), 0.0)
    for label in (1, 2):
        before, after = (
            iou(enlarged == label, truth == label),
            iou(followed == label, truth == label),
        )
        assert before < 0.83 and after > 0.94  # measured: 0.81 -> 0.95, 0.82 -> 0.95
    assert followed.dtype == enlarged.dtype


def test_following_outlines_keeps_every_label_and_the_working_size() -> None:
    labels = np.zeros((8, 8), np.uint16)
    labels[2:4, 2:4], labels[6, 6] = 1, 2
    background = np.ones((4, 4), np.float32)  # the cosine calls every pixel background
    followed = follow_foreground(labels, background, 0.5)
    assert set(np.unique(followed)) == {0, 1, 2}  # a label the cosine would erase keeps its mask
    assert np.array_equal(followed, labels)
    assert follow_foreground(labels, np.ones((8, 8)), 0.5) is labels  # same size: nothing to follow
