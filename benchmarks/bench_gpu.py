"""The full profiles' training step on a CUDA GPU: time and peak memory, float32 vs mixed precision.

Each network at the size and batch of its ``python -m seglib.reproduce`` recipe, random weights
and random data (nothing is downloaded): FCN-8s and ParseNet on 320 px crops, batch 8;
DeconvNet on 224 px, batch 16; U-Net (1 -> 2 classes, paper size) on one 572 px tile. For
each, one training step (forward, loss, backward, SGD step) as ``seglib.train.fit`` runs it on
CUDA (channels-last, bfloat16 autocast) and in plain float32, timed over ``--steps`` steps after
three warm-up steps; peak memory is ``torch.cuda.max_memory_allocated`` over the timed steps. Needs a GPU.

    python benchmarks/bench_gpu.py [--steps 20] [--json results.json]
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from seglib.models.deconvnet import DeconvNet
from seglib.models.fcn import FCN
from seglib.models.parsenet import ParseNet
from seglib.models.unet import UNet
from seglib.models.vgg import vgg16
from seglib.train import _autocast


def networks() -> dict[str, tuple[nn.Module, int, int, int]]:
    """name -> (model, batch, input side, classes), as the reproduce recipes train them."""
    return {"FCN-8s": (FCN(21, "8s", vgg=vgg16()), 8, 320, 21),
            "ParseNet": (ParseNet(21, local="fc7", scale=10.0, vgg=vgg16()), 8, 320, 21),
            "DeconvNet": (DeconvNet(21, vgg=vgg16(batch_norm=True)), 16, 224, 21),
            "U-Net": (UNet(1, 2), 1, 572, 2)}


def step_time(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, mixed: bool,
              steps: int) -> tuple[float, float]:
    """Seconds per training step and peak GiB, channels-last + autocast (``mixed``) or float32."""
    device = torch.device("cuda")
    fmt = torch.channels_last if mixed else torch.contiguous_format
    model.to(device, memory_format=fmt).train()
    images = images.to(device, memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9)
    for i in range(steps + 3):
        if i == 3:  # after cuDNN has tried its algorithms (their workspaces are not the step's memory)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
        with _autocast(device) if mixed else torch.autocast("cuda", enabled=False):
            logits = model(images)
        loss = F.cross_entropy(logits.float(), masks[..., :logits.shape[-2], :logits.shape[-1]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps, torch.cuda.max_memory_allocated() / 2 ** 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu needs a CUDA GPU")
    torch.backends.cudnn.benchmark = True
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    rows = {}
    for name, (model, batch, side, classes) in networks().items():
        channels = 1 if name == "U-Net" else 3
        images = torch.rand(batch, channels, side, side)
        masks = torch.randint(0, classes, (batch, side, side), device="cuda")
        rows[name] = {"batch": batch, "side": side}
        for label, mixed in (("float32", False), ("mixed", True)):
            seconds, gib = step_time(model, images, masks, mixed, args.steps)
            rows[name][label] = {"ms_per_step": 1000 * seconds, "peak_gib": gib,
                                 "images_per_s": batch / seconds}
        f32, mix = rows[name]["float32"], rows[name]["mixed"]
        print(f"{name:<10} batch {batch:>2} at {side} px: float32 {f32['ms_per_step']:7.1f} ms "
              f"{f32['peak_gib']:5.1f} GiB | channels-last + autocast {mix['ms_per_step']:7.1f} ms "
              f"{mix['peak_gib']:5.1f} GiB ({f32['ms_per_step'] / mix['ms_per_step']:.1f}x faster, "
              f"{mix['images_per_s']:.0f} images/s)", flush=True)
        model.cpu()
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
