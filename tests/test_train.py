"""fit, evaluate, predict, the poly schedule and History, on a 2-layer conv net and 16x16 tensors."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from seglib import DatasetError
from seglib.train import (History, evaluate, fit, make_optimizer, poly_lr_lambda, predict,
                          seed_everything)
from seglib.train.loop import _Batches

SIZE = 16


def tiny_net(num_classes: int = 2, dropout: float = 0.0) -> nn.Module:
    """Two convolutions: enough to learn "bright red pixels are class 1"."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Dropout2d(dropout),
                         nn.Conv2d(8, num_classes, 1))


def red_data(n: int = 32, seed: int = 1) -> TensorDataset:
    """Images whose class-1 pixels are those with red > 0.5; one ignore pixel per mask."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, SIZE, SIZE, generator=g)
    masks = (images[:, 0] > 0.5).long()
    masks[:, 0, 0] = 255
    return TensorDataset(images, masks)


class RandomFlip(Dataset):
    """Flips with the global torch RNG, as a real augmentation does (so resuming must restore it)."""

    def __init__(self, base: Dataset, fail_at: int | None = None) -> None:
        self.base, self.fail_at, self.calls = base, fail_at, 0

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise KeyboardInterrupt("simulated disconnect")
        image, mask = self.base[i]
        if torch.rand(()) < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        return image, mask


# --- poly learning rate ---------------------------------------------------------------------------

def test_poly_lambda_known_values():
    f = poly_lr_lambda(total_steps=100, power=0.9)
    assert f(0) == 1.0
    assert f(50) == pytest.approx(0.5 ** 0.9)
    assert f(100) == 0.0 and f(150) == 0.0


def test_poly_lambda_drives_lambdalr_per_step():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, poly_lr_lambda(4, power=1.0))
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.1, 0.075, 0.05, 0.025])


@pytest.mark.parametrize("steps, power", [(0, 0.9), (10, -1.0)])
def test_poly_lambda_rejects_bad_arguments(steps, power):
    with pytest.raises(ValueError):
        poly_lr_lambda(steps, power)


# --- fit ------------------------------------------------------------------------------------------

def test_fit_learns_a_simple_rule_and_records_history():
    model = tiny_net()
    history = fit(model, red_data(64), red_data(16, seed=2), num_classes=2, epochs=4, lr=0.05,
                  optimizer="adam", batch_size=8, progress=False)
    assert len(history) == 4 and len(history.lr) == 4 and len(history.seconds) == 4
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val["mean_iou"][-1] > 0.7  # untrained: about 0.25-0.5
    assert set(history.val) == {"pixel_accuracy", "mean_accuracy", "mean_iou", "fw_iou"}
    # poly schedule, recorded at each epoch's first step: 8 steps per epoch, 32 in all
    assert history.lr == pytest.approx([0.05 * (1 - s / 32) ** 0.9 for s in (0, 8, 16, 24)])


def test_fit_is_reproducible_with_a_seed():
    weights = []
    for _ in range(2):
        torch.manual_seed(123)  # same initial weights
        model = tiny_net(dropout=0.2)
        fit(model, RandomFlip(red_data()), num_classes=2, epochs=2, batch_size=8, seed=7, progress=False)
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


def test_fit_accepts_a_dataloader_and_adam_and_a_callable_optimizer():
    loader = DataLoader(red_data(), batch_size=8, shuffle=True, generator=torch.Generator())
    h1 = fit(tiny_net(), loader, num_classes=2, epochs=1, optimizer="adam", progress=False)
    h2 = fit(tiny_net(), loader, num_classes=2, epochs=1, lr=0.05,
             optimizer=lambda params: torch.optim.RMSprop(params, lr=0.01), progress=False)
    assert len(h1) == len(h2) == 1 and h1.val == {} == h2.val
    # the callable's own lr is the poly schedule's base
    assert h2.lr == [pytest.approx(0.01)]


def test_make_optimizer_rejects_unknown_name():
    with pytest.raises(ValueError, match="'sgd', 'adam'"):
        make_optimizer(tiny_net(), "lbfgs", lr=0.1)


def test_class_weights_change_training_and_are_checked():
    torch.manual_seed(0)
    a = tiny_net()
    b = tiny_net()
    b.load_state_dict(a.state_dict())
    fit(a, red_data(), num_classes=2, epochs=1, batch_size=8, progress=False)
    fit(b, red_data(), num_classes=2, epochs=1, batch_size=8, class_weights=[1.0, 5.0], progress=False)
    assert not torch.equal(a[0].weight, b[0].weight)
    with pytest.raises(ValueError, match="one weight per class"):
        fit(tiny_net(), red_data(), num_classes=2, epochs=1, class_weights=[1.0, 2.0, 3.0], progress=False)


def test_ignore_pixels_do_not_count_in_the_loss():
    images, masks = red_data(8).tensors
    model = tiny_net()
    before = [p.detach().clone() for p in model.parameters()]
    history = fit(model, TensorDataset(images, torch.full_like(masks, 255)), num_classes=2, epochs=1,
                  batch_size=4, progress=False)
    # no labelled pixel: the batches are skipped instead of turning the weights into NaN (0/0 loss)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert history.train_loss == [0.0]
    # a labelled pixel whose logits change must move the weights; the same pixel set to 255 must not
    masks_one = torch.full_like(masks, 255)
    masks_one[:, 4, 4] = 1
    fit(model, TensorDataset(images, masks_one), num_classes=2, epochs=1, batch_size=4, progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_bad_labels_raise_dataset_error_naming_the_batch():
    images, masks = red_data(8).tensors
    masks = masks.clone()
    masks[3, 5, 5] = 7  # class 7 in a 2-class problem
    with pytest.raises(DatasetError, match=r"epoch 1, batch 1: items \[3\] have labels \[7\]"):
        fit(tiny_net(), DataLoader(TensorDataset(images, masks), batch_size=8), num_classes=2, epochs=1,
            progress=False)
    with pytest.raises(DatasetError, match="integer class indices"):
        fit(tiny_net(), TensorDataset(images, masks.float()), num_classes=2, epochs=1, progress=False)


def test_wrong_number_of_output_channels_is_explained():
    with pytest.raises(ValueError, match=r"expected logits \[N, 3, 16, 16\]"):
        fit(tiny_net(num_classes=2), red_data(8), num_classes=3, epochs=1, progress=False)


def test_empty_training_data_is_refused():
    empty = TensorDataset(torch.zeros(0, 3, SIZE, SIZE), torch.zeros(0, SIZE, SIZE, dtype=torch.long))
    with pytest.raises(DatasetError, match="empty"):
        fit(tiny_net(), empty, num_classes=2, epochs=1, progress=False)


def test_progress_bar_shows_only_when_asked(capsys):
    fit(tiny_net(), red_data(8), num_classes=2, epochs=1, batch_size=8, progress=False)
    assert capsys.readouterr().err == ""
    fit(tiny_net(), red_data(8), num_classes=2, epochs=1, batch_size=8, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err


def test_epoch_order_is_seeded_and_skips_whole_batches():
    data = TensorDataset(torch.arange(10).float().view(10, 1, 1, 1), torch.zeros(10, 1, 1, dtype=torch.long))
    batches = _Batches(data, batch_size=3, seed=0, num_workers=0)
    full = [b[0].flatten().long().tolist() for b in batches.epoch(1)]
    assert len(batches) == 4 and sorted(sum(full, [])) == list(range(10))
    assert [b[0].flatten().long().tolist() for b in batches.epoch(1, skip=2)] == full[2:]
    assert full != [b[0].flatten().long().tolist() for b in batches.epoch(2)]


# --- predict / evaluate ---------------------------------------------------------------------------

def test_predict_returns_argmax_labels_in_the_right_shape():
    model = tiny_net(num_classes=3)
    images = torch.rand(5, 3, SIZE, SIZE)
    labels = predict(model, images, batch_size=2)
    assert labels.shape == (5, SIZE, SIZE) and labels.dtype == torch.int64
    model.eval()
    assert torch.equal(labels, model(images).argmax(1))
    assert predict(model, images[0]).shape == (SIZE, SIZE)
    assert predict(model, list(images[:2])).shape == (2, SIZE, SIZE)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        predict(model, torch.rand(SIZE, SIZE))


def test_predict_and_evaluate_restore_training_mode():
    model = tiny_net()
    model.train()
    predict(model, torch.rand(1, 3, SIZE, SIZE))
    evaluate(model, red_data(4), num_classes=2)
    assert model.training


class Oracle(nn.Module):
    """Logits that reproduce the red > 0.5 rule exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        one = (x[:, 0] > 0.5).float()
        return torch.stack([1 - one, one], dim=1)


def test_evaluate_counts_labelled_pixels_and_scores_a_perfect_model():
    data = red_data(6)
    metrics = evaluate(Oracle(), data, num_classes=2, batch_size=4)
    labelled = (data.tensors[1] != 255).sum().item()
    assert metrics["confusion"].sum().item() == labelled == 6 * (SIZE * SIZE - 1)
    assert metrics["mean_iou"] == 1.0 and metrics["pixel_accuracy"] == 1.0
    wrong = evaluate(lambda_model(lambda x: -Oracle()(x)), data, num_classes=2)
    assert wrong["pixel_accuracy"] == 0.0 and wrong["mean_iou"] == 0.0


def lambda_model(fn):
    class Wrap(nn.Module):
        def forward(self, x):
            return fn(x)
    return Wrap()


# --- History --------------------------------------------------------------------------------------

def sample_history() -> History:
    h = History()
    h.append(1.0, lr=0.1, seconds=1.0, val={"mean_iou": 0.2, "pixel_accuracy": 0.5, "iou": torch.zeros(2)})
    h.append(0.6, lr=0.05, seconds=1.5, val={"mean_iou": 0.6, "pixel_accuracy": 0.8})
    h.append(0.7, lr=0.01, seconds=1.2, val={"mean_iou": 0.5, "pixel_accuracy": 0.9})
    return h


def test_history_best_last_and_lookup():
    h = sample_history()
    assert h.best("mean_iou") == (2, 0.6)
    assert h.best("pixel_accuracy") == (3, 0.9)
    assert h.best("train_loss") == (2, 0.6)
    assert h.last == {"epoch": 3, "train_loss": 0.7, "lr": 0.01, "seconds": 1.2,
                      "mean_iou": 0.5, "pixel_accuracy": 0.9}
    assert "iou" not in h.val  # per-class tensors are not kept per epoch
    with pytest.raises(KeyError, match="mean_iou"):
        h["fw_iou"]
    assert History().last == {}
    with pytest.raises(ValueError):
        History().best("train_loss")


def test_history_round_trips_through_plain_dicts():
    h = sample_history()
    d = h.as_dict()
    assert History.from_dict(d) == h
    d["train_loss"].append(9.0)  # as_dict copies
    assert len(h) == 3


def test_history_plot_has_loss_and_validation_panels():
    fig = sample_history().plot()
    assert len(fig.axes) == 2
    assert [line.get_label() for line in fig.axes[1].lines] == ["val mIoU", "val pixel acc."]
    assert fig.get_size_inches().tolist() == [8, 3]
    plt.close(fig)
    fig = History(train_loss=[1.0], lr=[0.1], seconds=[1.0]).plot()
    assert len(fig.axes) == 1
    plt.close(fig)


def test_seed_everything_seeds_all_three_generators():
    import random

    import numpy as np
    seed_everything(5)
    first = (random.random(), np.random.rand(), torch.rand(()).item())
    seed_everything(5)
    assert (random.random(), np.random.rand(), torch.rand(()).item()) == first


def test_amp_and_channels_last_paths_run_on_the_cpu():
    """The CUDA defaults (bfloat16 autocast, channels-last) also work when forced on a CPU."""
    model = tiny_net()
    history = fit(model, red_data(16), red_data(8, seed=2), num_classes=2, epochs=1, batch_size=8,
                  amp=True, channels_last=True, progress=False)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert model[0].weight.dtype == torch.float32  # autocast computes in bf16, weights stay float32
    assert 0.0 <= history.val["mean_iou"][0] <= 1.0 and history.train_loss[0] > 0


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(batch_size=0), dict(checkpoint_every=0)])
def test_fit_rejects_nonsense_counts(bad):
    with pytest.raises(ValueError, match=f"{next(iter(bad))} must be >= 1"):
        fit(tiny_net(), red_data(8), **{"num_classes": 2, "epochs": 1, "progress": False, **bad})
