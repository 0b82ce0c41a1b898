"""Real networks and images from registry packages (a real network on real anatomy catches what random
weights cannot), each found or skipped with the line that installs it.

- taps (``lavlab-taps`` 1.1.2): a MONAI ``SegResNetDS`` prostate T2 segmenter shipped as ONNX, its pipeline in
  ``taps/inference.py``. ``taps_network`` converts the ONNX weights into MONAI's class (the GroupNorms, which
  the export split into InstanceNormalization + Mul + Add, take their affine weights from those Mul/Add
  constants in graph order); ``taps_card`` says taps' pipeline in the card's words.
- Colin27 (Debian ``mricron-data``): ``ch2.nii.gz`` (T1) and ``ch2bet.nii.gz`` (its brain, skull stripped).
"""

from __future__ import annotations

from pathlib import Path

import pytest

TAPS_HINT = (
    "pip install --no-deps lavlab-taps==1.1.2 && pip install onnxruntime onnx "
    "(or pip install -e .[test]; see scripts/setup_env.sh)"
)
COLIN_HINT = "apt-get install -y mricron-data (Colin27: /usr/share/mricron/templates/ch2.nii.gz)"
COLIN = Path("/usr/share/mricron/templates")


def colin27(name: str = "ch2.nii.gz") -> Path:
    path = COLIN / name
    if not path.is_file():
        pytest.skip(f"Colin27 {name} is not installed: {COLIN_HINT}")
    return path


def taps_modules():
    """(taps.inference, onnx, onnxruntime), or a skip that names the install line."""
    for name in ("onnx", "onnxruntime", "taps.inference"):
        pytest.importorskip(name, reason=f"{name} is not installed: {TAPS_HINT}")
    import onnx
    import onnxruntime
    import taps.inference

    return taps.inference, onnx, onnxruntime


TAPS_KWARGS = {
    "spatial_dims": 3,
    "init_filters": 32,
    "in_channels": 1,
    "out_channels": 1,
    "norm": ["GROUP", {"num_groups": 8}],
    "act": ["MISH", {"inplace": False}],
    "dsdepth": 4,
}


def taps_network():
    """taps' SegResNetDS (as ``taps.inference.build_model`` makes it) with the ONNX file's weights, eval mode."""
    import numpy as np
    import torch
    from monai.networks.nets import SegResNetDS

    inference, onnx, _ = taps_modules()
    from onnx import numpy_helper

    graph = onnx.load(str(inference.resolve_checkpoint(None))).graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    network = SegResNetDS(**{k: tuple(v) if isinstance(v, list) else v for k, v in TAPS_KWARGS.items()}).eval()
    state = network.state_dict()
    affine = []  # (Mul constant, Add constant) after each InstanceNormalization, in graph order
    for node in graph.node:
        if node.op_type in ("Mul", "Add"):
            named = [name for name in node.input if name in weights and name not in state]
            if named and weights[named[0]].ndim == 4:
                if node.op_type == "Mul":
                    affine.append([named[0], None])
                else:
                    affine[-1][1] = named[0]
    norms = [name for name, module in network.named_modules() if isinstance(module, torch.nn.GroupNorm)]
    assert len(norms) == len(affine), (len(norms), len(affine))
    for name, (scale, shift) in zip(norms, affine):
        state[f"{name}.weight"] = torch.from_numpy(weights[scale].reshape(-1).copy())
        state[f"{name}.bias"] = torch.from_numpy(weights[shift].reshape(-1).copy())
    for key in state:
        if key in weights:
            state[key] = torch.from_numpy(np.array(weights[key]))
    network.load_state_dict(state)
    return network


def taps_card(weights: str = "taps.pt") -> dict:
    """taps' preprocessing, windows and postprocessing (``taps/inference.py``) as a model card."""
    return {
        "name": "taps prostate T2 (SegResNetDS, converted from taps' ONNX)",
        "task": "segmentation",
        "spatial_dims": 3,
        "in_channels": 1,
        "classes": ["prostate"],
        "weights": weights,
        "architecture": {"class": "monai.networks.nets.SegResNetDS", "kwargs": TAPS_KWARGS},
        "input": {
            "orientation": "RAS",
            "reorient": "axes",
            "spacing": [0.8, 0.8, 3.0],
            "fit": "first_voxel",
            "interpolation": "linear",
            "background": "edge",  # Spacingd(mode="bilinear"), border padding
            "intensity": [{"zscore": {"nonzero": True}}],  # NormalizeIntensityd(nonzero=True, channel_wise)
            "crop_foreground": {
                "select": "positive",
                "margin": 5,
                "on": "model_grid",
                "source": "normalised",
                "allow_smaller": False,
            },
        },  # CropForegroundd(margin=5)
        "output": {
            "activation": "sigmoid",
            "threshold": 0.55,
            "resample": "logits",
            "largest_component": True,
            "smooth": {"sigma": 2.5, "kernel": "sampled", "edges": "nearest"},
        },  # scipy gaussian_filter
        "inference": {
            "mode": "sliding_window",
            "roi_size": [128, 128, 32],
            "overlap": 0.5,
            "blend": "gaussian",
            "sw_batch_size": 1,
        },
    }


DEEPBET_HINT = "pip install --no-deps deepbet==1.0.2 && pip install fill_voids connected-components-3d"


def deepbet_models() -> tuple[Path, Path]:
    """(localiser bbox_model.pt, brain model.pt) shipped by deepbet (TorchScript), or a skip with the install line."""
    for name in ("cc3d", "fill_voids", "deepbet"):
        pytest.importorskip(name, reason=f"{name} is not installed: {DEEPBET_HINT}")
    from deepbet.utils import DATA_PATH

    return Path(DATA_PATH) / "models" / "bbox_model.pt", Path(DATA_PATH) / "models" / "model.pt"


def deepbet_stage(size: int) -> dict:
    """One deepbet network as a card (``deepbet/bet.py``): the volume in RAS axes (``as_closest_canonical``)
    resized to size^3 by nearest (``F.interpolate(mode="nearest-exact")``), clipped to its 0.5/99.5
    percentiles, z-scored, x 0.226 + 0.449; the output is softmax probabilities, the brain channel 1."""
    return {
        "task": "segmentation",
        "classes": ["background", "brain"],
        "input": {
            "orientation": "RAS",
            "reorient": "axes",
            "size": [size] * 3,
            "fit": "extent",
            "interpolation": "nearest",
            "background": 0.0,
            "intensity": [
                {"range_percentiles": {"lower": 0.5, "upper": 99.5, "b_min": 0.0, "b_max": 1.0, "clip": True}},
                {"zscore": {}},
                {"scale": {"a": 0.226, "b": 0.449}},
            ],
        },
        "output": {"activation": "none", "largest_component": True},
    }


def deepbet_card() -> dict:
    """deepbet's two stages: the 128^3 box network localises, the 256^3 brain network runs on its box + 10%."""
    localiser, _ = deepbet_models()
    return {
        "name": "deepbet brain extraction",
        **deepbet_stage(256),
        "localiser": {"model": str(localiser), "card": deepbet_stage(128), "label": 1, "box_margin": 0.1},
    }
