"""VOC 2012 download with mirrors and an md5 check, and how to get Cityscapes (it needs a login).
Every failure says which archive, which mirrors to try, and where to put the file."""
from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from torchvision.datasets.utils import download_and_extract_archive

from seglib.core import DatasetError, data_root


VOC2012_ARCHIVE = "VOCtrainval_11-May-2012.tar"
VOC2012_MD5 = "6cd6e144f989b92b3379bac3b3de84fd"
VOC2012_MIRRORS: tuple[str, ...] = (
    "https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",  # official
    "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",  # official, older
    "https://pjreddie.com/media/files/VOCtrainval_11-May-2012.tar",  # long-standing mirror
)
CITYSCAPES_ARCHIVES = ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")


def voc2012_instructions(root: str | Path) -> str:
    """Where VOC 2012 must end up, and how to put it there by hand."""
    root = Path(root)
    return (f"To get PASCAL VOC 2012: call seglib.download.download_voc2012({str(root)!r}), or download "
            f"{VOC2012_ARCHIVE} (2 GB, md5 {VOC2012_MD5}) from any of\n  " + "\n  ".join(VOC2012_MIRRORS)
            + f"\nand put it in {root} (download_voc2012 then checks and extracts it), or extract it "
            f"yourself there so that {root / 'VOCdevkit' / 'VOC2012' / 'JPEGImages'} exists. "
            f"Pass {root} (the folder that contains VOCdevkit/) as root.")


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Give up on a silent host after ``seconds`` instead of waiting forever."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def download_voc2012(root: str | Path | None = None, mirrors: Sequence[str] = VOC2012_MIRRORS,
                     md5: str = VOC2012_MD5, timeout: float = 60.0) -> Path:
    """Download (each mirror in turn, md5-checked) and extract VOC 2012 train/val into ``root`` (default
    ``data_root()``) unless it is there; return ``root``. If all fail, say what failed and what to do."""
    root = Path(root).expanduser() if root is not None else data_root()
    if (root / "VOCdevkit" / "VOC2012" / "JPEGImages").is_dir():
        return root
    failures = []
    for url in mirrors:
        try:
            with _socket_timeout(timeout):
                download_and_extract_archive(url, str(root), filename=VOC2012_ARCHIVE, md5=md5)
            return root
        except RuntimeError as exc:  # torchvision's "File not found or corrupted." = checksum mismatch
            (root / VOC2012_ARCHIVE).unlink(missing_ok=True)
            failures.append(f"{url}: the download's md5 checksum is not {md5} ({exc}); "
                            f"the partial or wrong file was deleted")
        except OSError as exc:  # URLError, HTTPError, timeouts, connection resets
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
    raise DatasetError(f"Could not download {VOC2012_ARCHIVE}:\n  " + "\n  ".join(failures)
                       + "\n" + voc2012_instructions(root))


def cityscapes_instructions(root: str | Path | None = None) -> str:
    """How to get Cityscapes, which needs a (free) login and cannot be downloaded by a script here."""
    root = Path(root) if root is not None else data_root() / "cityscapes"
    return (f"Cityscapes needs a free account: register at https://www.cityscapes-dataset.com/register/, "
            f"log in, and download {CITYSCAPES_ARCHIVES[0]} (about 11 GB, the images) and "
            f"{CITYSCAPES_ARCHIVES[1]} (241 MB, the fine labels) from "
            f"https://www.cityscapes-dataset.com/downloads/ (or `pip install cityscapesscripts`, then "
            f"`csDownload -d {root} {' '.join(CITYSCAPES_ARCHIVES)}`). "
            f"Put both zips in {root} and unzip them there, so that {root / 'leftImg8bit' / 'train'} "
            f"and {root / 'gtFine' / 'train'} exist (if the zips are there, the reader unzips them "
            f"itself). Pass {root} as root.")
