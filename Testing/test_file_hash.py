"""The SHA-256 of a file for provenance, read in 1 MiB blocks: compared with hashlib on the whole bytes."""

import hashlib

import numpy as np
from SaliencyExplorerLib.file_hash import file_sha256


def test_equals_hashlib_across_block_boundaries(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, size=(1 << 20) * 2 + 17, dtype=np.uint8).tobytes()
    path = tmp_path / "model.pt"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == file_sha256(path)  # a str path works too


def test_known_digests(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "abc").write_bytes(b"abc")
    assert file_sha256(tmp_path / "empty") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert file_sha256(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_model_folder_is_hashed_by_every_file_and_its_place(tmp_path):
    from SaliencyExplorerLib.file_hash import model_sha256

    (tmp_path / "fold_0").mkdir()
    (tmp_path / "plans.json").write_text("{}")
    (tmp_path / "fold_0" / "checkpoint_final.pth").write_bytes(b"w")
    first = model_sha256(tmp_path)
    truth = hashlib.sha256(
        (
            "fold_0/checkpoint_final.pth:"
            + hashlib.sha256(b"w").hexdigest()
            + "\n"
            + "plans.json:"
            + hashlib.sha256(b"{}").hexdigest()
            + "\n"
        ).encode()
    ).hexdigest()
    assert first == truth
    (tmp_path / "fold_0" / "checkpoint_final.pth").write_bytes(b"other weights")
    assert model_sha256(tmp_path) != first
    assert model_sha256(tmp_path / "plans.json") == hashlib.sha256(b"{}").hexdigest()
