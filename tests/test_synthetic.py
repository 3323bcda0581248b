"""Tests for the offline synthetic datasets: each variant holds the problem it promises."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2

from seglib.synthetic import CLASSES, SyntheticConfig, SyntheticDataset, make_batch, make_sample


N = 200  # samples per statistical check: enough for stable counts, fast on a CPU


def erode(binary: torch.Tensor) -> torch.Tensor:
    """One 3x3 binary erosion of an ``[H, W]`` bool map (a pixel survives if all 8 neighbours are set)."""
    return -F.max_pool2d(-binary[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0.5


def dilate(binary: torch.Tensor, radius: int) -> torch.Tensor:
    return F.max_pool2d(binary[None, None].float(), 2 * radius + 1, stride=1, padding=radius)[0, 0] > 0.5


def samples(variant: str, n: int = N, **overrides) -> list[tuple[torch.Tensor, ...]]:
    config = SyntheticConfig(variant=variant, **overrides)
    return [make_sample(i, 0, config, return_instances=True) for i in range(n)]


# --- basic contract ----------------------------------------------------------------------

def test_variants_list_background_first():
    assert set(CLASSES) == {"shapes", "context", "thin", "touching"}
    for names in CLASSES.values():
        assert names[0] == "background" and len(set(names)) == len(names) >= 2
    assert len(CLASSES["shapes"]) == 6


@pytest.mark.parametrize("variant", sorted(CLASSES))
@pytest.mark.parametrize("size", [64, 96])
def test_sample_shapes_dtypes_and_ranges(variant, size):
    config = SyntheticConfig(size=size, variant=variant)
    for index in range(5):
        image, mask, instances = make_sample(index, 3, config, return_instances=True)
        assert image.shape == (3, size, size) and image.dtype == torch.float32
        assert mask.shape == (size, size) and mask.dtype == torch.int64
        assert instances.shape == (size, size) and instances.dtype == torch.int64
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert 0 <= mask.min() and mask.max() < len(CLASSES[variant])
        assert ((instances > 0) <= (mask > 0)).all()  # every object pixel has a class


@pytest.mark.parametrize("variant", sorted(CLASSES))
def test_same_seed_and_index_give_the_same_sample(variant):
    config = SyntheticConfig(variant=variant)
    image, mask = make_sample(7, 1, config)
    for other in range(3):  # other calls in between must not matter
        make_sample(other, 1, config)
    again_image, again_mask = make_sample(7, 1, config)
    assert torch.equal(image, again_image) and torch.equal(mask, again_mask)
    assert not torch.equal(image, make_sample(8, 1, config)[0])
    assert not torch.equal(image, make_sample(7, 2, config)[0])


def test_make_batch_equals_stacked_samples():
    config = SyntheticConfig(variant="thin", size=48)
    images, masks = make_batch(4, seed=5, config=config, start=10)
    assert images.shape == (4, 3, 48, 48) and masks.shape == (4, 48, 48)
    for i in range(4):
        image, mask = make_sample(10 + i, 5, config)
        assert torch.equal(images[i], image) and torch.equal(masks[i], mask)
    empty_images, empty_masks = make_batch(0)
    assert empty_images.shape == (0, 3, 64, 64) and empty_masks.dtype == torch.int64


@pytest.mark.parametrize("variant", sorted(CLASSES))
def test_every_class_appears(variant):
    counts = torch.zeros(len(CLASSES[variant]), dtype=torch.int64)
    for _, mask, _ in samples(variant):
        counts += torch.bincount(mask.flatten(), minlength=len(counts))
    share = counts / counts.sum()
    assert (share > 0.01).all(), f"{variant}: class shares {share.tolist()}"


# --- "shapes": FCN's sizes and fine parts ------------------------------------------------------

def test_shapes_objects_range_from_small_to_large():
    areas, spreads = [], []
    for _, _, instances in samples("shapes"):
        sizes = torch.bincount(instances.flatten())[1:]
        sizes = sizes[sizes > 0]
        areas += sizes.tolist()
        spreads.append(sizes.max() / sizes.min())
    areas = torch.tensor(areas, dtype=torch.float32)
    image_area = 64 * 64
    # Objects start at 12 px across (smaller ones have no recognisable outline), up to 3/4 of the image.
    assert (areas <= 150).float().mean() > 0.3, "too few small objects (<= 150 px, about 12 px across)"
    assert (areas >= 0.15 * image_area).sum() > 20, "too few objects covering a large part"
    assert (torch.tensor(spreads) >= 5).float().mean() > 0.5, "most images should mix small and large"


def test_shapes_rings_and_crosses_have_thin_parts():
    lost = {}
    for name in ("disc", "ring", "cross"):
        label = CLASSES["shapes"].index(name)
        before = after = 0
        for _, mask, _ in samples("shapes", n=100):
            region = mask == label
            before += int(region.sum())
            after += int(erode(region).sum())
        lost[name] = 1 - after / before
    assert lost["ring"] > 0.5 and lost["cross"] > 0.5, lost  # mostly 1-3 px bands
    assert lost["disc"] < 0.4, lost


def test_instances_are_numbered_consecutively_with_one_class_each():
    for _, mask, instances in samples("shapes", n=30):
        ids = instances.unique()
        assert torch.equal(ids, torch.arange(len(ids)))
        for k in ids[1:]:
            assert mask[instances == k].unique().numel() == 1


# --- "context": ParseNet's far-away cue ---------------------------------------------------------

def test_context_same_blobs_change_class_with_the_frame():
    frame = 64 // 16
    for index in range(20):
        water = make_sample(index, 0, SyntheticConfig(variant="context", context_cue="water"))
        grass = make_sample(index, 0, SyntheticConfig(variant="context", context_cue="grass"))
        inside = (slice(None), slice(frame, -frame), slice(frame, -frame))
        assert torch.equal(water[0][inside], grass[0][inside])  # pixel-identical scene...
        assert not torch.equal(water[0], grass[0])  # ...but a different frame
        blobs = water[1] > 0
        assert blobs.any() and torch.equal(blobs, grass[1] > 0)
        assert (water[1][blobs] == CLASSES["context"].index("boat")).all()
        assert (grass[1][blobs] == CLASSES["context"].index("car")).all()


def test_context_blobs_stay_far_from_the_cue():
    seen = set()
    for _, mask, _ in samples("context"):
        classes = set(mask.unique().tolist()) - {0}
        assert len(classes) == 1, "one scene, one cue, one class"
        seen |= classes
        rows, cols = torch.nonzero(mask, as_tuple=True)
        distance = torch.stack([rows, cols, 63 - rows, 63 - cols]).min()
        assert distance >= 14  # 4 px frame + 10 px: far outside a small receptive field
    assert seen == {1, 2}


# --- "thin": DeconvNet's wires ----------------------------------------------------------------

def test_thin_wires_vanish_after_one_erosion():
    wire, kept = 0, 0
    for _, mask, _ in samples("thin"):
        region = mask == CLASSES["thin"].index("wire")
        assert region.sum() >= 20, "every image has at least one wire"
        wire += int(region.sum())
        kept += int(erode(region).sum())
    assert kept / wire < 0.01, f"{kept} of {wire} wire pixels survive an erosion"


def test_thin_wires_are_one_or_two_pixels_wide():
    def wire_pixels(width: int) -> int:
        config = SyntheticConfig(variant="thin", line_width=(width, width))
        return sum(int((make_sample(i, 0, config)[1] == 1).sum()) for i in range(30))

    assert 1.6 < wire_pixels(2) / wire_pixels(1) < 2.4  # the same wires, twice the pixels


# --- "touching": U-Net's cells ------------------------------------------------------------------

def test_touching_cells_are_separated_by_thin_gaps():
    touching_pairs = []
    for _, mask, instances in samples("touching", n=50):
        assert torch.equal(instances > 0, mask == 1)
        k = int(instances.max())
        assert k >= 4 and torch.equal(instances.unique(), torch.arange(k + 1))
        pairs = 0
        for i in range(1, k + 1):
            cell = instances == i
            # no other cell among the 8 neighbours: a gap of at least 1 px...
            assert not ((instances[dilate(cell, 1)] > 0) & (instances[dilate(cell, 1)] != i)).any()
            # ...and at most 2 px to some neighbour: the cells touch
            near = instances[dilate(cell, 2)]
            pairs += int(near[(near > 0) & (near != i)].unique().numel())
        touching_pairs.append(pairs // 2)
    assert min(touching_pairs) >= 1 and sum(touching_pairs) / len(touching_pairs) >= 5


def one_pixel_separators(instances: torch.Tensor) -> int:
    """Background pixels with two different cells among their 8 neighbours."""
    cover = sum(dilate(instances == k, 1).int() for k in range(1, int(instances.max()) + 1))
    return int(((cover >= 2) & (instances == 0)).sum())


def test_touching_gap_width_follows_the_config():
    """With 1 px gaps, many background pixels sit between two cells; with 2 px, few do."""
    counts = {}
    for gap in (1, 2):
        config = SyntheticConfig(variant="touching", cell_gap=(gap, gap))
        counts[gap] = sum(one_pixel_separators(make_sample(i, 0, config, return_instances=True)[2])
                          for i in range(20))
    assert counts[1] > 20 * 100 and counts[2] < 0.25 * counts[1], counts


# --- the dataset ------------------------------------------------------------------------------

def test_dataset_returns_tv_tensors_and_checks_indices():
    data = SyntheticDataset(10, size=48, variant="touching", seed=3)
    assert len(data) == 10 and data.classes == CLASSES["touching"] and data.num_classes == 2
    image, mask = data[4]
    assert isinstance(image, tv_tensors.Image) and isinstance(mask, tv_tensors.Mask)
    assert image.shape == (3, 48, 48) and mask.dtype == torch.int64
    assert torch.equal(mask, make_sample(4, 3, data.config)[1])
    assert torch.equal(data[-1][0], data[9][0])
    for bad in (10, -11):
        with pytest.raises(IndexError):
            data[bad]


def test_dataset_v2_transforms_keep_the_mask_labels():
    plain = SyntheticDataset(4)
    flipped = SyntheticDataset(4, transforms=v2.RandomHorizontalFlip(p=1.0))
    resized = SyntheticDataset(4, transforms=v2.Compose([v2.RandomHorizontalFlip(p=1.0), v2.Resize(40)]))
    for i in range(4):
        image, mask = plain[i]
        f_image, f_mask = flipped[i]
        assert torch.equal(f_image, image.flip(-1)) and torch.equal(f_mask, mask.flip(-1))
        r_image, r_mask = resized[i]
        assert isinstance(r_mask, tv_tensors.Mask) and r_mask.dtype == torch.int64
        assert r_image.shape == (3, 40, 40) and r_mask.shape == (40, 40)
        assert set(r_mask.unique().tolist()) <= set(mask.unique().tolist())  # nearest, no blends


def test_dataset_materialize_and_config_overrides():
    data = SyntheticDataset(6, size=32, seed=2, num_objects=(1, 2), noise=0.0)
    images, masks = data.materialize()
    assert images.shape == (6, 3, 32, 32)
    assert torch.equal(images[5], data[5][0]) and torch.equal(masks[5], data[5][1])
    assert data.config.num_objects == (1, 2) and data.config.noise == 0.0


# --- clear errors --------------------------------------------------------------------------

@pytest.mark.parametrize("bad, field", [
    ({"size": 8}, "size"),
    ({"size": 64.0}, "size"),
    ({"variant": "circles"}, "variant"),
    ({"num_objects": (5, 2)}, "num_objects"),
    ({"num_objects": (0, 2)}, "num_objects"),
    ({"min_object_size": 0.5}, "min_object_size"),
    ({"min_object_size": 60.0}, "min_object_size"),
    ({"max_object_fraction": 0.0}, "max_object_fraction"),
    ({"noise": -0.1}, "noise"),
    ({"hue_jitter": 40.0}, "hue_jitter"),
    ({"num_distractors": (1,)}, "num_distractors"),
    ({"line_width": (0, 2)}, "line_width"),
    ({"cell_gap": (1, 3)}, "cell_gap"),
    ({"context_cue": "sky"}, "context_cue"),
])
def test_bad_config_raises_a_clear_error(bad, field):
    with pytest.raises(ValueError, match=field):
        SyntheticConfig(**bad)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="index"):
        make_sample(-1)
    with pytest.raises(ValueError, match="n must be"):
        make_batch(-1)
    with pytest.raises(ValueError, match="n must be"):
        SyntheticDataset(-5)
    with pytest.raises(ValueError, match="colour_noise"):
        SyntheticDataset(5, colour_noise=0.1)
    with pytest.raises(ValueError, match="variant"):
        SyntheticDataset(5, variant="nope")


def test_shapes_classes_share_one_colour_family_so_no_local_colour_tells_the_class():
    """Lesson 04 needs 'what' to come from the outline: per-class mean colours must agree."""
    images, masks = SyntheticDataset(150, size=64, seed=3).materialize()
    means = torch.stack([images.permute(1, 0, 2, 3)[:, masks == k].mean(1) for k in range(1, 6)])
    assert (means - means.mean(0)).abs().max() < 0.06
