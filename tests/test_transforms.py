"""Joint augmentation: image and mask move together, masks stay labels, padding is ignore."""
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from seglib.core import IGNORE_INDEX
from seglib.datasets import VOCSegmentation
from seglib.fixtures import make_voc_tree
from seglib.transforms import eval_transforms, train_transforms


def _pair(h=20, w=24):
    """A mask of 4 labels (including 255) in blocks, and an image whose red channel encodes the label."""
    mask = torch.zeros(h, w, dtype=torch.int64)
    mask[: h // 2, w // 2:], mask[h // 2:, : w // 3], mask[h // 3: h // 2, : w // 4] = 3, 7, IGNORE_INDEX
    image = torch.stack([mask.float() / 255, torch.linspace(0, 1, w).expand(h, w), torch.ones(h, w)])
    return tv_tensors.Image(image), tv_tensors.Mask(mask)


def test_output_shapes_and_types():
    image, mask = train_transforms(16)(*_pair())
    assert isinstance(image, tv_tensors.Image) and image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert isinstance(mask, tv_tensors.Mask) and mask.shape == (16, 16) and mask.dtype == torch.int64
    image, mask = train_transforms((12, 18))(*_pair())
    assert image.shape == (3, 12, 18) and mask.shape == (12, 18)


def test_v2_resizes_masks_with_nearest_only():
    image, mask = _pair()
    resized = v2.Resize((37, 53))(mask)  # asks for bilinear, but a Mask always gets NEAREST
    nearest = v2.functional.resize(mask.as_subclass(torch.Tensor).unsqueeze(0).float(), [37, 53],
                                   interpolation=v2.InterpolationMode.NEAREST).squeeze(0).long()
    assert torch.equal(resized.as_subclass(torch.Tensor), nearest)
    as_plain_tensor = v2.Resize((37, 53))(mask.as_subclass(torch.Tensor).unsqueeze(0).float())
    # what a non-Mask would suffer:
    assert not set(as_plain_tensor.unique().tolist()) <= {0.0, 3.0, 7.0, 255.0}


def test_no_new_labels_under_random_scaling():
    image, mask = _pair()
    transform = train_transforms(16, scale=(0.3, 3.0), base_size=20)
    for _ in range(30):
        _, out = transform(image, mask)
        assert set(out.unique().tolist()) <= {0, 3, 7, IGNORE_INDEX}


def test_padding_is_ignore_in_mask_and_black_in_image():
    image = tv_tensors.Image(torch.ones(3, 10, 12))
    mask = tv_tensors.Mask(torch.ones(10, 12, dtype=torch.int64))
    out_image, out_mask = train_transforms(32, scale=(1.0, 1.0), base_size=10, hflip=False)(image, mask)
    padded = out_mask == IGNORE_INDEX
    assert padded.sum() == 32 * 32 - 10 * 12
    assert torch.equal(padded, out_image.sum(0) == 0)
    assert set(out_mask.unique().tolist()) == {1, IGNORE_INDEX}  # never 0 ("background")


@pytest.mark.parametrize("seed", range(6))
def test_image_and_mask_get_the_same_flip_and_crop(seed):
    torch.manual_seed(seed)
    image, mask = _pair()
    out_image, out_mask = train_transforms(14, scale=(1.0, 1.0), base_size=20)(image, mask)
    assert torch.equal((out_image[0] * 255).round().long(), out_mask.as_subclass(torch.Tensor))


def test_flip_happens_sometimes_and_only_when_asked():
    image, mask = _pair()
    def flipped(hflip):
        out_image, _ = train_transforms((20, 24), scale=(1.0, 1.0), base_size=20, hflip=hflip)(image, mask)
        return out_image[1, 0, 0] > out_image[1, 0, -1]  # green channel rises left to right unless flipped
    assert not any(flipped(False) for _ in range(20))
    assert any(flipped(True) for _ in range(20))


def test_color_jitter_changes_image_not_mask():
    image, mask = _pair()
    out_image, out_mask = train_transforms((20, 24), scale=(1.0, 1.0), base_size=20, hflip=False,
                                           color_jitter=0.5)(image, mask)
    assert torch.equal(out_mask, mask) and not torch.equal(out_image, image)


def test_eval_transforms():
    image, mask = _pair()
    same_image, same_mask = eval_transforms()(image, mask)
    assert torch.equal(same_image, image) and torch.equal(same_mask, mask)
    out_image, out_mask = eval_transforms(10)(image, mask)
    assert out_image.shape == (3, 10, 12) and out_mask.shape == (10, 12)
    out_image, out_mask = eval_transforms((8, 8))(image, mask)
    assert out_mask.shape == (8, 8) and set(out_mask.unique().tolist()) <= {0, 3, 7, IGNORE_INDEX}


def test_voc_255_survives_augmentation_and_is_never_a_class(tmp_path):
    dataset = VOCSegmentation(make_voc_tree(tmp_path), "trainval")
    augmented = VOCSegmentation(tmp_path, "trainval", transforms=train_transforms(40, base_size=48))
    for i in range(len(dataset)):
        original = set(dataset[i][1].unique().tolist())
        image, mask = augmented[i]
        values = set(mask.unique().tolist())
        assert values <= original | {IGNORE_INDEX} and IGNORE_INDEX in values
        classes = values - {IGNORE_INDEX}
        assert classes and max(classes) < VOCSegmentation.num_classes
        # what a loss sees: 255 is skipped, every other pixel is a valid class
        loss = torch.nn.functional.cross_entropy(torch.zeros(1, 21, 40, 40), mask[None],
                                                 ignore_index=IGNORE_INDEX)
        assert torch.isfinite(loss)
