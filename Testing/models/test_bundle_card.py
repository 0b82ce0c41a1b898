"""The bundle importer reads what taps-like bundles do before and after the network: NormalizeIntensityd
(nonzero), CropForegroundd (MONAI's allow_smaller default: the margin may pass the edge), and the
postprocessing (GaussianSmoothd, Activationsd, Invertd without nearest interpolation, AsDiscreted threshold,
KeepLargestConnectedComponentd) into the card's words."""

from pathlib import Path

import pytest
from SaliencyExplorerLib.card import card_to_dict, parse_card
from SaliencyExplorerLib.errors import ModelLoadError
from SaliencyExplorerLib.models.bundle_card import derive_card

PATH = Path("bundle/configs/inference.json")


def config(post):
    return {
        "preprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "LoadImaged", "keys": "image"},
                {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
                {"_target_": "Spacingd", "keys": "image", "pixdim": [0.8, 0.8, 3.0], "mode": "bilinear"},
                {"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": True, "channel_wise": True},
                {"_target_": "CropForegroundd", "keys": "image", "source_key": "image", "margin": 5},
            ],
        },
        "network_def": {"_target_": "SegResNetDS", "spatial_dims": 3, "in_channels": 1, "out_channels": 1},
        "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [128, 128, 32], "overlap": 0.5, "mode": "gaussian"},
        "postprocessing": {"_target_": "Compose", "transforms": post},
    }


TAPS_POST = [
    {"_target_": "GaussianSmoothd", "keys": "pred", "sigma": 2.5},
    {
        "_target_": "Invertd",
        "keys": "pred",
        "transform": "@preprocessing",
        "orig_keys": "image",
        "nearest_interp": False,
    },
    {"_target_": "Activationsd", "keys": "pred", "sigmoid": True},
    {"_target_": "AsDiscreted", "keys": "pred", "threshold": 0.55},
    {"_target_": "KeepLargestConnectedComponentd", "keys": "pred"},
    {"_target_": "SaveImaged", "keys": "pred"},
]


def test_taps_like_bundle_becomes_a_card_with_its_postprocessing():
    notes = []
    card = derive_card(config(TAPS_POST), {"name": "prostate"}, PATH, notes)
    assert card.input.intensity[0].steps[0].op == "zscore" and card.input.intensity[0].steps[0].get("nonzero")
    crop = card.input.crop_foreground
    assert crop.margin == (5, 5, 5) and crop.allow_smaller is False and crop.source == "normalised"
    out = card.output
    assert (out.activation, out.threshold, out.resample, out.largest_component) == ("sigmoid", 0.55, "logits", True)
    assert out.smooth.sigma == (2.5,) and (out.smooth.kernel, out.smooth.edges) == ("erf", "zeros")
    assert parse_card(card_to_dict(card)) == card
    assert notes == []


def test_probabilities_are_resampled_when_the_activation_comes_first():
    post = [TAPS_POST[2], TAPS_POST[1]]
    assert derive_card(config(post), {}, PATH).output.resample == "probabilities"
    nearest = [TAPS_POST[2], {**TAPS_POST[1], "nearest_interp": True}]
    assert derive_card(config(nearest), {}, PATH).output.resample == "labels"


@pytest.mark.parametrize(
    "post, field",
    [
        ([TAPS_POST[3]], r"transforms\[0\].threshold"),  # a threshold on logits
        ([TAPS_POST[2], TAPS_POST[0]], r"transforms\[1\]"),  # smoothing probabilities
        ([{**TAPS_POST[0], "approx": "scalespace"}], r"transforms\[0\].approx"),
    ],
)
def test_postprocessing_the_card_cannot_say_is_one_line(post, field):
    with pytest.raises(ModelLoadError, match=field) as info:
        derive_card(config(post), {}, PATH)
    assert "\n" not in str(info.value)


def test_postprocessing_the_card_does_not_reproduce_is_said_not_dropped():
    """FillHolesd (or any transform outside the card's vocabulary) changes the bundle's labels: the card is made
    without it and a note names it; saving and type transforms are label-neutral and pass without a note."""
    notes = []
    post = [TAPS_POST[2], {"_target_": "FillHolesd", "keys": "pred"}, {"_target_": "EnsureTyped", "keys": "pred"}]
    derive_card(config(post + [TAPS_POST[5]]), {}, PATH, notes)
    assert len(notes) == 1 and "transforms[1]: FillHolesd changes the bundle's labels" in notes[0]
    assert "\n" not in notes[0]


@pytest.mark.parametrize(
    "extra, says",
    [
        ({"mode": 1}, "mode 1 is MONAI's scipy path"),
        ({"align_corners": True}, "align_corners=true"),
        ({"dtype": "$np.float32"}, "dtype $np.float32"),
        ({"align_corners": "$True"}, "align_corners=true"),
        ({"dtype": "$np.float64", "align_corners": "$False"}, None),
    ],
)
def test_spacingd_arguments_the_card_repeats_only_approximately_are_noted(extra, says):
    """The card's MONAI-grid input equals Spacingd's to the bit with its defaults (volumes/monai_resampling.py);
    an integer mode, align_corners=true or a float32 dtype is said in a note, not silently approximated."""
    cfg = config(TAPS_POST)
    cfg["preprocessing"]["transforms"][2].update(extra)
    notes = []
    card = derive_card(cfg, {"name": "prostate"}, PATH, notes)
    assert card.input.fit == "first_voxel" and card.input.interpolation == "linear"
    assert [n for n in notes if "Spacingd" in n] == ([] if says is None else [n for n in notes if says in n])
    assert says is None or len(notes) == 1


@pytest.mark.parametrize(
    "reader, expected, noted",
    [
        ("ITKReader", "itk", False),
        ("monai.data.ITKReader", "itk", False),
        ({"_target_": "ITKReader"}, "itk", False),
        ("NibabelReader", "auto", False),
        ("NrrdReader", "auto", False),
        ("PydicomReader", "auto", True),
    ],
)
def test_loadimaged_reader_decides_whose_affine_places_the_grid(reader, expected, noted):
    cfg = config(TAPS_POST)
    cfg["preprocessing"]["transforms"][0]["reader"] = reader
    notes = []
    card = derive_card(cfg, {}, PATH, notes)
    assert card.input.reader == expected
    assert any("reader" in n for n in notes) == noted
