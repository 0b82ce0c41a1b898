"""MONAI bundles as models: the network from ``network_def``, the weights from ``models/``, and a model card
derived from ``configs/inference.json`` (its ``preprocessing`` transforms and its ``inferer``).

Why: a bundle already says how its network sees a scan, as a list of transforms. Those that place the
grid or scale intensities have card equivalents, each still one resampling through physical space:

=====================================  =============================================================
``Orientationd(axcodes)``              ``orientation`` + ``reorient: "axes"`` (permute/flip, no rotation)
``Spacingd(pixdim)``                   ``spacing`` + ``fit: "first_voxel"`` (MONAI's grid, as MONAI computes it)
``Resized(spatial_size)``              ``size`` + ``fit: "extent"`` (spacing = extent / size)
``CropForegroundd``                    ``crop_foreground`` (on the grid it follows; margin, allow_smaller)
``ScaleIntensityRanged``               intensity step ``range``
``ScaleIntensityRangePercentilesd``    intensity step ``range_percentiles``
``NormalizeIntensityd``                intensity step ``zscore`` (``nonzero``)
``ScaleIntensityd``                    intensity step ``range_percentiles`` 0..100
``ClipIntensityPercentilesd``          intensity step ``clip_percentiles``
``SlidingWindowInferer``/``SimpleInferer``  ``inference``
postprocessing: ``Activationsd``,      ``output``: activation, resample, threshold, smooth,
``Invertd``, ``AsDiscreted``,          largest_component (how ``--prediction-output`` is made)
``GaussianSmoothd``, ``KeepLargest...``
=====================================  =============================================================

Loading, channel and type transforms are ignored (they do not change the grid or the values). Anything
else is listed by name in one error. The config is read as JSON, never executed: ``@name`` references are
resolved here; a ``$`` expression where a value is needed is refused; YAML aliases are refused (an alias
bomb). The network is built only when its ``_target_`` is a network class of ``monai.networks.nets`` and
its arguments are plain values (no expression, no MONAI instruction such as ``_mode_``), by calling the
class itself (``network_build``: no argument that downloads or names a file, weights that fit in memory
on a meta-device build, no network access or file write while it runs); MONAI's ``ConfigParser`` is not
used. MONAI is imported only in bundle_network.py. Split by job: bundle_card.py (derive_card),
bundle_network.py (network and weights), bundle_config.py (the config as data); here: finding and
loading a bundle. See ``docs/model-files.md``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..card import ModelCard
from ..errors import ModelLoadError
from ..file_hash import folder_sha256
from .bundle_card import GRID, IGNORED, INTENSITY, INTERP, POSTPROCESSING, derive_card
from .bundle_config import CONFIG_NAMES, read_config
from .bundle_network import _check_weights_file, build_network, load_weights
from .torchscript import TorchScriptTapModel

__all__ = [  # the names this module always had, now partly from bundle_card.py and bundle_network.py
    "GRID",
    "IGNORED",
    "INTENSITY",
    "INTERP",
    "POSTPROCESSING",
    "WEIGHTS",
    "build_network",
    "card_for_bundle",
    "derive_card",
    "is_bundle",
    "load_bundle",
    "load_weights",
]

WEIGHTS = ("model.pt", "model.ts")


def is_bundle(path) -> bool:
    path = Path(path)
    return (
        path.is_dir()
        and (path / "configs" / "metadata.json").is_file()
        and any((path / "configs" / name).is_file() for name in CONFIG_NAMES)
    )


def card_for_bundle(path, notes=None) -> ModelCard:
    config, config_path, metadata = read_config(Path(path))
    return derive_card(config, metadata, config_path, notes)


def load_bundle(path, card=None, *, device=None, notes=None):
    """(module, card, sha256, files) for a MONAI bundle folder; the derived card unless ``card`` is given."""
    root = Path(path)
    notes = [] if notes is None else notes
    config, config_path, metadata = read_config(root)
    weights = next((root / "models" / n for n in WEIGHTS if (root / "models" / n).is_file()), None)
    if weights is None:
        raise ModelLoadError(
            f"{root / 'models'} holds neither {' nor '.join(WEIGHTS)}: a bundle keeps its weights there."
        )
    _check_weights_file(weights)  # a damaged file is named before anything else is read or built
    card_obj = card if card is not None else derive_card(config, metadata, config_path, notes)
    if weights.suffix == ".ts":
        try:
            module = TorchScriptTapModel(torch.jit.load(str(weights), map_location="cpu").eval(), None)
        except RuntimeError as exc:
            raise ModelLoadError(f"{weights} is not a loadable TorchScript archive: {exc}") from exc
    else:
        module = build_network(config, config_path)
        load_weights(module, weights)
    module.to(torch.device(device or "cpu")).eval()
    return module, card_obj, folder_sha256([config_path, root / "configs" / "metadata.json", weights]), [weights]
