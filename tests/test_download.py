"""download_voc2012 and download_u373 with the network monkeypatched: nothing is downloaded, every failure
is explained."""
import hashlib
import socket
import tarfile
import urllib.error
import urllib.request
import zipfile

import pytest
from torchvision.datasets import utils as tv_utils

from seglib.core import DatasetError
from seglib.datasets import VOCSegmentation
from seglib.download import (
    U373_URL,
    VOC2012_ARCHIVE,
    VOC2012_KAGGLE,
    VOC2012_MD5,
    VOC2012_MIRRORS,
    _file_digests,
    cityscapes_instructions,
    download_u373,
    download_voc2012,
)
from seglib.fixtures import make_cell_tracking_tree, make_voc_tree


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test starts with the hosts unreachable; tests that need a 'server' install one."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _serve(monkeypatch, responses: dict):
    """Fake server: url -> bytes to write, or an exception to raise."""
    monkeypatch.setattr(tv_utils, "_get_redirect_url", lambda url, max_hops=3: url)
    served = []
    def fake_urlretrieve(url, filename, chunk_size=None):
        served.append(url)
        answer = responses.get(url, urllib.error.URLError("unknown host"))
        if isinstance(answer, Exception):
            raise answer
        with open(filename, "wb") as f:
            f.write(answer)
    monkeypatch.setattr(tv_utils, "_urlretrieve", fake_urlretrieve)
    return served


def _voc_tar(tmp_path) -> bytes:
    """A real tar of a fixture VOC tree, laid out like VOCtrainval_11-May-2012.tar."""
    tree = make_voc_tree(tmp_path / "src")
    archive = tmp_path / "fake.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tree / "VOCdevkit", arcname="VOCdevkit")
    return archive.read_bytes()


def test_host_down_names_archive_mirrors_and_destination(tmp_path):
    with pytest.raises(DatasetError) as info:
        download_voc2012(tmp_path / "data")
    message = str(info.value)
    assert f"Could not download {VOC2012_ARCHIVE}" in message and "URLError" in message
    for url in VOC2012_MIRRORS:
        assert url in message
    assert str(tmp_path / "data") in message and str(tmp_path / "data" / "VOCdevkit" / "VOC2012") in message
    assert VOC2012_MD5 in message


def test_http_error_and_timeout_are_reported(tmp_path, monkeypatch):
    first, second, third = VOC2012_MIRRORS
    errors = {first: urllib.error.HTTPError(first, 503, "Service Unavailable", {}, None),
              second: TimeoutError("timed out"), third: socket.timeout("read timed out")}
    # torchvision retries an https URL over http: both answer the same way here
    _serve(monkeypatch, {**errors, **{url.replace("https:", "http:"): e for url, e in errors.items()}})
    with pytest.raises(DatasetError) as info:
        download_voc2012(tmp_path)
    message = str(info.value)
    assert "503" in message and "Service Unavailable" in message and "timed out" in message


def test_checksum_mismatch_is_reported_and_the_bad_file_removed(tmp_path, monkeypatch):
    _serve(monkeypatch, {url: b"an HTML error page, not a tar" for url in VOC2012_MIRRORS})
    with pytest.raises(DatasetError) as info:
        download_voc2012(tmp_path)
    message = str(info.value)
    assert "md5 checksum is not" in message and VOC2012_MD5 in message and VOC2012_MIRRORS[0] in message
    assert not (tmp_path / VOC2012_ARCHIVE).exists()


def test_falls_back_to_the_next_mirror_and_extracts(tmp_path, monkeypatch):
    payload = _voc_tar(tmp_path)
    md5 = hashlib.md5(payload).hexdigest()
    served = _serve(monkeypatch, {VOC2012_MIRRORS[1]: payload})
    root = download_voc2012(tmp_path / "data", md5=md5)
    assert root == tmp_path / "data"
    assert VOC2012_MIRRORS[0] in served and served[-1] == VOC2012_MIRRORS[1]
    assert len(VOCSegmentation(root, "train")) == 4


def test_archive_put_by_hand_is_checked_and_extracted_offline(tmp_path):
    payload = _voc_tar(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / VOC2012_ARCHIVE).write_bytes(payload)
    root = download_voc2012(tmp_path / "data", md5=hashlib.md5(payload).hexdigest())  # network is off
    assert len(VOCSegmentation(root, "val")) == 2


def test_already_extracted_needs_no_network(tmp_path):
    root = make_voc_tree(tmp_path)
    assert download_voc2012(root) == root


def test_socket_timeout_is_restored(tmp_path):
    before = socket.getdefaulttimeout()
    with pytest.raises(DatasetError):
        download_voc2012(tmp_path, timeout=5)
    assert socket.getdefaulttimeout() == before


def test_reader_with_download_true_gives_the_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="Could not download"):
        VOCSegmentation(tmp_path, download=True)


def test_cityscapes_instructions_say_what_and_where(tmp_path):
    text = cityscapes_instructions(tmp_path / "cityscapes")
    assert "leftImg8bit_trainvaltest.zip" in text and "gtFine_trainvaltest.zip" in text
    assert "cityscapes-dataset.com/downloads" in text and "account" in text
    assert str(tmp_path / "cityscapes" / "leftImg8bit" / "train") in text


def test_d2l_copy_is_tried_first_and_the_dead_mirror_is_gone():
    assert VOC2012_MIRRORS[0] == "http://d2l-data.s3-accelerate.amazonaws.com/VOCtrainval_11-May-2012.tar"
    assert not any("pjreddie" in url for url in VOC2012_MIRRORS)
    assert VOC2012_MD5 == "6cd6e144f989b92b3379bac3b3de84fd"  # torchvision's, for this archive


def test_first_mirror_serving_is_the_only_one_asked(tmp_path, monkeypatch):
    payload = _voc_tar(tmp_path)
    served = _serve(monkeypatch, {VOC2012_MIRRORS[0]: payload})
    download_voc2012(tmp_path / "data", md5=hashlib.md5(payload).hexdigest())
    assert served == [VOC2012_MIRRORS[0]]


def test_failure_names_the_manual_routes(tmp_path):
    with pytest.raises(DatasetError) as info:
        download_voc2012(tmp_path / "data")
    message = str(info.value)
    assert "browser" in message and str(tmp_path / "data" / VOC2012_ARCHIVE) in message
    assert VOC2012_KAGGLE in message and "kaggle.com/datasets/" in message


def _u373_zip(tmp_path) -> bytes:
    """A real zip laid out like PhC-C2DH-U373.zip (PhC-C2DH-U373/01, 01_ST/SEG, 02, ...)."""
    tree = make_cell_tracking_tree(tmp_path / "src" / "PhC-C2DH-U373", frames=1, size=(24, 32))
    archive = tmp_path / "fake.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in tree.rglob("*"):
            zf.write(file, file.relative_to(tree.parent))
    return archive.read_bytes()


def test_u373_download_extracts_and_prints_the_checksums(tmp_path, monkeypatch, capsys):
    payload = _u373_zip(tmp_path)
    _serve(monkeypatch, {U373_URL: payload})
    folder = download_u373(tmp_path / "data")
    assert folder == tmp_path / "data" / "PhC-C2DH-U373" and (folder / "01" / "t000.tif").exists()
    out = capsys.readouterr().out
    assert hashlib.sha256(payload).hexdigest() in out and hashlib.md5(payload).hexdigest() in out
    digests = _file_digests(tmp_path / "data" / "PhC-C2DH-U373.zip")
    assert digests == {"sha256": hashlib.sha256(payload).hexdigest(), "md5": hashlib.md5(payload).hexdigest()}
    assert download_u373(tmp_path / "data") == folder  # extracted: no network, no second download


def test_u373_pinned_checksum_refuses_another_file(tmp_path, monkeypatch):
    (tmp_path / "PhC-C2DH-U373.zip").write_bytes(_u373_zip(tmp_path))  # put by hand; the network is off
    with pytest.raises(DatasetError, match="has sha256 .*, not 0000"):
        download_u373(tmp_path, sha256="0000")
    assert (download_u373(tmp_path) / "02").is_dir()  # unpinned: checked by hand, extracted offline


def test_u373_failures_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(DatasetError) as info:
        download_u373(tmp_path)  # network off
    assert U373_URL in str(info.value) and str(tmp_path / "PhC-C2DH-U373.zip") in str(info.value)
    assert not (tmp_path / "PhC-C2DH-U373.zip").exists()
    _serve(monkeypatch, {U373_URL: b"<html>an error page</html>"})
    with pytest.raises(DatasetError, match="not a zip archive"):
        download_u373(tmp_path)
