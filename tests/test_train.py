"""fit, evaluate, predict and the poly schedule, on a 2-layer conv net and 16x16 tensors."""
from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook
from torch.utils.data import DataLoader, Dataset, TensorDataset

from seglib.core import DatasetError
from seglib.models.fcn import FCN
from seglib.train import evaluate, fit, predict


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


# --- fit ------------------------------------------------------------------------------------------

def test_fit_learns_a_simple_rule_and_records_history():
    model = tiny_net()
    history = fit(model, red_data(64), red_data(16, seed=2), epochs=4, lr=0.05, optimizer="adam",
                  schedule="constant", batch_size=8, progress=False)
    assert set(history) == {"train_loss", "lr", "seconds", "val_pixel_accuracy", "val_mean_accuracy",
                            "val_mean_iou", "val_fw_iou"}
    assert all(len(values) == 4 for values in history.values())
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_mean_iou"][-1] > 0.7  # untrained: about 0.25-0.5
    assert history["lr"] == [0.05] * 4  # constant


def test_sgd_follows_the_poly_schedule_per_step():
    history = fit(tiny_net(), red_data(64), epochs=4, lr=0.05, batch_size=8, progress=False)
    # the last step's rate of each epoch: 8 steps per epoch, 32 in all
    assert history["lr"] == pytest.approx([0.05 * (1 - s / 32) ** 0.9 for s in (7, 15, 23, 31)])


class StepRates:
    """Every optimizer step's rates, one list per step (a global pre-step hook: fit builds its own)."""

    def __enter__(self) -> list[list[float]]:
        self.rates: list[list[float]] = []
        self.handle = register_optimizer_step_pre_hook(
            lambda opt, args, kwargs: self.rates.append([g["lr"] for g in opt.param_groups]))
        return self.rates

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def test_sgd_rates_are_bit_identical_to_the_formula_fit_had_before_schedules():
    """fit used to set ``lr * (1 - (epoch * steps + step) / (epochs * steps)) ** 0.9`` before each step
    of ``optimizer="sgd"`` only; its LambdaLR must give exactly those floats (so old runs reproduce)."""
    epochs, steps, lr = 3, 4, 0.05
    with StepRates() as rates:
        fit(tiny_net(), red_data(32), epochs=epochs, lr=lr, batch_size=8, progress=False)
    old = [[lr * (1 - (epoch * steps + step) / (epochs * steps)) ** 0.9]
           for epoch in range(epochs) for step in range(steps)]
    assert rates == old  # == on floats: bit for bit


def two_group_adam(params):
    """Adam with the first layer at 0.01 and the rest at 0.002 (fit's own rate ``lr`` is not used)."""
    params = list(params)
    return torch.optim.Adam([{"params": params[:2], "lr": 0.01}, {"params": params[2:], "lr": 0.002}])


@pytest.mark.parametrize("optimizer", ["adam", two_group_adam])
def test_every_optimizer_gets_the_poly_schedule_on_each_groups_own_rate(optimizer):
    with StepRates() as rates:
        history = fit(tiny_net(), red_data(32), epochs=2, lr=0.05, optimizer=optimizer, batch_size=8,
                      progress=False)
    starts = [0.05] if optimizer == "adam" else [0.01, 0.002]
    assert rates == [[base * (1 - t / 8) ** 0.9 for base in starts] for t in range(8)]
    assert history["lr"] == [rates[3][0], rates[7][0]]  # each epoch's last step


@pytest.mark.parametrize("optimizer", ["sgd", "adam", two_group_adam])
def test_the_constant_schedule_keeps_every_groups_rate(optimizer):
    with StepRates() as rates:
        fit(tiny_net(), red_data(16), epochs=2, lr=0.05, optimizer=optimizer, schedule="constant",
            batch_size=8, progress=False)
    assert rates == [[0.05] if optimizer != two_group_adam else [0.01, 0.002]] * 4
    message = "schedule must be one of ('poly', 'constant'), got 'step'"
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(tiny_net(), red_data(8), epochs=1, lr=0.1, schedule="step", progress=False)


def test_fit_is_reproducible_with_a_seed():
    weights = []
    for _ in range(2):
        torch.manual_seed(123)  # same initial weights
        model = tiny_net(dropout=0.2)
        fit(model, RandomFlip(red_data()), epochs=2, lr=0.01, batch_size=8, seed=7, progress=False)
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_fit_takes_a_callable_optimizer_and_a_loss_function():
    calls = []

    def weighted(logits, masks):
        calls.append(masks.shape)
        weight = torch.tensor([1.0, 5.0], device=logits.device)  # on the GPU, where fit puts the logits
        return F.cross_entropy(logits, masks, weight=weight, ignore_index=255)

    history = fit(tiny_net(), red_data(), epochs=1, lr=0.05, loss_fn=weighted,
                  optimizer=lambda params: torch.optim.RMSprop(params, lr=0.01), schedule="constant",
                  progress=False)
    assert history["lr"] == [pytest.approx(0.01)] and len(calls) == 4  # 32 samples, batches of 8
    with pytest.raises(ValueError, match="'sgd', 'adam'"):
        fit(tiny_net(), red_data(), epochs=1, lr=0.1, optimizer="lbfgs")


def test_a_dataloader_is_refused_for_training_with_the_reason():
    with pytest.raises(TypeError, match="batch_size"):
        fit(tiny_net(), DataLoader(red_data(), batch_size=8), epochs=1, lr=0.1)


def test_ignore_pixels_do_not_count_in_the_loss():
    images, masks = red_data(8).tensors
    model = tiny_net()
    before = [p.detach().clone() for p in model.parameters()]
    history = fit(model, TensorDataset(images, torch.full_like(masks, 255)), epochs=1, lr=0.05,
                  batch_size=4, progress=False)
    # no labelled pixel: the batches are skipped instead of turning the weights into NaN (0/0 loss)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert history["train_loss"] == [0.0]
    masks_one = torch.full_like(masks, 255)
    masks_one[:, 4, 4] = 1
    fit(model, TensorDataset(images, masks_one), epochs=1, lr=0.05, batch_size=4, progress=False)
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_bad_labels_name_the_dataset_index_fit_chose():
    images, masks = red_data(8).tensors
    masks = masks.clone()
    masks[3, 5, 5] = 7  # class 7 in a 2-class problem
    message = "train_data[3]'s mask: label values {7} are outside 0..1"
    with pytest.raises(DatasetError, match=re.escape(message)):
        fit(tiny_net(), TensorDataset(images, masks), epochs=1, lr=0.1, batch_size=4, progress=False)
    with pytest.raises(DatasetError, match=re.escape("integer class indices, got dtype torch.float32")):
        fit(tiny_net(), TensorDataset(images, masks.float()), epochs=1, lr=0.1, progress=False)


def test_images_of_the_wrong_type_or_layout_are_explained():
    images, masks = red_data(8).tensors
    uint8 = TensorDataset((images * 255).to(torch.uint8), masks)
    with pytest.raises(ValueError, match=r"uint8; expected float images in \[0, 1\]"):
        fit(tiny_net(), uint8, epochs=1, lr=0.1, progress=False)
    fcn = FCN(2, "32s", width=1 / 16)
    with pytest.raises(ValueError, match=r"\(8, 16, 16, 3\); expected \[N, 3, H, W\] \(channels last"):
        fit(fcn, TensorDataset(images.permute(0, 2, 3, 1), masks), epochs=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match=r"\(8, 1, 16, 16\); expected \[N, 3, H, W\]"):
        fit(fcn, TensorDataset(images[:, :1], masks), epochs=1, lr=0.1, progress=False)


def test_wrong_output_size_is_explained():
    with pytest.raises(ValueError, match=r"expected logits \[N, num_classes, 16, 16\]"):
        fit(nn.Conv2d(3, 2, 3), red_data(8), epochs=1, lr=0.1, progress=False)


def test_empty_training_data_is_refused():
    empty = TensorDataset(torch.zeros(0, 3, SIZE, SIZE), torch.zeros(0, SIZE, SIZE, dtype=torch.long))
    with pytest.raises(DatasetError, match="empty"):
        fit(tiny_net(), empty, epochs=1, lr=0.1, progress=False)


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(batch_size=0)])
def test_fit_rejects_nonsense_counts(bad):
    with pytest.raises(ValueError, match=f"{next(iter(bad))} must be >= 1"):
        fit(tiny_net(), red_data(8), **{"epochs": 1, "lr": 0.1, "progress": False, **bad})


def test_progress_bar_shows_unless_turned_off(capsys):
    fit(tiny_net(), red_data(8), epochs=1, lr=0.1, batch_size=8, progress=False)
    assert capsys.readouterr().err == ""
    fit(tiny_net(), red_data(8), epochs=1, lr=0.1, batch_size=8)
    assert "epoch 1/1" in capsys.readouterr().err


# --- predict / evaluate ---------------------------------------------------------------------------

def test_predict_returns_argmax_labels_in_the_right_shape(monkeypatch):
    # exact on the CPU; on a GPU predict runs in bfloat16 and near-ties may flip (the GPU test covers it)
    monkeypatch.setattr("seglib.train.pick_device", lambda prefer=None: torch.device(prefer or "cpu"))
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
    with pytest.raises(ValueError, match="uint8"):
        predict(model, torch.zeros(1, 3, SIZE, SIZE, dtype=torch.uint8))


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
    metrics = evaluate(Oracle(), data, batch_size=4)  # num_classes read from the logits
    assert metrics["confusion"].shape == (2, 2)
    assert evaluate(Oracle(), DataLoader(data, batch_size=1), num_classes=2)["mean_iou"] == 1.0
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




@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_evaluate_predict_use_the_gpu_and_leave_the_model_where_it_was():
    model, data = tiny_net(), red_data()
    seen = []
    model.register_forward_hook(lambda module, args, out: seen.append(out.device.type))
    history = fit(model, data, data, epochs=1, lr=0.05, progress=False)
    assert set(seen) == {"cuda"} and history["val_mean_iou"][0] >= 0.0
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert model(data.tensors[0][:2]).shape == (2, 2, SIZE, SIZE)  # works on the CPU afterwards, as before
    scores = evaluate(model, data)
    assert scores["iou"].device.type == "cpu" and scores["confusion"].device.type == "cpu"
    assert predict(model, data.tensors[0]).device.type == "cpu"
    assert seen[-1] == "cuda" and next(model.parameters()).device.type == "cpu"
    bad = TensorDataset(data.tensors[0], torch.full_like(data.tensors[1], 7))
    with pytest.raises(DatasetError):  # an error mid-training leaves the model where it was too
        fit(model, bad, epochs=1, lr=0.05, progress=False)
    assert next(model.parameters()).device.type == "cpu"


def test_loader_processes_give_the_same_training(monkeypatch):
    """Beside a GPU, fit loads batches in worker processes (one set for the whole run); on the same
    data they must give exactly the batches, hence the weights and losses, of loading in-process."""
    data = red_data()
    in_process, with_workers = tiny_net(), tiny_net()
    with_workers.load_state_dict(in_process.state_dict())
    history = fit(in_process, data, epochs=3, lr=0.05, progress=False)
    monkeypatch.setattr("seglib.train._workers", lambda device: 2)
    assert fit(with_workers, data, epochs=3, lr=0.05, progress=False)["train_loss"] == history["train_loss"]
    for p, q in zip(in_process.parameters(), with_workers.parameters(), strict=True):
        assert torch.equal(p, q)
