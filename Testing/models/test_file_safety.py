"""Tests for model_files: benign files pass, evil ones are refused before any load, damage is named."""

import io
import time
import warnings

import pytest
import torch
from helpers import evil_files as me
from SaliencyExplorerLib.models import file_safety as mf


@pytest.fixture(scope="module")
def benign(tmp_path_factory):
    return me.write_benign(tmp_path_factory.mktemp("benign"))


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    return me.write_damaged(tmp_path_factory.mktemp("damaged"))


@pytest.mark.parametrize(
    "name,kind",
    [
        ("state_dict.pt", "state_dict"),
        ("legacy_state_dict.pt", "state_dict"),
        ("lightning.ckpt", "state_dict"),
        ("scripted.pt", "torchscript"),
        ("exported.pt2", "export"),
    ],
)
def test_benign_files_pass(benign, name, kind):
    info = mf.check_file_safe(benign / name, trust_code=False)
    assert info.kind == kind and info.problems == []
    assert "torch._utils._rebuild_tensor_v2" in info.globals_used


def test_benign_export_loads_under_the_guard(benign):
    ep = mf.load_export_safely(benign / "exported.pt2")
    assert ep.module()(torch.zeros(2, 4)).shape == (2, 3)


EVIL = [  # (writer, loader that a naive program would use)
    (me.evil_state_dict, lambda p: torch.load(p, weights_only=False)),
    (me.evil_export_weight, lambda p: torch.export.load(str(p))),
    (me.evil_export_sample_inputs, lambda p: torch.export.load(str(p))),
    (me.evil_export_sympy, lambda p: torch.export.load(str(p))),
]


@pytest.mark.parametrize("writer,loader", EVIL, ids=[w.__name__ for w, _ in EVIL])
def test_payload_is_real(tmp_path, writer, loader):
    """Control: the plain torch loader really runs each payload (else the refusal test proves nothing)."""
    marker = tmp_path / "pwned"
    path = writer(tmp_path, marker)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            loader(path)
        except Exception:  # some payloads break the program afterwards; the code already ran
            pass
    assert marker.exists()


REFUSED_ONLY = [me.tampered_torchscript, me.evil_export_target]


@pytest.mark.parametrize(
    "writer", [w for w, _ in EVIL] + REFUSED_ONLY, ids=[w.__name__ for w, _ in EVIL + [(w, None) for w in REFUSED_ONLY]]
)
@pytest.mark.parametrize("rename", [False, True], ids=["own-name", "renamed-weights.pt"])
def test_evil_refused_before_loading(tmp_path, writer, rename):
    marker = tmp_path / "pwned"
    path = writer(tmp_path, marker)
    if rename:
        path = me.renamed(path, "weights.pt")
    with pytest.raises(mf.ModelLoadError) as err:
        mf.check_file_safe(path, trust_code=False)
    msg = str(err.value)
    assert str(path) in msg and "--trust-code" in msg and "trust_code=True" in msg and "\n" not in msg
    assert not marker.exists()
    assert mf.check_file_safe(path, trust_code=True).problems  # opt-in: reported, not raised


def test_load_export_safely_refuses_evil(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(mf.ModelLoadError):
        mf.load_export_safely(me.evil_export_weight(tmp_path, marker))
    assert not marker.exists()


def test_guard_forces_weights_only_even_past_the_check(tmp_path):
    """Defence in depth: inside the guard torch.export.load's own weights_only=False calls are weights-only."""
    marker = tmp_path / "pwned"
    path = me.evil_export_weight(tmp_path, marker)
    with mf._weights_only_everywhere(), pytest.raises(Exception):
        torch.export.load(str(path))
    assert not marker.exists()


def test_tampered_torchscript_cannot_run_python(tmp_path):
    """torch.jit.load's C++ unpickler refuses unknown globals instead of importing them."""
    marker = tmp_path / "pwned"
    with pytest.raises(RuntimeError, match="Unknown type name '__builtin__.eval'"):
        torch.jit.load(str(me.tampered_torchscript(tmp_path, marker)))
    assert not marker.exists()


@pytest.mark.parametrize(
    "name,kind,phrase",
    [
        ("empty.pt", "empty", "is empty (0 bytes)"),
        ("text.pt", "not_a_model", "is a text file"),
        ("lfs.pt", "not_a_model", "Git LFS pointer"),
        ("random.pt", "not_a_model", "unrecognised binary content"),
        ("truncated.pt", "not_a_model", "truncated or damaged zip archive"),
    ],
)
def test_damaged_files_get_their_own_message(damaged, name, kind, phrase):
    assert mf.inspect_file(damaged / name).kind == kind
    for trust in (False, True):  # no opt-in makes a damaged file loadable
        with pytest.raises(mf.ModelLoadError) as err:
            mf.check_file_safe(damaged / name, trust_code=trust)
        msg = str(err.value)
        assert phrase in msg and str(damaged / name) in msg and "pickle" not in msg and "\n" not in msg


def test_cuda_map_location_gets_its_own_message(benign):
    if torch.cuda.is_available():
        pytest.skip("machine has CUDA")
    with pytest.raises(Exception) as err:
        torch.load(benign / "state_dict.pt", map_location="cuda", weights_only=True)
    msg = mf.explain_load_error(benign / "state_dict.pt", err.value)
    assert "no usable CUDA" in msg and "device='cpu'" in msg


def test_check_is_fast_on_a_10mb_state_dict(tmp_path):
    path = tmp_path / "big.pt"
    torch.save({f"w{i}": torch.zeros(256, 1024) for i in range(10)}, path)  # 10 MiB of float32
    start = time.perf_counter()
    mf.check_file_safe(path)
    assert time.perf_counter() - start < 0.5


# --- the scanner itself: tricks picklescan-style scanners have missed -------------------------------------


def test_lightning_style_hparams_pass(tmp_path):
    buf = io.BytesIO()
    torch.save({"hyper_parameters": {"lr": 0.1, "name": "x", "sizes": [1, 2], "t": (1, 2.5)}}, buf)
    (tmp_path / "h.ckpt").write_bytes(buf.getvalue())
    assert mf.check_file_safe(tmp_path / "h.ckpt").problems == []


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".mha"])
def test_an_image_given_as_the_model_asks_whether_input_and_model_are_swapped(tmp_path, suffix):
    import SimpleITK as sitk

    path = tmp_path / f"ct{suffix}"
    sitk.WriteImage(sitk.Image(4, 4, 4, sitk.sitkInt16), str(path), True)
    inspection = mf.inspect_file(path)
    assert inspection.kind == "not_a_model"
    assert "is an image" in inspection.problems[0]
    assert "--input and --model swapped" in inspection.problems[0]
    if suffix == ".nrrd":  # the bytes the user saw, decoded
        assert "4e52524430303034 = 'NRRD0004'" in inspection.problems[0]
