"""Lesson 05's experiment (section 5) over seeds 0-4: do its asserted orderings ever flip?

For each seed (training and validation data, initialisation, batch order) it trains, on the
``"context"`` data (grey blobs whose class only the far-away frame's colour tells), FCN-32s
and ParseNet variants from the shipped shape classifier, all for the same steps: ParseNet
(pool3 map + global fc7 vector, both L2-normalised, scales from 20, early fusion), the same
with late fusion, with the scales fixed at 1, and plain concatenation without normalisation,
with and without a 100x scale gap between the two features. It prints mIoU and "what"
(object-class accuracy: boat vs car on blob pixels, chance 0.5) and checks the lesson's claims:
FCN-32s at chance on what ("at chance": within 0.05 of always naming the commonest class),
ParseNet near perfect, scale 1 fails, the raw concatenation with the gap fails, without the
gap it learns. Late fusion (not trained in the lesson) is printed but not asserted: it is the
same function as early fusion, so its row shows how much a run's outcome moves when only the
float rounding of one sum differs. About 40 s a seed on an idle core.

    python benchmarks/bench_parsenet.py [--seeds 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import TensorDataset

from seglib.core import set_threads
from seglib.metrics import ConfusionMatrix, object_class_accuracy
from seglib.models.fcn import FCN
from seglib.models.parsenet import ParseNet
from seglib.models.vgg import shapes_vgg16
from seglib.synthetic import ShapesDataset
from seglib.train import fit


SIZE, N_TRAIN, N_VAL, EPOCHS, LR, BATCH, GAP = 128, 600, 100, 1, 2e-3, 8, 0.01


class Scale(nn.Module):
    """Multiplies by a fixed factor: a feature ``factor`` times smaller than it was (section 5)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def models() -> dict[str, nn.Module]:
    """The lesson's table: name -> untrained model (call under a fixed seed)."""
    def parsenet(**kw):
        return ParseNet(3, local="pool3", vgg=shapes_vgg16(), **kw)
    gap = parsenet(normalize=False)
    gap.norm_global = Scale(GAP)
    return {"FCN-32s": FCN(3, "32s", vgg=shapes_vgg16()),
            "ParseNet": parsenet(scale=20.0),
            "ParseNet, late fusion": parsenet(scale=20.0, fusion="late"),
            "L2 norm, scale fixed at 1": parsenet(scale=1.0, learn_scale=False),
            "concat, no norm": parsenet(normalize=False),
            "concat, no norm, 100x gap": gap}


def run(seed: int) -> dict[str, dict]:
    """Section 5 of lesson 05 with everything seeded by ``seed``; scores per model."""
    train = TensorDataset(*ShapesDataset(N_TRAIN, size=SIZE, variant="context", seed=10 * seed).materialize())
    images, masks = ShapesDataset(N_VAL, size=SIZE, variant="context", seed=10 * seed + 1).materialize()
    table = {}
    for name in models():
        torch.manual_seed(seed)
        model = models()[name]
        start = time.perf_counter()
        history = fit(model, train, epochs=EPOCHS, lr=LR, optimizer="adam", schedule="constant",
                      batch_size=BATCH, seed=seed, progress=False)
        model.eval()
        with torch.no_grad():
            logits = model(images)
        cm = ConfusionMatrix(3)
        cm.update(logits, masks)
        table[name] = {"mIoU": cm.compute()["mean_iou"], "what": object_class_accuracy(logits, masks),
                       "loss": history["train_loss"][-1], "s": time.perf_counter() - start}
    objects = masks[masks > 0]
    table["(commonest class)"] = {"what": torch.bincount(objects).max().item() / objects.numel(),
                                  "mIoU": float("nan"), "loss": float("nan"), "s": 0.0}
    return table


def failures(t: dict[str, dict]) -> list[str]:
    """The lesson's asserted orderings that do not hold in table ``t``."""
    chance = t["(commonest class)"]["what"] + 0.05
    claims = {
        "FCN-32s at chance on what": t["FCN-32s"]["what"] < chance,
        "ParseNet near perfect on what (> 0.95)": t["ParseNet"]["what"] > 0.95,
        "ParseNet mIoU > FCN-32s mIoU + 0.2": t["ParseNet"]["mIoU"] > t["FCN-32s"]["mIoU"] + 0.2,
        "scale fixed at 1 at chance on what": t["L2 norm, scale fixed at 1"]["what"] < chance,
        "no norm with the gap at chance on what": t["concat, no norm, 100x gap"]["what"] < chance,
        "no norm without a gap learns the context (what > 0.9)": t["concat, no norm"]["what"] > 0.9,
    }
    return [claim for claim, held in claims.items() if not held]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    set_threads()
    tables, failed = {}, []
    for seed in args.seeds:
        start = time.perf_counter()
        tables[seed] = t = run(seed)
        print(f"seed {seed} ({time.perf_counter() - start:.0f} s)", flush=True)
        for name, s in t.items():
            print(f"  {name:<28} mIoU {s['mIoU']:.3f}  what {s['what']:.3f}  loss {s['loss']:.3f}  "
                  f"{s['s']:.0f} s", flush=True)
        failed += [f"seed {seed}: {claim}" for claim in failures(t)]
    print("\nrange over seeds", args.seeds)
    for name in tables[args.seeds[0]]:
        for key in ("mIoU", "what"):
            values = [tables[s][name][key] for s in args.seeds]
            print(f"  {name:<28} {key:<5} {min(values):.3f} - {max(values):.3f}")
    print("all orderings held" if not failed else "FAILED:\n  " + "\n  ".join(failed))


if __name__ == "__main__":
    main()
