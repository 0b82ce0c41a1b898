"""The bad-input harness, second corpus (issue 16, items 4-6, 8): outputs that would write a file an input
consists of, cohort options, hostile model folders (YAML alias bomb, MONAI `_mode_`/`_disabled_`, plans of
the wrong types or absurd sizes), absurd allocations and option values, a DICOM series with a gap.

Each case runs through the same check as ``test_bad_inputs.py`` (non-zero exit, one line, no traceback,
no payload marker, every input byte-identical, nothing new in the case folder or the private temp folder).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys

import numpy as np
import pytest
import SimpleITK as sitk
import test_bad_inputs as harness
from helpers import hostile_inputs as hi
from helpers.geometry_helpers import write_dicom_series
from SaliencyExplorerLib.cli import main as cli_main

_base, _explain, _card, CARD, ARCH = harness._base, harness._explain, harness._card, harness.CARD, harness.ARCH


def cli(make):
    def build(tmp):
        ct, model, card = _base(tmp)
        return "cli", [str(a) for a in make(tmp, ct, model, card)]

    return build


def _evaluate(ct, model, *extra):
    return ["evaluate", "-i", ct, "-m", model, "-q", "--steps", "4", "--random-repeats", "1", "--no-sanity", *extra]


def _dicom(tmp):
    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(size=(6, 14, 16)).astype(np.float32) * 100)
    return write_dicom_series(image, tmp / "dicom")


def _output_cases():
    def nhdr_data(tmp, ct, m, c):  # -o CT.nhdr would write CT.raw.gz: the input's voxel data
        return _explain(hi.detached(tmp / "scan.nhdr", "CT.raw.gz"), m, tmp / "CT.nhdr")

    def mhd_data(tmp, ct, m, c):
        return _explain(hi.detached(tmp / "scan.mhd", "CT.zraw"), m, tmp / "CT.mhd")

    def data_file_itself(tmp, ct, m, c):
        return _explain(hi.detached(tmp / "scan.nhdr", "voxels.raw.gz"), m, tmp / "voxels.raw.gz")

    def data_via_symlink(tmp, ct, m, c):
        hi.detached(tmp / "scan.nhdr", "CT.raw.gz")
        os.symlink(tmp / "CT.raw.gz", tmp / "out.raw.gz")
        return _explain(tmp / "scan.nhdr", m, tmp / "out.nhdr")

    def cohort_table(name):
        def make(tmp, ct, m, c):
            (tmp / name).write_text(f"image\n{ct.name}\n")
            return ["compare", "--cases", tmp / name, "-m", m, "--output-dir", tmp, "-q"]

        return make

    def json_over_card(tmp, ct, m, c):  # model.json is the card found beside model.pt
        return _evaluate(ct, m, "--json-output", tmp / "model.json")

    def inside_dicom(option, name):
        def make(tmp, ct, m, c):
            folder = _dicom(tmp)
            return _evaluate(folder, m, option, folder / name)

        return make

    def output_dir_in_model_folder(tmp, ct, m, c):
        folder = hi.nnunet_folder(tmp)
        return ["compare", "-i", ct, "-m", folder, "--output-dir", folder / "results", "-q"]

    def figure_in_dicom(tmp, ct, m, c):
        folder = _dicom(tmp)
        harness._volume(tmp / "heat.nrrd")
        return ["figure", folder, tmp / "heat.nrrd", "-o", folder / "f.png"]

    return {
        "explain -o CT.nhdr over the input's CT.raw.gz": cli(nhdr_data),
        "explain -o CT.mhd over the input's CT.zraw": cli(mhd_data),
        "explain -o the input's data file": cli(data_file_itself),
        "explain -o .nhdr whose data file links to the input's": cli(data_via_symlink),
        "compare --cases DIR/cases.csv --output-dir DIR": cli(cohort_table("cases.csv")),
        "compare --cases DIR/summary.csv --output-dir DIR": cli(cohort_table("summary.csv")),
        "evaluate --json-output over the card beside the model": cli(json_over_card),
        "evaluate --json-output inside a DICOM input": cli(inside_dicom("--json-output", "report.json")),
        "evaluate --figure inside a DICOM input": cli(inside_dicom("--figure", "f.png")),
        "compare --output-dir inside the model folder": cli(output_dir_in_model_folder),
        "figure -o inside a DICOM input": cli(figure_in_dicom),
    }


def _bundle_cases():
    def bundle(config=None, yaml_text=None):
        def make(tmp, ct, m, c):
            return _explain(ct, hi.bundle_folder(tmp, config, yaml_text), tmp / "h.nrrd")

        return make

    def network(**changes):
        return hi.bundle_config({**hi.BUNDLE_NETWORK, **changes})

    return {
        "bundle YAML alias bomb": cli(bundle(yaml_text=hi.alias_bomb())),
        "bundle network _mode_ debug (pdb)": cli(bundle(network(_mode_="debug"))),
        "bundle network _mode_ callable": cli(bundle(network(_mode_="callable"))),
        "bundle network _disabled_": cli(bundle(network(_disabled_=True))),
        "bundle network _requires_": cli(bundle(network(_requires_="@x"))),
        "bundle non-network class of monai.networks.nets": cli(bundle(hi.bundle_config({"_target_": "Enum"}))),
        "bundle network a function of monai.networks.nets": cli(
            bundle(hi.bundle_config({"_target_": "get_output_padding"}))
        ),
        "bundle network in_channels 2**40": cli(bundle(network(in_channels=2**40))),
        "bundle network 97 GB of weights": cli(bundle(network(channels=[4, 60000, 60000], strides=[2, 2]))),
        "bundle config a JSON list": cli(bundle([1, 2, 3])),
        "bundle config nested 100000 deep": cli(
            bundle({"network_def": json.loads("[" * 50 + "]" * 50), "preprocessing": "[" * 10})
        ),
        "card via --card for a bundle, deep nesting": cli(
            lambda t, ct, m, c: (
                (t / "deep.json").write_text("[" * 100000 + "]" * 100000)
                and _explain(ct, m, t / "h.nrrd", card=t / "deep.json")
            )
        ),
    }


def _nnunet_cases():
    def folder(edit=None, dataset=None, plans_text=None):
        def make(tmp, ct, m, c):
            return _explain(ct, hi.nnunet_folder(tmp, edit, dataset, plans_text), tmp / "h.nrrd")

        return cli(make)

    def conf(key, value):
        def edit(plans):
            plans["configurations"]["3d_fullres"][key] = value

        return edit

    def arch(key, value):
        def edit(plans):
            plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"][key] = value

        return edit

    return {
        "plans configurations a list": folder(lambda p: p.update(configurations=[1, 2])),
        "plans patch_size a string": folder(conf("patch_size", "big")),
        "plans patch_size 1e5 cubed": folder(conf("patch_size", [100000, 100000, 100000])),
        "plans spacing of strings": folder(conf("spacing", ["a", "b", "c"])),
        "plans normalization_schemes a number": folder(conf("normalization_schemes", 3)),
        "plans foreground properties a list": folder(
            lambda p: p.update(foreground_intensity_properties_per_channel=[1])
        ),
        "plans n_stages disagrees (nnU-Net's assertion)": folder(arch("n_stages", 5)),
        "plans features_per_stage 2**40": folder(arch("features_per_stage", [2**40, 8, 16])),
        "plans features_per_stage 97 GB": folder(arch("features_per_stage", [4, 8, 200000])),
        "plans kernel_sizes of strings": folder(arch("kernel_sizes", "xyz")),
        "plans nested 100000 deep": folder(plans_text="[" * 100000 + "]" * 100000),
        "plans JSON NaN spacing": folder(plans_text=json.dumps(hi.PLANS).replace("1.125", "NaN")),
        "dataset labels a string": folder(dataset={**hi.DATASET, "labels": "all"}),
        "dataset channel_names a number": folder(dataset={**hi.DATASET, "channel_names": 7}),
        "dataset 2**40 labels": folder(dataset={**hi.DATASET, "labels": {"background": 0, "x": 2**40}}),
    }


def _allocation_cases():
    def card(**changes):
        return lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", card=_card(t, **changes))

    return {
        "card in_channels 2**40": cli(
            card(in_channels=2**40, architecture={**ARCH, "kwargs": {**ARCH["kwargs"], "in_channels": 2**40}})
        ),
        "card network of 97 GB": cli(card(architecture={**ARCH, "kwargs": {**ARCH["kwargs"], "width": 100000}})),
        "card input.size 1e30": cli(card(input={"size": [1e30, 1e30, 1e30]})),
        "card input.size huge ints": cli(card(input={"size": [10**30, 10**30, 10**30]})),
        "card window 1e5 cubed": cli(card(inference={"mode": "sliding_window", "roi_size": [100000, 100000, 100000]})),
        "card classes a number": cli(card(classes=5)),
        "card a JSON list": cli(
            lambda t, ct, m, c: (
                (t / "list.json").write_text("[1, 2]") and _explain(ct, m, t / "h.nrrd", card=t / "list.json")
            )
        ),
        "option window 1e5 cubed (occlusion)": cli(
            lambda t, ct, m, c: _explain(
                ct, m, t / "h.nrrd", "--method", "occlusion", "--option", "window=[100000,100000,100000]"
            )
        ),
        "option garbage": cli(lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--option", "=)(")),
        "--batch-size 0": cli(lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--batch-size", "0")),
        "--batch-size 10**12": cli(
            lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--method", "smoothgrad", "--batch-size", str(10**12))
        ),
        "--method unknown": cli(lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--method", "nope")),
        "--layer unknown": cli(lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--layer", "nope.nope")),
        "--target 99": cli(lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--target", "99")),
        "--target unknown name": cli(lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--target", "spleen")),
        "--threshold nan": cli(
            lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--label-output", t / "l.nrrd", "--threshold", "nan")
        ),
        "evaluate --steps 0": cli(lambda t, ct, m, c: _evaluate(ct, m, "--steps", "0")),
        "evaluate --random-repeats -1": cli(lambda t, ct, m, c: _evaluate(ct, m, "--random-repeats", "-1")),
        "evaluate --tolerance-mm nan": cli(lambda t, ct, m, c: _evaluate(ct, m, "--tolerance-mm", "nan")),
        "evaluate --blur-sigma -1": cli(
            lambda t, ct, m, c: _evaluate(ct, m, "--replacement", "blur", "--blur-sigma", "-1")
        ),
        "evaluate --replacement inf": cli(lambda t, ct, m, c: _evaluate(ct, m, "--replacement", "inf")),
        "evaluate --sanity-layers -3": cli(
            lambda t, ct, m, c: ["evaluate", "-i", ct, "-m", m, "-q", "--steps", "4", "--sanity-layers", "-3"]
        ),
        "compare --methods unknown": cli(
            lambda t, ct, m, c: [
                "compare",
                "-i",
                ct,
                "-m",
                m,
                "-o",
                t / "out",
                "--methods",
                "gradcam,=HYPERLINK(1)",
                "-q",
            ]
        ),
        "compare --scheduler not a url": cli(
            lambda t, ct, m, c: (
                (t / "cases.csv").write_text(f"image\n{ct.name}\n")
                and [
                    "compare",
                    "--cases",
                    t / "cases.csv",
                    "-m",
                    m,
                    "-o",
                    t / "out",
                    "--scheduler",
                    "not a url::",
                    "-q",
                ]
            )
        ),
        "compare --workers 0": cli(
            lambda t, ct, m, c: (
                (t / "cases.csv").write_text(f"image\n{ct.name}\n")
                and ["compare", "--cases", t / "cases.csv", "-m", m, "-o", t / "out", "--workers", "0", "-q"]
            )
        ),
        "figure --every 0": cli(
            lambda t, ct, m, c: ["figure", ct, harness._volume(t / "heat.nrrd"), "-o", t / "f.png", "--every", "0"]
        ),
        "figure --slice 100000": cli(
            lambda t, ct, m, c: [
                "figure",
                ct,
                harness._volume(t / "heat.nrrd"),
                "-o",
                t / "f.png",
                "--kind",
                "slice",
                "--slice",
                "100000",
            ]
        ),
        "layers of a DICOM folder as model": cli(lambda t, ct, m, c: ["layers", "-m", _dicom(t)]),
        "option named like the engine's input (x=...)": cli(
            lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", "--option", "x=[1, 2]")
        ),
        "compare --cases CSV with a NUL byte": cli(
            lambda t, ct, m, c: (
                (t / "cases.csv").write_bytes(b"image\n\x00\x00\n")
                and ["compare", "--cases", t / "cases.csv", "-m", m, "-o", t / "out", "-q"]
            )
        ),
        "argparse usage mistake (--window a,b)": cli(
            lambda t, ct, m, c: ["figure", ct, ct, "-o", t / "f.png", "--window", "a,b"]
        ),
        "argparse unknown command": cli(lambda t, ct, m, c: ["explian", "-i", ct]),
        "card --model a plain folder": cli(lambda t, ct, m, c: (t / "empty").mkdir() or ["card", "-m", t / "empty"]),
    }


def _volume_cases():
    def gap(tmp, ct, m, c):
        folder = _dicom(tmp)
        (folder / "slice003.dcm").unlink()
        return _explain(folder, m, tmp / "h.nrrd")

    def region_at_text(tmp):
        from SaliencyExplorerLib.workflow.explain_image import explain_image

        ct, model, card = _base(tmp)
        image = sitk.ReadImage(str(ct))
        return "py", lambda: explain_image(image, model, card, region_at="1,2,3")

    return {"DICOM series with a missing slice": cli(gap), "Python region_at='1,2,3'": region_at_text}


def _range_cases():
    """Numeric options out of their range, refused by argparse before anything is read (cli.vocabulary);
    the words each message must hold (the range, so the user knows the fix) are in ``SAYS``."""

    def figure(*extra):
        return cli(lambda t, ct, m, c: ["figure", ct, harness._volume(t / "heat.nrrd"), "-o", t / "f.gif", *extra])

    def evaluate(*extra):
        return cli(lambda t, ct, m, c: _evaluate(ct, m, *extra))

    def compare(*extra):
        return cli(lambda t, ct, m, c: ["compare", "-i", ct, "-m", m, "-o", t / "out", "-q", *extra])

    def explain(*extra):
        return cli(lambda t, ct, m, c: _explain(ct, m, t / "h.nrrd", *extra))

    return {
        "evaluate --steps 10**9 (was capped silently)": (evaluate("--steps", "1000000000"), "from 1 to 10000"),
        "evaluate --seed -1": (evaluate("--seed", "-1"), "from 0 to 4294967295"),
        "evaluate --blur-sigma 0": (evaluate("--replacement", "blur", "--blur-sigma", "0"), "above 0"),
        "evaluate --tolerance-mm inf": (evaluate("--tolerance-mm", "inf"), "not finite"),
        "evaluate --truth-label 1.5": (evaluate("--truth-label", "1.5"), "whole number"),
        "evaluate --batch-size 2**30": (evaluate("--batch-size", str(2**30)), "from 1 to 1048576"),
        "compare --steps 0": (compare("--steps", "0"), "from 1 to 10000"),
        "compare --random-repeats 10**6": (compare("--random-repeats", str(10**6)), "from 1 to 10000"),
        "compare --sanity-layers 0": (compare("--sanity-layers", "0"), "from 1 to 10000"),
        "compare --batch-size -4": (compare("--batch-size", "-4"), "from 1 to 1048576"),
        "compare --replacement nan": (compare("--replacement", "nan"), "'mean' or 'blur'"),
        "explain --threshold inf": (explain("--label-output", "l.nrrd", "--threshold", "inf"), "not finite"),
        "explain --batch-size -1": (explain("--batch-size", "-1"), "from 1 to 1048576"),
        "explain --region-at nan,1,2": (explain("--region-at", "nan,1,2"), "finite numbers in mm"),
        "figure --columns 0": (figure("--columns", "0"), "from 1 to 1000"),
        "figure --columns -3": (figure("--columns", "-3"), "from 1 to 1000"),
        "figure --duration-ms -1": (figure("--duration-ms", "-1"), "from 10 to 655350"),
        "figure --duration-ms 0": (figure("--duration-ms", "0"), "from 10 to 655350"),
        "figure --alpha 2": (figure("--alpha", "2"), "from 0 to 1"),
        "figure --alpha nan": (figure("--alpha", "nan"), "not finite"),
        "figure --threshold nan": (figure("--threshold", "nan"), "not finite"),
        "figure --window HIGH below LOW": (figure("--window", "5", "1"), "LOW below HIGH"),
        "figure --heat-range 0 inf": (figure("--heat-range", "0", "inf"), "not finite"),
        "figure --zoom 0": (figure("--zoom", "0"), "from 1 to 256"),
        "figure --every -1": (figure("--every", "-1"), "from 1 to 100000"),
        "figure --slice -1": (figure("--kind", "slice", "--slice", "-1"), "from 0 to 100000"),
        "layers --size 0 16 16": (
            cli(lambda t, ct, m, c: ["layers", "-m", m, "--size", "0", "16", "16"]),
            "from 1 to 4096",
        ),
        "layers --size 4096 cubed (1.5 TiB probe)": (
            cli(lambda t, ct, m, c: ["layers", "-m", m, "--size", "4096", "4096", "4096"]),
            "smaller --size",
        ),
        "web --port 70000": (cli(lambda t, ct, m, c: ["web", "--root", t, "--port", "70000"]), "from 0 to 65535"),
    }


RANGES = _range_cases()
SAYS = {name: words for name, (_, words) in RANGES.items()}
CORPUS = {
    **_output_cases(),
    **_bundle_cases(),
    **_nnunet_cases(),
    **_allocation_cases(),
    **_volume_cases(),
    **{name: build for name, (build, _) in RANGES.items()},
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_bad_input_is_refused_cleanly(name, tmp_path, capsys, monkeypatch):
    if "bundle" in name:
        pytest.importorskip("monai")
    if "plans" in name or "dataset" in name or "model folder" in name:
        pytest.importorskip("nnunetv2")
    monkeypatch.setitem(harness.CORPUS, name, CORPUS[name])
    said = []

    def main(argv):  # the CLI, with its message kept: the last-resort handler is not a fix
        with contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                rc = cli_main(argv)
            except SystemExit as stop:  # argparse's own refusals
                rc = stop.code
        said.append(err.getvalue())
        sys.stderr.write(err.getvalue())
        return rc

    monkeypatch.setattr(harness, "main", main)
    harness.test_bad_input_is_refused_cleanly(name, tmp_path, capsys, monkeypatch)
    assert not any("This is a bug" in text for text in said), f"{name}: {said}"
    if name in SAYS:  # the message names the range, so the user knows the fix
        assert SAYS[name] in said[-1], f"{name}: {said}"


def test_library_warnings_are_held_back_behind_the_error_line(tmp_path, capsys, monkeypatch):
    """An ITK or torch warning printed before the error would make it two lines: the CLI holds them back
    (and silences ITK's own C++ warnings); on success each follows as one ``warning:`` line."""
    import warnings

    import SimpleITK as sitk
    from SaliencyExplorerLib.cli import layers_cmd
    from SaliencyExplorerLib.errors import SaliencyError

    def noisy(args, fail=True):
        warnings.warn("TracerWarning: converting a tensor to a Python boolean\nsecond line", UserWarning)
        if fail:
            raise SaliencyError("the model is broken. Fix it.")
        return 0

    ct, model, card = _base(tmp_path)
    monkeypatch.setattr(layers_cmd, "run", noisy)
    assert cli_main(["layers", "-m", str(model)]) == 2
    assert capsys.readouterr().err == "error: the model is broken. Fix it.\n"
    assert not sitk.ProcessObject.GetGlobalWarningDisplay()
    monkeypatch.setattr(layers_cmd, "run", lambda args: noisy(args, fail=False))
    assert cli_main(["layers", "-m", str(model)]) == 0
    assert capsys.readouterr().err == "warning: TracerWarning: converting a tensor to a Python boolean\n"
