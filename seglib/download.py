"""VOC 2012 download with mirrors and an md5 check, the cell tracking challenge's PhC-C2DH-U373, and how to
get Cityscapes (it needs a login). Every failure says which archive, which mirrors to try, and where to put
the file."""
from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from torchvision.datasets.utils import download_and_extract_archive, download_url

from seglib.core import DatasetError, data_root


VOC2012_ARCHIVE = "VOCtrainval_11-May-2012.tar"
VOC2012_MD5 = "6cd6e144f989b92b3379bac3b3de84fd"  # torchvision/datasets/voc.py's, for this archive
VOC2012_MIRRORS: tuple[str, ...] = (
    # d2l's copy on S3 (d2l-ai/d2l-en: DATA_HUB['voc2012'] = DATA_URL + 'VOCtrainval_11-May-2012.tar'),
    # the one named as still serving it in pytorch/vision#9269 and #9335 (2025-26)
    "http://d2l-data.s3-accelerate.amazonaws.com/VOCtrainval_11-May-2012.tar",
    # the official hosts: "blocked by firewall policy" since late 2025 (pytorch/vision#9269); kept, last,
    # in case they serve again. pjreddie.com's long-standing copy is gone and is no longer tried.
    "https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
    "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
)
VOC2012_KAGGLE = "https://www.kaggle.com/datasets/watanabe2362/voctrainval-11may2012"
"""A copy on Kaggle (listed in pytorch/vision#9269; needs a Kaggle login, so a browser download)."""
CITYSCAPES_ARCHIVES = ("leftImg8bit_trainvaltest.zip", "gtFine_trainvaltest.zip")


def voc2012_instructions(root: str | Path) -> str:
    """Where VOC 2012 must end up, and how to put it there by hand (a browser, or Kaggle's copy).
    First used in notebooks/01_datasets.ipynb, section 6."""
    root = Path(root)
    return (f"To get PASCAL VOC 2012: call seglib.download.download_voc2012({str(root)!r}), or download "
            f"{VOC2012_ARCHIVE} (2 GB, md5 {VOC2012_MD5}) in a browser from any of\n  "
            + "\n  ".join(VOC2012_MIRRORS)
            + f"\nand save it as {root / VOC2012_ARCHIVE} (download_voc2012 then checks its md5 and extracts "
            f"it, offline), or take Kaggle's copy ({VOC2012_KAGGLE}, a free login) and extract it so that "
            f"{root / 'VOCdevkit' / 'VOC2012' / 'JPEGImages'} exists. "
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
    ``data_root()``) unless it is there; return ``root``. If all fail, say what failed and what to do.
    First used in notebooks/01_datasets.ipynb, section 2."""
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


U373 = "PhC-C2DH-U373"
U373_URL = "http://data.celltrackingchallenge.net/training-datasets/PhC-C2DH-U373.zip"
U373_SHA256: str | None = None
"""Not pinned yet: no machine with a network has read the archive. ``download_u373`` prints its sha256 and
md5; pin the sha256 here once two downloads agree."""


def _file_digests(path: str | Path) -> dict[str, str]:
    """``{"sha256": ..., "md5": ...}`` of a file, read in 1 MiB chunks (for archives of gigabytes)."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha256.update(chunk)
            md5.update(chunk)
    return {"sha256": sha256.hexdigest(), "md5": md5.hexdigest()}


def download_u373(root: str | Path | None = None, sha256: str | None = U373_SHA256,
                  timeout: float = 60.0) -> Path:
    """The cell tracking challenge's PhC-C2DH-U373 training set (sequences 01, 02) in ``root/PhC-C2DH-U373``:
    downloaded unless ``root/PhC-C2DH-U373.zip`` is there (put by hand), extracted; prints the archive's
    sha256 and md5, checked against ``sha256`` once pinned. Returns the dataset folder.
    Used by seglib.reproduce for lesson 07's full profile (not built in a lesson)."""
    from zipfile import BadZipFile, ZipFile
    root = Path(root).expanduser() if root is not None else data_root()
    folder, archive = root / U373, root / f"{U373}.zip"
    if (folder / "01").is_dir():
        return folder
    by_hand = (f"Download {U373_URL} in a browser (celltrackingchallenge.net, 2D datasets, {U373}, training "
               f"data) and save it as {archive}; the same call then checks and extracts it, offline.")
    if not archive.exists():
        try:
            with _socket_timeout(timeout):
                download_url(U373_URL, str(root), filename=archive.name)
        except OSError as exc:
            archive.unlink(missing_ok=True)
            raise DatasetError(f"could not download {U373_URL} ({type(exc).__name__}: {exc}). "
                               f"{by_hand}") from exc
    digests = _file_digests(archive)
    print(f"{archive}: sha256 {digests['sha256']}, md5 {digests['md5']}")
    if sha256 is not None and digests["sha256"] != sha256:
        raise DatasetError(f"{archive} has sha256 {digests['sha256']}, not {sha256}: corrupt or another "
                           f"file. Delete it. {by_hand}")
    try:
        with ZipFile(archive) as zf:
            zf.extractall(root)
    except BadZipFile as exc:
        raise DatasetError(f"{archive} is not a zip archive ({exc}): an error page or a partial download? "
                           f"Delete it. {by_hand}") from exc
    if not (folder / "01").is_dir():
        found = sorted(p.name for p in root.iterdir())
        raise DatasetError(f"{archive} did not contain {U373}/01 (found {found}). {by_hand}")
    return folder


def cityscapes_instructions(root: str | Path | None = None) -> str:
    """How to get Cityscapes, which needs a (free) login and cannot be downloaded by a script here.
    First used in notebooks/01_datasets.ipynb, section 3."""
    root = Path(root) if root is not None else data_root() / "cityscapes"
    return (f"Cityscapes needs a free account: register at https://www.cityscapes-dataset.com/register/, "
            f"log in, and download {CITYSCAPES_ARCHIVES[0]} (about 11 GB, the images) and "
            f"{CITYSCAPES_ARCHIVES[1]} (241 MB, the fine labels) from "
            f"https://www.cityscapes-dataset.com/downloads/ (or `pip install cityscapesscripts`, then "
            f"`csDownload -d {root} {' '.join(CITYSCAPES_ARCHIVES)}`). "
            f"Put both zips in {root} and unzip them there, so that {root / 'leftImg8bit' / 'train'} "
            f"and {root / 'gtFine' / 'train'} exist (if the zips are there, the reader unzips them "
            f"itself). Pass {root} as root.")
