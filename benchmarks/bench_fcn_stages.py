"""Lesson 04's experiment (section 4) over seeds 0-4: do its asserted orderings ever flip?

For each seed (training and validation data, initialisation, batch order) it trains the
local-only baseline, FCN-32s from the shipped shape classifier, then for the same further
steps either FCN-32s on (the control) or FCN-16s from it and FCN-8s from that (the paper's
stages), and prints mIoU, boundary-band mIoU and object-class accuracy ("what"). It then
checks the lesson's claims: the local net is at chance on what (no better than always
naming the commonest shape), FCN-32s is far above it; the staged FCN-8s
beats the control in band mIoU and mIoU; its gain lies near boundaries. About 45 s a seed.

    python benchmarks/bench_fcn_stages.py [--seeds 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import TensorDataset

from seglib.core import set_threads
from seglib.metrics import BandConfusionMatrix, ConfusionMatrix, accuracy_by_distance, object_class_accuracy
from seglib.models.fcn import FCN
from seglib.models.local import LocalNet
from seglib.models.vgg import shapes_vgg16
from seglib.synthetic import ShapesDataset
from seglib.train import fit


SIZE, N_TRAIN, N_VAL = 128, 1200, 200


def run(seed: int) -> dict[str, dict]:
    """Section 4 of lesson 04 with everything seeded by ``seed``; scores per model."""
    train = TensorDataset(*ShapesDataset(N_TRAIN, size=SIZE, seed=10 * seed).materialize())
    images, masks = ShapesDataset(N_VAL, size=SIZE, seed=10 * seed + 1).materialize()
    c = 6

    def trained(model, epochs, lr=1e-3):
        fit(model, train, epochs=epochs, lr=lr, optimizer="adam", schedule="constant", seed=seed,
            progress=False)
        return model.eval()

    torch.manual_seed(seed)
    runs = {"local-only": trained(LocalNet(c), 1, lr=1e-2),
            "FCN-32s": trained(FCN(c, "32s", vgg=shapes_vgg16()), 1)}
    control = FCN(c, "32s", vgg=shapes_vgg16())
    control.load_state_dict(runs["FCN-32s"].state_dict())
    runs["FCN-32s, trained on"] = trained(control, 2)
    runs["FCN-16s"] = trained(FCN(c, "16s", vgg=shapes_vgg16()).init_from(runs["FCN-32s"]), 1)
    runs["FCN-8s"] = trained(FCN(c, "8s", vgg=shapes_vgg16()).init_from(runs["FCN-16s"]), 1)
    table = {}
    for name, model in runs.items():
        with torch.no_grad():
            logits = torch.cat([model(images[i:i + 50]) for i in range(0, N_VAL, 50)])
        whole, band = ConfusionMatrix(c), BandConfusionMatrix(c, width=2)
        whole.update(logits, masks)
        band.update(logits, masks)
        table[name] = {"mIoU": whole.compute()["mean_iou"], "band": band.compute()["mean_iou"],
                       "what": object_class_accuracy(logits, masks),
                       "rings": accuracy_by_distance(logits.argmax(1), masks)}
    return table, masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    set_threads()
    failures = []
    for seed in args.seeds:
        start = time.perf_counter()
        t, masks = run(seed)
        print(f"seed {seed} ({time.perf_counter() - start:.0f} s)")
        for name, s in t.items():
            print(f"  {name:<22} mIoU {s['mIoU']:.3f}  band mIoU {s['band']:.3f}  what {s['what']:.3f}")
        local, coarse, control, fine = t["local-only"], t["FCN-32s"], t["FCN-32s, trained on"], t["FCN-8s"]
        gain = [f - c for f, c in zip(fine["rings"], control["rings"], strict=True)]
        print("  FCN-8s minus control by distance ring:", " ".join(f"{g:+.2f}" for g in gain))
        objects = masks[masks > 0]
        chance = torch.bincount(objects).max().item() / objects.numel()
        print(f"  always naming the commonest shape: what {chance:.3f}")
        checks = {"local fails on what": local["what"] < chance + 0.05,
                  "FCN-32s does not": coarse["what"] > local["what"] + 0.15,
                  "8s beats control on band": fine["band"] > control["band"] + 0.05,
                  "8s beats control on mIoU": fine["mIoU"] > control["mIoU"] + 0.05,
                  "gain lies near boundaries": max(gain[:4]) > max(gain[-2:]) + 0.03}
        failures += [f"seed {seed}: {name}" for name, ok in checks.items() if not ok]
    print("all orderings held" if not failures else "FLIPPED: " + "; ".join(failures))


if __name__ == "__main__":
    main()
