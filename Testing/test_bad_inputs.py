"""One harness over a corpus of bad inputs: every front door refuses each one cleanly and changes nothing.

For each case: a non-zero exit (CLI) or a SaliencyError subclass (Python/MRML), a one-line message, no
traceback, no marker file from a payload, every file in the case folder byte-identical and nothing new
there, no node added to the scene, no ``saliency-*`` folder left in the temp folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

sys.path.insert(0, str(Path(__file__).parent / "models"))
from helpers import evil_files as me  # noqa: E402
from SaliencyExplorerLib.cli import main  # noqa: E402
from SaliencyExplorerLib.demo.network import LesionNet  # noqa: E402
from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402

ARCH = {
    "class": "SaliencyExplorerLib.demo.network.LesionNet",
    "kwargs": {"in_channels": 1, "num_classes": 2, "width": 2},
}
CARD = {
    "spatial_dims": 3,
    "in_channels": 1,
    "classes": ["no", "yes"],
    "input": {"size": [16, 16, 16]},
    "target_layer": "features.block3",
    "architecture": ARCH,
}
PAYLOAD = "import pathlib; pathlib.Path(__file__).with_name('pwned').touch()\nimport torch.nn as nn\nclass Net(nn.Module):\n    pass\n"


def _volume(path, array=None, pixel=sitk.sitkFloat32):
    image = sitk.GetImageFromArray(
        np.random.default_rng(0).normal(size=(12, 14, 16)).astype(np.float32) if array is None else array
    )
    sitk.WriteImage(sitk.Cast(image, pixel) if array is None else image, str(path))
    return path


def _base(tmp: Path):
    torch.manual_seed(0)
    torch.save(LesionNet(1, 2, 2).state_dict(), tmp / "model.pt")
    (tmp / "model.json").write_text(json.dumps(CARD))
    _volume(tmp / "ct.nrrd")
    return tmp / "ct.nrrd", tmp / "model.pt", tmp / "model.json"


def _card(tmp, **changes):
    path = tmp / f"card_{len(list(tmp.glob('card_*')))}.json"
    path.write_text(json.dumps({**CARD, **changes}))
    return path


def _explain(ct, model, out, *extra, card=None):
    return ["explain", "-i", str(ct), "-m", str(model), "-o", str(out), "-q", *map(str, extra)] + (
        ["-c", str(card)] if card else []
    )


# ---- the corpus: name -> builder(tmp) -> ("cli", argv) | ("py", callable) | ("mrml", callable(session)) ----
def _model_file_cases():
    def damaged(name):
        def build(tmp):
            ct, _, card = _base(tmp)
            me.write_damaged(tmp / "bad")
            return "cli", _explain(ct, tmp / "bad" / name, tmp / "h.nrrd", card=card)

        return build

    def evil(writer, rename=None, command="explain"):
        def build(tmp):
            ct, _, card = _base(tmp)
            path = writer(tmp, tmp / "pwned")
            if rename:
                path = me.renamed(path, rename)
            if command == "layers":
                return "cli", ["layers", "-m", str(path), "-c", str(card)]
            return "cli", _explain(ct, path, tmp / "h.nrrd", card=card)

        return build

    cases = {f"damaged {n}": damaged(n) for n in ("empty.pt", "text.pt", "lfs.pt", "random.pt", "truncated.pt")}
    for writer in (
        me.evil_state_dict,
        me.evil_export_weight,
        me.evil_export_sample_inputs,
        me.evil_export_sympy,
        me.evil_export_target,
        me.tampered_torchscript,
    ):
        cases[writer.__name__] = evil(writer)
    cases["evil .pt2 renamed weights.pt"] = evil(me.evil_export_weight, "weights.pt")
    cases["evil state dict renamed .ckpt"] = evil(me.evil_state_dict, "last.ckpt")
    cases["evil state dict via layers"] = evil(me.evil_state_dict, command="layers")
    cases["evil sympy via layers"] = evil(me.evil_export_sympy, command="layers")

    def pickled(tmp):
        ct, _, card = _base(tmp)
        torch.save(LesionNet(1, 2, 2), tmp / "whole.pt")
        return "cli", _explain(ct, tmp / "whole.pt", tmp / "h.nrrd", card=card)

    cases["whole pickled model without opt-in"] = pickled

    def py_load(tmp):
        from SaliencyExplorerLib.models.loading import load_model

        path = me.evil_export_sympy(tmp, tmp / "pwned")
        return "py", lambda: load_model(path, CARD)

    cases["load_model evil .pt2"] = py_load
    return cases


def _card_cases():
    def hostile(cls, setup=None):
        def build(tmp):
            ct, model, _ = _base(tmp)
            if setup:
                setup(tmp)
            return "cli", _explain(ct, model, tmp / "h.nrrd", card=_card(tmp, architecture={"class": cls}))

        return build

    def outside(tmp):
        (tmp / "elsewhere.py").write_text(PAYLOAD)
        (tmp / "cards").mkdir()

    def beside(tmp):
        (tmp / "net.py").write_text(PAYLOAD)

    cases = {
        "card this.Net": hostile("this.Net"),
        "card venv.__main__.Net": hostile("venv.__main__.Net"),
        "card os.system": hostile("os.system"),
        "card antigravity.Net": hostile("antigravity.Net"),
        "card file.py beside, no opt-in": hostile("net.py:Net", beside),
        "card absolute file path": lambda tmp: (beside(tmp), hostile(f"{tmp / 'net.py'}:Net")(tmp))[1],
    }

    def escape(tmp):  # the card lives in cards/, the file one level up: refused even with the opt-in
        ct, model, _ = _base(tmp)
        outside(tmp)
        card = tmp / "cards" / "card.json"
        card.write_text(json.dumps({**CARD, "architecture": {"class": "../elsewhere.py:Net"}}))
        return "cli", _explain(ct, model, tmp / "h.nrrd", "--trust-code", card=card)

    cases["card ../elsewhere.py:Net even trusted"] = escape

    def huge(tmp):
        ct, model, _ = _base(tmp)
        return "cli", _explain(ct, model, tmp / "h.nrrd", card=_card(tmp, input={"size": [100000, 100000, 100000]}))

    cases["card absurd input.size"] = huge

    def tiny_spacing(tmp):
        ct, model, _ = _base(tmp)
        return "cli", _explain(ct, model, tmp / "h.nrrd", card=_card(tmp, input={"spacing": [1e-5, 1e-5, 1e-5]}))

    cases["card absurd tiny spacing"] = tiny_spacing

    def region_labels(tmp):
        ct, model, _ = _base(tmp)
        return "cli", _explain(ct, model, tmp / "h.nrrd", card=_card(tmp, output={"region_labels": [1, "os"]}))

    cases["card output.region_labels not labels"] = region_labels
    return cases


def _output_cases():
    def cli(make):
        def build(tmp):
            ct, model, card = _base(tmp)
            return "cli", make(tmp, ct, model, card)

        return build

    def link(tmp, ct, model, card):
        os.symlink(ct, tmp / "link.nrrd")
        return _explain(ct, model, tmp / "link.nrrd")

    def heat(tmp):
        _volume(tmp / "heat.nrrd")
        return tmp / "heat.nrrd"

    def mask(tmp):
        return _volume(tmp / "mask.nrrd", np.ones((12, 14, 16), np.uint8))

    return {
        "explain -o input": cli(lambda t, ct, m, c: _explain(ct, m, ct)),
        "explain -o symlink to input": cli(link),
        "explain -o model card": cli(lambda t, ct, m, c: _explain(ct, m, c)),
        "explain -o region mask": cli(lambda t, ct, m, c: _explain(ct, m, mask(t), "--region-mask", t / "mask.nrrd")),
        "explain --label-output input": cli(lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--label-output", ct)),
        "figure -o heatmap": cli(lambda t, ct, m, c: ["figure", str(ct), str(heat(t)), "-o", str(t / "heat.nrrd")]),
        "figure -o image": cli(lambda t, ct, m, c: ["figure", str(ct), str(heat(t)), "-o", str(ct)]),
        "figure -o .txt": cli(lambda t, ct, m, c: ["figure", str(ct), str(heat(t)), "-o", str(t / "f.txt")]),
        "figure --zoom 100000": cli(
            lambda t, ct, m, c: ["figure", str(ct), str(heat(t)), "-o", str(t / "f.png"), "--zoom", "100000"]
        ),
        "evaluate --figure input": cli(
            lambda t, ct, m, c: ["evaluate", "-i", str(ct), "-m", str(m), "--figure", str(ct), "-q"]
        ),
        "layers bad device": cli(lambda t, ct, m, c: ["layers", "-m", str(m), "--device", "cuda:3"]),
        "explain bad device name": cli(lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--device", "gpu!")),
        "explain --device cuda without CUDA": cli(
            lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--device", "cuda")
        ),
    }


def _volume_cases():
    def cli(make):
        def build(tmp):
            ct, model, card = _base(tmp)
            return "cli", make(tmp, ct, model, card)

        return build

    def nan(tmp, ct, m, c):
        a = np.zeros((12, 14, 16), np.float32)
        a[3, 3, 3] = np.nan
        return _explain(_volume(tmp / "nan.nrrd", a), m, tmp / "h.nrrd")

    def four(tmp, ct, m, c):
        sitk.WriteImage(sitk.Image([6, 6, 6, 2], sitk.sitkFloat32), str(tmp / "four.nii.gz"))
        return _explain(tmp / "four.nii.gz", m, tmp / "h.nrrd")

    def complex_(tmp, ct, m, c):
        sitk.WriteImage(sitk.Image([6, 6, 6], sitk.sitkComplexFloat32), str(tmp / "c.mha"))
        return _explain(tmp / "c.mha", m, tmp / "h.nrrd")

    def wrong_mask(tmp, ct, m, c):  # a classification model: the mask would be ignored
        return _explain(
            ct, m, tmp / "h.nrrd", "--region-mask", _volume(tmp / "mask.nrrd", np.ones((12, 14, 16), np.uint8))
        )

    def empty_mask(tmp, ct, m, c):
        sitk.WriteImage(sitk.Image([6, 6], sitk.sitkUInt8), str(tmp / "m2.nrrd"))
        return _explain(ct, m, tmp / "h.nrrd", "--region-mask", tmp / "m2.nrrd")

    return {
        "NaN volume": cli(nan),
        "4D volume": cli(four),
        "complex volume": cli(complex_),
        "region mask with classification model": cli(wrong_mask),
        "2D mask for a 3D volume": cli(empty_mask),
        "occlusion stride larger than window": cli(
            lambda t, ct, m, c: _explain(
                ct, m, t / "h.nrrd", "--method", "occlusion", "--option", "window=[2,2,2]", "--option", "stride=[4,4,4]"
            )
        ),
    }


def _python_cases():
    def engine(kwargs):
        def build(tmp):
            from SaliencyExplorerLib.core.engine import explain

            net = LesionNet(1, 2, 2).eval()
            return "py", lambda: explain(net, torch.zeros(1, 1, 16, 16, 16), **kwargs)

        return build

    def mrml_output(kind):
        def build(tmp):
            ct, model, card = _base(tmp)

            def run(session):
                from SaliencyExplorerLib import explain_volume_node
                from SaliencyExplorerLib.mrml import volume_nodes

                source = volume_nodes.add_volume_from_image(session.scene, sitk.ReadImage(str(ct)), "patient A")
                other = volume_nodes.add_volume_from_image(session.scene, sitk.ReadImage(str(ct)), "patient B")
                before = session.scene.GetNumberOfNodes()
                output = other if kind == "other CT" else source
                try:
                    explain_volume_node(source, str(model), card=str(card), output_node=output)
                finally:
                    assert session.scene.GetNumberOfNodes() == before

            return "mrml", run

        return build

    def background_hostile(tmp):
        ct, model, _ = _base(tmp)

        def run(session):
            from SaliencyExplorerLib.mrml import explain_node, volume_nodes

            source = volume_nodes.add_volume_from_image(session.scene, sitk.ReadImage(str(ct)), "p")
            before = session.scene.GetNumberOfNodes()
            process = explain_node.start_background(
                source, str(model), card={**CARD, "architecture": {"class": "this.Net"}}
            )
            process.wait(120)
            process.poll()
            try:
                explain_node.finish_background(process, source)
            finally:
                assert session.scene.GetNumberOfNodes() == before

        return "mrml", run

    return {
        "engine fc_layer=3": engine({"method": "cam", "layers": "features.block3", "fc_layer": 3}),
        "engine layers=3": engine({"layers": 3}),
        "mrml output_node another patient's CT": mrml_output("other CT"),
        "mrml output_node is the source": mrml_output("source"),
        "mrml background hostile card dict": background_hostile,
    }


CORPUS = {**_model_file_cases(), **_card_cases(), **_output_cases(), **_volume_cases(), **_python_cases()}


def _snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() and not p.is_symlink()
            else os.readlink(p)
            if p.is_symlink()
            else "dir"
        )
        for p in sorted(folder.rglob("*"))
    }


def _temp_folders() -> set:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("saliency-") and "mrml-cache" not in n}


def _private_temp(tmp_path, monkeypatch) -> None:
    """A temp folder of this test's own: what it leaves is not confused with another process's job folder."""
    private = tmp_path.parent / f"{tmp_path.name}-temp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    monkeypatch.setenv("TMPDIR", str(private))


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("name", list(CORPUS))
def test_bad_input_is_refused_cleanly(name, tmp_path, capsys, monkeypatch):
    if "without CUDA" in name and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.chdir(tmp_path)
    _private_temp(tmp_path, monkeypatch)
    kind, action = CORPUS[name](tmp_path)
    capsys.readouterr()
    before, temps = _snapshot(tmp_path), _temp_folders()
    if kind == "cli":
        try:
            rc = main(action)
        except SystemExit as stop:  # argparse's own refusals (a usage mistake, a number out of range)
            rc = stop.code
        out, err = capsys.readouterr()
        assert rc != 0, f"{name}: exit 0; {out} {err}"
        lines = [ln for ln in err.strip().splitlines() if not ln.startswith("warning:")]
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{name}: {err!r}"
        message = lines[0]
    else:
        session = None
        if kind == "mrml":
            pytest.importorskip("slicer")
            from SaliencyExplorerLib.mrml import module_logics

            session = module_logics.start_headless()
        try:
            with pytest.raises(SaliencyError) as caught:
                action(session) if session else action()
        finally:
            if session:
                session.close()
        message = str(caught.value)
        out, err = capsys.readouterr()
        assert "\n" not in message, f"{name}: {message!r}"
    assert "Traceback" not in err and "Beautiful is better" not in out + err, name
    if "pickle" in message.lower():  # the pickle opt-in is only named when a pickle is the reason
        assert any(w in name for w in ("evil", "pickled", "state_dict", "state dict")), f"{name}: {message}"
    assert not (tmp_path / "pwned").exists(), f"{name}: the payload ran"
    assert _snapshot(tmp_path) == before, f"{name}: files changed or appeared"
    assert _temp_folders() <= temps, f"{name}: left {_temp_folders() - temps}"
