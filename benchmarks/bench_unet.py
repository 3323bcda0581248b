"""Lesson 07's experiment (sections 5-6) over seeds 0-4: does the border weight map always win?

For each seed (30 training and 20 held-out "touching" images with faint 1-pixel gaps,
initialisation, augmentation draws, batch order) it trains the lesson's narrow unpadded
U-Net (width 8, depth 3) four times: plain cross-entropy, class-balanced weights only and
the full weight map (w0 = 10, sigma = 5), all with elastic deformation + rotation/flip;
and the full map with rotation/flip only. It prints the separation fraction (touching cell
pairs kept apart), mask AP and cell IoU on the held-out images and on the same images
elastically deformed ("bent"), the plain model's pixel accuracy along the image border with
mirrored or zero context, and checks the claims the notebook asserts (sections 5-6).
About 30 s a seed on an idle core.

    python benchmarks/bench_unet.py [--seeds 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from seglib.core import set_threads
from seglib.metrics import instance_scores
from seglib.models.unet import UNet, mirror_pad, predict_tiles, weight_map, weighted_cross_entropy
from seglib.synthetic import ShapesConfig, make_sample
from seglib.train import fit
from seglib.transforms import CellTiles, elastic_rot_flip


SIZE, N_TRAIN, N_VAL, WIDTH, DEPTH, EPOCHS, BATCH = 68, 30, 20, 8, 3, 10, 2
CONFIG = ShapesConfig(size=SIZE, variant="touching", cell_gap=(1, 1), gap_contrast=0.5)  # faint 1 px gaps
BAND = torch.ones(SIZE, SIZE, dtype=torch.bool)
BAND[4:-4, 4:-4] = False  # the 4-pixel band along the image border


def cells(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` touching-cell images ``[n, 3, S, S]`` and their instance maps ``[n, S, S]``."""
    samples = [make_sample(i, seed, CONFIG, return_instances=True) for i in range(n)]
    return torch.stack([s[0] for s in samples]), torch.stack([s[2] for s in samples])


def deformed(images: torch.Tensor, instances: torch.Tensor, seed: int, std: float = 10.0):
    """The held-out images bent by an elastic field of their own (mirror-padded first, so no black)."""
    torch.manual_seed(1000 + seed)
    p = 20
    pairs = [elastic_rot_flip(x, c, std=std) for x, c in zip(mirror_pad(images, p, p, p, p),
                                                            mirror_pad(instances, p, p, p, p), strict=True)]
    return (torch.stack([x[:, p:-p, p:-p] for x, _ in pairs]), torch.stack([c[p:-p, p:-p] for _, c in pairs]))


RUNS = {  # name: (weights, elastic std)
    "plain CE": (None, 10.0),
    "class-balanced": (lambda c: weight_map(c, w0=0.0), 10.0),
    "weight map": (weight_map, 10.0),
    "weight map, no elastic": (weight_map, 0.0),
}


def run(seed: int) -> dict[str, dict]:
    train, val = cells(N_TRAIN, 10 * seed), cells(N_VAL, 10 * seed + 1)
    bent = deformed(*val, seed)
    table = {}
    for name, (weights, std) in RUNS.items():
        torch.manual_seed(seed)
        model = UNet(3, 2, width=WIDTH, depth=DEPTH)
        fit(model, CellTiles(*train, model.margin, weights, std=std), epochs=EPOCHS, lr=1e-3,
            optimizer="adam", schedule="constant", batch_size=BATCH, loss_fn=weighted_cross_entropy,
            seed=seed, progress=False)
        model.eval()
        row = {}
        if weights is None:  # overlap-tile at the image border: mirrored context vs zeros
            with torch.no_grad():
                for pad in ("mirror", "zeros"):
                    logits = predict_tiles(model, val[0], SIZE + model.margin, pad=pad)
                    truth = (val[1] > 0).long()
                    ce = F.cross_entropy(logits, truth, reduction="none")
                    row[f"{pad} border acc"] = (logits.argmax(1) == truth)[:, BAND].float().mean().item()
                    row[f"{pad} border CE"] = ce[:, BAND].mean().item()
        for tag, (images, instances) in (("", val), ("bent ", bent)):
            with torch.no_grad():
                probs = predict_tiles(model, images, SIZE + model.margin).softmax(1)[:, 1]
            scores = instance_scores(probs, instances)
            fg, truth = probs > 0.5, instances > 0
            scores["IoU"] = ((fg & truth).sum() / (fg | truth).sum()).item()
            row.update({tag + k: v for k, v in scores.items()})
        table[name] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    set_threads()
    failures = []
    for seed in args.seeds:
        start = time.perf_counter()
        t = run(seed)
        print(f"seed {seed} ({time.perf_counter() - start:.0f} s)")
        for name, s in t.items():
            print(f"  {name:<24}" + "  ".join(f"{k} {v:.3f}" for k, v in s.items()))
        plain, balanced, full = t["plain CE"], t["class-balanced"], t["weight map"]
        still = t["weight map, no elastic"]
        checks = {"map keeps >= 90% of touching pairs apart": full["separation"] >= 0.9,
                  "map separates, plain does not": full["separation"] > plain["separation"] + 0.5,
                  "map separates far more than balanced": full["separation"] > balanced["separation"] + 0.25,
                  "map has the best AP": full["AP"] > max(plain["AP"], balanced["AP"]) + 0.15,
                  "elastic: AP gain on bent images": full["bent AP"] > still["bent AP"] + 0.05,
                  "elastic: separation gain on bent images":
                      full["bent separation"] > still["bent separation"],
                  "mirror beats zeros at the border (plain CE model), accuracy":
                      plain["mirror border acc"] > plain["zeros border acc"],
                  "mirror beats zeros at the border (plain CE model), cross-entropy":
                      plain["mirror border CE"] < 0.9 * plain["zeros border CE"]}
        failures += [f"seed {seed}: {name}" for name, ok in checks.items() if not ok]
    print("all orderings held" if not failures else "FLIPPED: " + "; ".join(failures))


if __name__ == "__main__":
    main()
