"""download_voc2012 with the network monkeypatched: nothing is downloaded, every failure is explained."""
import hashlib
import socket
import tarfile
import urllib.error
import urllib.request

import pytest
from torchvision.datasets import utils as tv_utils

from seglib.core import DatasetError
from seglib.datasets import VOCSegmentation
from seglib.download import (
    VOC2012_ARCHIVE,
    VOC2012_MD5,
    VOC2012_MIRRORS,
    cityscapes_instructions,
    download_voc2012,
)
from seglib.fixtures import make_voc_tree


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
