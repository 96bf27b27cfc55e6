import numpy as np
import pytest
import torch

from cosinetrack.model.loss import cosine_embedding_loss, stacked_loss
from cosinetrack.model.neighbours import neighbour_matrix


def scene(k: int = 2, t: int = 2, size: int = 12) -> torch.Tensor:
    """(1, T, H, W) labels: k vertical stripes of width 3 separated by 1 background column."""
    instances = torch.zeros(1, t, size, size, dtype=torch.int64)
    for i in range(1, k + 1):
        instances[..., 2:10, 4 * i - 3 : 4 * i] = i
    return instances


def one_hot_embeddings(instances: torch.Tensor, directions: list[int], dim: int = 4):
    """(B, T, D, H, W) embeddings where label i points along axis directions[i] (scaled by 3)."""
    axes = torch.tensor(directions)[instances]  # (B, T, H, W)
    return 3.0 * torch.nn.functional.one_hot(axes, dim).movedim(-1, 2).float()


def all_pairs(k: int) -> torch.Tensor:
    nb = torch.ones(1, k + 1, k + 1, dtype=torch.bool)
    nb[:, 0] = nb[:, :, 0] = False
    nb[:, range(k + 1), range(k + 1)] = False
    return nb


def full(t: int = 2, size: int = 12) -> torch.Tensor:
    """Every unlabelled pixel of `scene` is certain background (complete masks)."""
    return scene(t=t, size=size, k=3) == 0


def frames(*known: bool) -> torch.Tensor:
    """Certain background on the unlabelled pixels of the frames marked True only."""
    return full(len(known)) & torch.tensor(known)[None, :, None, None]


def test_perfect_embeddings_give_zero_loss() -> None:
    instances = scene(k=3)
    terms = cosine_embedding_loss(
        one_hot_embeddings(instances, [0, 1, 2, 3]), instances, all_pairs(3), full()
    )
    assert terms.total.item() == pytest.approx(0.0, abs=1e-6)


def test_neighbours_with_same_embedding_are_pushed() -> None:
    instances = scene(k=2)
    embeddings = one_hot_embeddings(instances, [0, 1, 1])
    terms = cosine_embedding_loss(embeddings, instances, all_pairs(2), full())
    assert terms.instance_push.item() > 0.9
    assert terms.instance_pull.item() == pytest.approx(0.0, abs=1e-6)


def test_far_instances_may_share_an_embedding() -> None:
    instances = scene(k=2)
    embeddings = one_hot_embeddings(instances, [0, 1, 1])
    no_pairs = torch.zeros(1, 3, 3, dtype=torch.bool)
    terms = cosine_embedding_loss(embeddings, instances, no_pairs, full())
    assert terms.total.item() == pytest.approx(0.0, abs=1e-6)


def test_relabelling_does_not_change_loss() -> None:
    torch.manual_seed(0)
    instances = scene(k=3)
    embeddings = torch.randn(1, 2, 4, 12, 12)
    nb = torch.zeros(1, 4, 4, dtype=torch.bool)
    nb[0, 1, 2] = nb[0, 2, 1] = nb[0, 2, 3] = nb[0, 3, 2] = True
    perm = torch.tensor([0, 3, 1, 2])  # old label i becomes perm[i]
    relabelled = perm[instances]
    nb_new = torch.zeros_like(nb)
    nb_new[0, perm[:, None], perm[None, :]] = nb[0]
    a = cosine_embedding_loss(embeddings, instances, nb, full())
    b = cosine_embedding_loss(embeddings, relabelled, nb_new, full())
    for x, y in zip(a.as_floats().values(), b.as_floats().values(), strict=True):
        assert x == pytest.approx(y, abs=1e-6)


def test_background_term() -> None:
    instances = scene(k=2)
    embeddings = one_hot_embeddings(instances, [1, 1, 2])  # background along instance 1
    nb = all_pairs(2)
    none = cosine_embedding_loss(embeddings, instances, nb, frames(False, False))
    assert none.background_pull.item() == none.background_push.item() == 0.0
    some = cosine_embedding_loss(embeddings, instances, nb, frames(False, True))
    assert some.background_pull.item() == pytest.approx(0.0, abs=1e-6)
    assert some.background_push.item() > 0.3  # half the foreground lies along the background
    torch.manual_seed(0)
    embeddings[:, :, :, instances[0, 0] == 0] = torch.randn(1, 2, 4, 96)  # scattered background
    misaligned = cosine_embedding_loss(embeddings, instances, nb, frames(False, True))
    assert misaligned.background_pull.item() > 0.1


def test_valid_mask_hides_pixels() -> None:
    instances = scene(k=2)
    embeddings = one_hot_embeddings(instances, [0, 1, 2])
    embeddings[..., 0, :] = torch.randn(4, 12)  # garbage in row 0, masked out
    valid = torch.ones_like(instances, dtype=torch.bool)
    valid[..., 0, :] = False
    terms = cosine_embedding_loss(embeddings, instances, all_pairs(2), full(), valid)
    assert terms.total.item() == pytest.approx(0.0, abs=1e-6)


def test_unknown_pixels_are_neither_instance_nor_background() -> None:
    instances = scene(k=2)
    embeddings = one_hot_embeddings(instances, [0, 1, 2])
    background = instances == 0
    background[..., :, 8:] = False  # near a cell known only by its marker: outline unknown
    embeddings[..., :, 9:] = torch.randn(1, 2, 4, 12, 3)  # anything goes there
    terms = cosine_embedding_loss(embeddings, instances, all_pairs(2), background)
    assert terms.total.item() == pytest.approx(0.0, abs=1e-6)
    known = cosine_embedding_loss(embeddings, instances, all_pairs(2), full())
    assert known.background_pull.item() > 0.1


@pytest.mark.parametrize("case", ["zeros", "background_only", "no_background", "absent_instance"])
def test_degenerate_cases_have_finite_gradients(case: str) -> None:
    torch.manual_seed(0)
    instances, full_seg, nb = scene(k=2), full(), all_pairs(4)  # labels 3 and 4 never occur
    embeddings = torch.randn(1, 2, 4, 12, 12)
    if case == "zeros":
        embeddings = torch.zeros_like(embeddings)
    elif case == "background_only":
        instances = torch.zeros_like(instances)
    elif case == "no_background":
        full_seg = torch.zeros_like(full_seg)
    embeddings.requires_grad_(True)
    terms = stacked_loss([embeddings, 2 * embeddings], instances, nb, full_seg)
    terms.total.backward()
    assert all(np.isfinite(v) for v in terms.as_floats().values())
    assert torch.isfinite(embeddings.grad).all()


def test_stacked_loss_sums_stacks() -> None:
    torch.manual_seed(0)
    instances, nb = scene(k=2), all_pairs(2)
    a, b = torch.randn(2, 1, 2, 4, 12, 12)
    one = cosine_embedding_loss(a, instances, nb, full())
    both = stacked_loss([a, b], instances, nb, full())
    other = cosine_embedding_loss(b, instances, nb, full())
    assert both.total.item() == pytest.approx(one.total.item() + other.total.item())


def disc(frame: np.ndarray, cy: int, cx: int, r: int, label: int) -> None:
    yy, xx = np.ogrid[: frame.shape[0], : frame.shape[1]]
    frame[(yy - cy) ** 2 + (xx - cx) ** 2 <= r**2] = label


def test_neighbour_matrix() -> None:
    clip = np.zeros((3, 64, 64), dtype=np.int32)
    clip[:, 10:20, 10:15] = 1
    clip[:, 10:20, 15:20] = 2  # touches 1
    clip[:, 40:50, 10:15] = 3
    clip[:, 40:50, 21:26] = 4  # 3..4: pixel gap of 6 columns, distance 7 > radius 6.5
    clip[0, 30:35, 40:45] = 5
    clip[2, 30:35, 40:45] = 5
    clip[2, 30:35, 50:55] = 6  # near 5 only in frame 2
    clip[0, 0:5, 50:55] = 6
    near = neighbour_matrix(clip, count=6, radius=6.5)
    assert near.shape == (7, 7)
    assert near[1, 2] and near[2, 1]
    assert not near[3, 4]
    assert near[5, 6]
    assert (near == near.T).all()
    assert not near.diagonal().any()
    assert not near[0].any() and not near[:, 0].any()
    assert neighbour_matrix(clip, count=6, radius=7.0)[3, 4]


@pytest.mark.parametrize("radius", [1.0, 6.0, 24.0])
def test_neighbour_matrix_equals_the_pairwise_pixel_distances(radius: float) -> None:
    """The bounding-box distance transforms give what all pixel pairs give, on a crowded clip."""
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    clip = np.zeros((5, 128, 128), dtype=np.int32)
    for frame in clip:
        for label in range(1, 31):
            disc(frame, *rng.integers(6, 122, 2), 5, label)
    reach = max(radius, np.sqrt(2))
    expected = np.zeros((31, 31), dtype=bool)
    for frame in clip:
        pixels = {label: np.argwhere(frame == label) for label in np.unique(frame)[1:]}
        for i, a in pixels.items():
            for j, b in pixels.items():
                if i < j and cdist(a, b).min() <= reach:
                    expected[i, j] = expected[j, i] = True
    assert 0 < expected.sum() < 30 * 29  # some pairs near, some not: the check can tell
    np.testing.assert_array_equal(neighbour_matrix(clip, 30, radius), expected)
