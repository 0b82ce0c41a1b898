"""MONAI bundles: our pipeline's segmentation equals ``monai.bundle run`` on an oblique, anisotropic scan.

The bundle is written in MONAI's layout (configs/inference.json + metadata.json, models/model.pt) with a
small random UNet. Theirs: MONAI's own run (SupervisedEvaluator, Orientationd, Spacingd,
ScaleIntensityRanged, SlidingWindowInferer, softmax, Invertd back to the scan, SaveImaged). Ours: the card
derived from the same config, our grid through physical space, our blend, the probabilities brought back.
"""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch

pytest.importorskip("ignite")
monai = pytest.importorskip("monai")
nib = pytest.importorskip("nibabel")

from helpers.nnunet_fixture import oblique_direction, synthetic_case  # noqa: E402
from SaliencyExplorerLib import explain_image  # noqa: E402
from SaliencyExplorerLib.card import card_to_dict, parse_card  # noqa: E402
from SaliencyExplorerLib.cli import main  # noqa: E402
from SaliencyExplorerLib.core.sliding_window import SlidingWindow, WindowPlan  # noqa: E402
from SaliencyExplorerLib.errors import ModelLoadError  # noqa: E402
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402
from SaliencyExplorerLib.volumes.geometry import heatmap_to_native, to_model  # noqa: E402

NETWORK = {
    "_target_": "UNet",
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 2,
    "channels": [8, 16, 32],
    "strides": [2, 2],
    "num_res_units": 1,
}
PREPROCESSING = [
    {"_target_": "LoadImaged", "keys": "image"},
    {"_target_": "EnsureChannelFirstd", "keys": "image"},
    {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
    {"_target_": "Spacingd", "keys": "image", "pixdim": "@pixdim", "mode": "bilinear"},
    {
        "_target_": "ScaleIntensityRanged",
        "keys": "image",
        "a_min": -200,
        "a_max": 300,
        "b_min": 0.0,
        "b_max": 1.0,
        "clip": True,
    },
    {"_target_": "EnsureTyped", "keys": "image"},
]


def inference_config(preprocessing=PREPROCESSING):
    preprocessing = json.loads(json.dumps(preprocessing))  # a fresh copy: tests change it
    return {
        "imports": ["$import glob", "$import numpy as np"],
        "bundle_root": ".",
        "output_dir": "$@bundle_root + '/eval'",
        "dataset_dir": "/nonexistent",
        "datalist": "$list(sorted(glob.glob(@dataset_dir + '/*.nii.gz')))",
        "device": "$torch.device('cpu')",
        "pixdim": [1.5, 1.2, 2.0],
        "network_def": dict(NETWORK),
        "network": "$@network_def.to(@device)",
        "preprocessing": {"_target_": "Compose", "transforms": preprocessing},
        "dataset": {"_target_": "Dataset", "data": "$[{'image': i} for i in @datalist]", "transform": "@preprocessing"},
        "dataloader": {
            "_target_": "DataLoader",
            "dataset": "@dataset",
            "batch_size": 1,
            "shuffle": False,
            "num_workers": 0,
        },
        "inferer": {
            "_target_": "SlidingWindowInferer",
            "roi_size": [16, 16, 16],
            "sw_batch_size": 2,
            "overlap": 0.5,
            "mode": "gaussian",
        },
        "postprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "Activationsd", "keys": "pred", "softmax": True},
                {
                    "_target_": "Invertd",
                    "keys": "pred",
                    "transform": "@preprocessing",
                    "orig_keys": "image",
                    "nearest_interp": False,
                    "to_tensor": True,
                },
                {
                    "_target_": "SaveImaged",
                    "keys": "pred",
                    "output_dir": "@output_dir",
                    "output_postfix": "prob",
                    "separate_folder": False,
                    "resample": False,
                    "output_dtype": "$np.float32",
                },
            ],
        },
        "handlers": [
            {
                "_target_": "CheckpointLoader",
                "load_path": "$@bundle_root + '/models/model.pt'",
                "load_dict": {"model": "@network"},
            }
        ],
        "evaluator": {
            "_target_": "SupervisedEvaluator",
            "device": "@device",
            "val_data_loader": "@dataloader",
            "network": "@network",
            "inferer": "@inferer",
            "postprocessing": "@postprocessing",
            "val_handlers": "@handlers",
            "amp": False,
        },
        "initialize": ["$monai.utils.set_determinism(seed=0)"],
        "run": ["$@evaluator.run()"],
    }


METADATA = {
    "name": "Tiny body segmenter",
    "version": "0.1.0",
    "description": "random UNet for tests",
    "network_data_format": {
        "inputs": {"image": {"type": "image", "num_channels": 1}},
        "outputs": {"pred": {"type": "image", "num_channels": 2, "channel_def": {"0": "background", "1": "body"}}},
    },
}


def write_bundle(root, config=None):
    (root / "configs").mkdir(parents=True)
    (root / "models").mkdir()
    (root / "configs" / "inference.json").write_text(json.dumps(config or inference_config(), indent=1))
    (root / "configs" / "metadata.json").write_text(json.dumps(METADATA, indent=1))
    from monai.networks.nets import UNet

    torch.manual_seed(3)
    net = UNet(**{k: v for k, v in NETWORK.items() if k != "_target_"})
    torch.save(net.state_dict(), root / "models" / "model.pt")
    return root


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return write_bundle(tmp_path_factory.mktemp("bundle") / "tiny_bundle")


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    image, _ = synthetic_case(
        5, size=(34, 28, 18), spacing=(0.9, 1.5, 2.4), direction=oblique_direction(), origin=(-12.0, 7.5, 30.0)
    )
    folder = tmp_path_factory.mktemp("data")
    sitk.WriteImage(image, str(folder / "scan.nii.gz"))
    return folder / "scan.nii.gz"


def theirs(bundle, scan, out):
    from monai.bundle import run

    run(
        config_file=str(bundle / "configs" / "inference.json"),
        meta_file=str(bundle / "configs" / "metadata.json"),
        bundle_root=str(bundle),
        dataset_dir=str(scan.parent),
        output_dir=str(out),
    )
    saved = next(out.glob("*prob*.nii.gz"))
    data = np.asarray(nib.load(str(saved)).dataobj, dtype=np.float32)  # (i, j, k, C) in the scan's own grid
    return np.moveaxis(data.reshape(*data.shape[:3], -1), -1, 0)


def ours(bundle, scan):
    loaded = load_model(bundle)
    model_input = to_model(sitk.ReadImage(str(scan)), loaded.card)
    plan = WindowPlan(SlidingWindow.of(loaded.card.inference), model_input.tensor.shape[2:])
    with torch.no_grad():
        probs = torch.softmax(plan.infer(loaded.module, model_input.tensor), 1)
    native = np.stack(
        [sitk.GetArrayFromImage(heatmap_to_native(probs[:, c].numpy(), model_input)) for c in range(probs.shape[1])]
    )
    return np.transpose(native, (0, 3, 2, 1)), loaded  # (C, i, j, k)


def test_segmentation_and_probabilities_match_monai_bundle_run(bundle, scan, tmp_path):
    mine, loaded = ours(bundle, scan)
    assert loaded.kind == "monai_bundle" and loaded.card.classes == ("background", "body")
    their = theirs(bundle, scan, tmp_path / "eval")
    assert mine.shape == their.shape
    agree = float((mine.argmax(0) == their.argmax(0)).mean())
    diff = np.abs(mine - their)
    print(
        f"MONAI bundle: labels agree on {agree:.4%} of voxels, probability difference max {diff.max():.2e}, "
        f"99th percentile {np.percentile(diff, 99):.2e}"
    )
    assert agree >= 0.995
    assert diff.max() < 1e-3


def test_heatmap_lands_on_the_native_grid(bundle, scan):
    image = sitk.ReadImage(str(scan))
    result = explain_image(image, bundle, method="saliency", target="body")
    heat = result.heatmap_image
    assert heat.GetSize() == image.GetSize() and heat.GetSpacing() == image.GetSpacing()
    assert heat.GetOrigin() == image.GetOrigin() and heat.GetDirection() == image.GetDirection()


def test_derived_card(bundle):
    card = load_model(bundle).card
    assert parse_card(json.loads(json.dumps(card_to_dict(card)))) == card
    assert card.input.orientation == "RAS" and card.input.reorient == "axes" and card.input.fit == "first_voxel"
    assert card.input.spacing == (1.5, 1.2, 2.0)
    assert card.inference.roi_size == (16, 16, 16) and card.inference.blend == "gaussian"
    assert card.output.activation == "softmax"


@pytest.mark.parametrize(
    "change,message",
    [
        (
            lambda c: c["preprocessing"]["transforms"].insert(3, {"_target_": "RandFlipd", "keys": "image"}),
            r"no card equivalent: RandFlipd \(preprocessing.transforms\[3\]\)",
        ),
        (lambda c: c.update(pixdim="$[1.0] * 3"), r"field 'preprocessing.transforms\[3\].pixdim'.*expression"),
        (lambda c: c["network_def"].update(_target_="os.system"), r"field 'network_def._target_'.*monai.networks.nets"),
        (lambda c: c.update(inferer={"_target_": "SliceInferer"}), r"field 'inferer'"),
    ],
)
def test_bundles_that_cannot_be_mapped_fail_in_one_line(tmp_path, change, message):
    config = inference_config()
    change(config)
    root = write_bundle(tmp_path / "b", config)
    with pytest.raises(ModelLoadError, match=message) as info:
        load_model(root)
    assert "inference.json" in str(info.value) and "\n" not in str(info.value)


def test_card_command_prints_a_card_parse_card_accepts(bundle, capsys, tmp_path):

    assert main(["card", "--model", str(bundle)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert parse_card(printed) == load_model(bundle).card
    assert main(["layers", "--model", str(bundle), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["input_shape"] == [1, 1, 16, 16, 16]
    (tmp_path / "empty").mkdir()
    assert main(["card", "--model", str(tmp_path / "empty")]) == 2
    assert "neither an nnU-Net v2" in capsys.readouterr().err


def test_a_bundle_opens_in_every_front_door(bundle, scan, tmp_path, mrml):
    """CLI explain, explain_volume_node in-process and the panel's background worker, all without a card:
    the same heatmap on the scan's own grid (the worker loads the bundle in its own process)."""
    import time

    from SaliencyExplorerLib.mrml import explain_node, panel, volume_nodes

    image = sitk.ReadImage(str(scan))
    reference = explain_image(image, bundle, method="gradcam", target="body").heatmap_image
    out = tmp_path / "heat.nrrd"
    assert (
        main(["explain", "-i", str(scan), "-m", str(bundle), "--method", "gradcam", "--target", "body", "-o", str(out)])
        == 0
    )
    from_cli = sitk.ReadImage(str(out))
    assert np.allclose(sitk.GetArrayFromImage(from_cli), sitk.GetArrayFromImage(reference), atol=1e-5)

    source = volume_nodes.add_volume_from_image(mrml.scene, image, "scan")
    node = explain_node.explain_volume_node(source, str(bundle), method="gradcam", target="body")
    expected = volume_nodes.array_for_node(reference, node)
    assert np.allclose(volume_nodes.node_array(node), expected, atol=1e-5)

    process = explain_node.start_background(source, str(bundle), method="gradcam", target="body")
    state, deadline = panel.RunState(), time.time() + 240
    while (process.running or state.state == "running") and time.time() < deadline:
        state.update(process.poll(), cancelled=process.cancelled)
        time.sleep(0.05)
    state.update(process.poll(), cancelled=process.cancelled)
    assert state.state == "done", process.log[-5:]
    background = explain_node.finish_background(process, source)
    assert np.allclose(volume_nodes.node_array(background), expected, atol=1e-5)


@pytest.mark.parametrize("name", ["nrrd-2ax-a", "nrrd32-2ax-b"])
def test_prediction_output_on_oblique_nrrd_equals_monai_bundle_run(bundle, tmp_path, name):
    """The issue's case: oblique NRRD scans (about two axes; float64 and float32 headers), the bundle run by
    ``monai.bundle run`` (Invertd of the softmax, argmax on the scan) against ``explain --prediction-output``."""
    from helpers import monai_matrix as mm

    case = next(c for c in mm.cases() if c.name == name)
    data = tmp_path / "data"
    data.mkdir()
    scan = mm.write(case, data)
    config = json.loads((bundle / "configs" / "inference.json").read_text())
    config["datalist"] = "$list(sorted(glob.glob(@dataset_dir + '/*.nrrd')))"
    run_root = tmp_path / "bundle"
    import shutil

    shutil.copytree(bundle, run_root)
    (run_root / "configs" / "inference.json").write_text(json.dumps(config))
    their = theirs(run_root, scan, tmp_path / "eval").argmax(0)  # (i, j, k) on the scan's grid
    out = tmp_path / "pred.nrrd"
    assert (
        main(
            [
                "explain",
                "-i",
                str(scan),
                "-m",
                str(bundle),
                "--method",
                "saliency",
                "--target",
                "body",
                "-o",
                str(tmp_path / "heat.nrrd"),
                "--prediction-output",
                str(out),
            ]
        )
        == 0
    )
    mine = sitk.GetArrayFromImage(sitk.ReadImage(str(out))).transpose(2, 1, 0)
    assert mine.shape == their.shape and 0.05 < their.mean() < 0.95  # both labels present
    agree = float((mine == their).mean())
    print(f"{name}: labels agree on {agree:.4%}, Dice {mm.dice(mine, their):.4f}")
    assert agree >= 0.995 and mm.dice(mine, their) >= 0.95
