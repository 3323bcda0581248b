"""One-off check: seglib.coco.coco_mask_metrics against the official pycocotools on a few cases.

pycocotools is not a dependency of the course. To run this, install it somewhere apart, e.g.
``pip install --no-deps --target /tmp/pycoco pycocotools``, then
``PYTHONPATH=/tmp/pycoco:. python scripts/compare_coco_with_pycocotools.py``. It prints AP, AP50, AP75
and AR from both and the largest difference. The committed tests (tests/test_coco.py) do not need it:
they re-implement pycocotools' matching and accumulate step in plain numpy.
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from seglib.coco import coco_mask_metrics


def box(size: int, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
    m = torch.zeros(size, size, dtype=torch.bool)
    m[top:bottom, left:right] = True
    return m


def seven_then_a_false_positive() -> list[tuple[dict, dict]]:
    """20 objects; by score 7 hits, 1 false positive, 13 hits: recall 7/20 = 0.35 lands on a COCO point."""
    gts = [box(40, 8 * (k // 5), 8 * (k % 5), 8 * (k // 5) + 6, 8 * (k % 5) + 6) for k in range(20)]
    preds = gts[:7] + [box(40, 34, 34, 40, 40)] + gts[7:]
    scores = torch.linspace(0.99, 0.5, len(preds))
    return [({"masks": torch.stack(preds), "scores": scores, "labels": torch.ones(21, dtype=torch.long)},
             {"masks": torch.stack(gts), "labels": torch.ones(20, dtype=torch.long)})]


def equal_ious() -> list[tuple[dict, dict]]:
    """P0 overlaps G0 and G1 equally (5/7); P1 is G0 exactly and overlaps G1 by 1/2."""
    g0, g1 = box(8, 0, 0, 1, 6), box(8, 0, 2, 1, 8)
    p0, p1 = box(8, 0, 1, 1, 7), g0
    return [({"masks": torch.stack([p0, p1]), "scores": torch.tensor([0.9, 0.8]),
              "labels": torch.ones(2, dtype=torch.long)},
             {"masks": torch.stack([g0, g1]), "labels": torch.ones(2, dtype=torch.long)})]


def lesson_example() -> list[tuple[dict, dict]]:
    """notebooks/02_metrics.ipynb, section 7: three objects, five predictions."""
    gt = torch.stack([box(20, 2, 2, 9, 9), box(20, 3, 12, 10, 18), box(20, 12, 4, 18, 14)])
    pred = torch.stack([box(20, 2, 2, 9, 8), box(20, 3, 3, 10, 10), box(20, 4, 11, 11, 18),
                        box(20, 12, 16, 16, 20), box(20, 12, 4, 17, 14)])
    return [({"masks": pred, "scores": torch.tensor([0.95, 0.90, 0.80, 0.60, 0.40]),
              "labels": torch.ones(5, dtype=torch.long)},
             {"masks": gt, "labels": torch.ones(3, dtype=torch.long)})]


def random_images(seed: int, n_images: int = 6, size: int = 16,
                  n_classes: int = 3) -> list[tuple[dict, dict]]:
    """Random rectangles, jittered copies as predictions, misses and junk, scores in steps of 0.05."""
    gen = torch.Generator().manual_seed(seed)

    def rand(lo: int, hi: int) -> int:
        return int(torch.randint(lo, hi, (1,), generator=gen))
    images = []
    for _ in range(n_images):
        gts, gl, preds, pl = [], [], [], []
        for _ in range(rand(1, 6)):
            top, left = rand(0, size - 6), rand(0, size - 6)
            gts.append(box(size, top, left, top + rand(3, 9), left + rand(3, 9)))
            gl.append(rand(1, n_classes + 1))
            for _ in range(rand(0, 3)):
                shift = (rand(-1, 2), rand(-1, 2)) if rand(0, 2) else (0, 0)
                preds.append(torch.roll(gts[-1], shift, (0, 1)))
                pl.append(gl[-1] if rand(0, 5) else rand(1, n_classes + 1))
        for _ in range(rand(0, 3)):
            preds.append(torch.rand(size, size, generator=gen) > 0.8)
            pl.append(rand(1, n_classes + 1))
        scores = torch.randint(1, 20, (len(preds),), generator=gen) * 0.05  # ties between images
        masks = torch.stack(preds) if preds else torch.zeros(0, size, size, dtype=torch.bool)
        labels = torch.tensor(pl, dtype=torch.long)
        images.append(({"masks": masks, "scores": scores.float(), "labels": labels},
                       {"masks": torch.stack(gts), "labels": torch.tensor(gl, dtype=torch.long)}))
    return images


def rle(mask: torch.Tensor) -> dict:
    return mask_utils.encode(np.asfortranarray(mask.numpy().astype(np.uint8)))


def pycocotools_metrics(images: list[tuple[dict, dict]]) -> dict[str, float]:
    """AP, AP50, AP75 and AR (100 detections) from pycocotools' COCOeval on the same masks."""
    h, w = images[0][1]["masks"].shape[-2:]
    anns, dets, cats = [], [], set()
    for i, (pred, target) in enumerate(images):
        for m, c in zip(target["masks"], target["labels"].tolist(), strict=True):
            x, y, bw, bh = mask_utils.toBbox(rle(m)).tolist()
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": c, "segmentation": rle(m),
                         "area": float(m.sum()), "bbox": [x, y, bw, bh], "iscrowd": 0})
            cats.add(c)
        for m, s, c in zip(pred["masks"], pred["scores"].tolist(), pred["labels"].tolist(), strict=True):
            dets.append({"image_id": i + 1, "category_id": c, "segmentation": rle(m), "score": s})
            cats.add(c)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        files = [{"id": i + 1, "height": int(h), "width": int(w)} for i in range(len(images))]
        gt.dataset = {"images": files,
                      "annotations": anns, "categories": [{"id": c, "name": str(c)} for c in sorted(cats)]}
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(dets), "segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    s = evaluation.stats
    return {"AP": float(s[0]), "AP50": float(s[1]), "AP75": float(s[2]), "AR": float(s[8])}


def main() -> None:
    cases = {"20 objects: 7 hits, a false positive, 13 hits": seven_then_a_false_positive(),
             "equal IoUs with two objects": equal_ious(), "lesson 02's worked example": lesson_example(),
             **{f"random images, seed {seed}": random_images(seed) for seed in range(5)}}
    worst = 0.0
    print(f"{'case':<48}{'metric':>7}{'pycocotools':>20}{'seglib':>20}")
    for name, images in cases.items():
        theirs = pycocotools_metrics(images)
        ours = coco_mask_metrics([p for p, _ in images], [t for _, t in images])
        for key in ("AP", "AP50", "AP75", "AR"):
            worst = max(worst, abs(theirs[key] - ours[key]))
            print(f"{name:<48}{key:>7}{theirs[key]:20.15f}{ours[key]:20.15f}")
    print(f"largest difference: {worst:.3g}")


if __name__ == "__main__":
    main()
