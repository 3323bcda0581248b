"""Pretrain the quick profile's VGG16 as a shape classifier: the course's stand-in for ImageNet.

FCN (Long et al., 2015) starts from a VGG16 trained to classify ImageNet photos. The quick
profile cannot download those weights, and a narrow VGG16 trained from scratch on
segmentation learns too slowly for a CPU lesson. So, once, offline, we train the quick
VGG16 (1/8 of the channels, batch norm, 96 x 96 inputs, hence a 3 x 3 fc6) to name the one
shape in an image, and ship the weights in ``seglib/weights``. Lesson 04 then does what the
paper did: convolutionalize the classifier and fine-tune it for segmentation.

    python scripts/pretrain_shapes_vgg.py            # about 10-20 minutes on 2 CPU cores

Lesson 05 also ships a plain one (no batch norm), whose layers' feature norms really differ:

    python scripts/pretrain_shapes_vgg.py --no-batch-norm --init glorot --lr 1e-4   # about 8 minutes
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from seglib.models.vgg import PLAIN_SHAPES_WEIGHTS, SHAPES_CLASSES, SHAPES_WEIGHTS, vgg16
from seglib.synthetic import SyntheticConfig, make_sample


SIZE = 96
CONFIG = SyntheticConfig(size=SIZE, num_objects=(1, 1), min_object_size=12.0, max_object_fraction=0.9)


def batch(n: int, start: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images with one labelled shape each, and that shape's class (0..4)."""
    pairs = [make_sample(start + i, seed, CONFIG) for i in range(n)]
    return torch.stack([x for x, _ in pairs]), torch.tensor([int(m.max()) - 1 for _, m in pairs])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-batch-norm", action="store_true",
                        help="plain VGG16, lesson 05's real scale gap (with --init glorot --lr 1e-4: 0.74 "
                             "accuracy, pool3 and fc7 norms 67x apart; He-initialised, 0.74 too, they differ "
                             "by 6x only)")
    parser.add_argument("--init", choices=("he", "glorot"), default="he", help="with --no-batch-norm")
    args = parser.parse_args()
    if args.out is None:
        args.out = PLAIN_SHAPES_WEIGHTS if args.no_batch_norm else SHAPES_WEIGHTS
    torch.manual_seed(0)
    model = vgg16(width=1 / 8, num_classes=len(SHAPES_CLASSES), batch_norm=not args.no_batch_norm,
                  pool5_grid=SIZE // 32)
    if args.no_batch_norm:  # without batch norm, 16 layers do not train from VGG's N(0, 0.01) start
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                if args.init == "he":   # keeps every layer's scale level
                    torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                else:                   # Glorot: trained, its pool3 and fc7 norms differ 67x (shipped)
                    torch.nn.init.xavier_normal_(m.weight)
                torch.nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(model.parameters(), args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (1 - s / args.steps) ** 0.9)
    val_x, val_y = batch(1000, 0, seed=1)
    start, best = time.perf_counter(), 0.0
    for step in range(args.steps):
        x, y = batch(args.batch, step * args.batch, seed=0)
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 250 == 0 or step + 1 == args.steps:
            model.eval()
            with torch.no_grad():
                acc = sum((model(val_x[i:i + 250]).argmax(1) == val_y[i:i + 250]).sum().item()
                          for i in range(0, len(val_x), 250)) / len(val_x)
            print(f"step {step + 1}: loss {loss.item():.3f}, validation accuracy {acc:.3f}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            if acc >= best:
                best = acc
                args.out.parent.mkdir(parents=True, exist_ok=True)
                torch.save(model.state_dict(), args.out)
    print(f"best validation accuracy {best:.3f}; weights in {args.out}")


if __name__ == "__main__":
    main()
