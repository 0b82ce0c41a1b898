"""The card's preprocessing vocabulary: intensity chains, fit extent / first voxel, crop to the foreground,
normalising before resampling, edge background; each still one resampling through physical space."""

import json
import re

import numpy as np
import pytest
import SimpleITK as sitk
from SaliencyExplorerLib.card import SCHEMA_PATH, IntensityChain, card_to_dict, parse_card
from SaliencyExplorerLib.errors import CardError
from SaliencyExplorerLib.volumes.geometry import heatmap_to_native, to_model
from SaliencyExplorerLib.volumes.intensity import normalise_intensity


def volume(size=(20, 16, 12), spacing=(1.0, 1.5, 2.5)):
    rng = np.random.default_rng(0)
    arr = np.zeros(size[::-1], np.float32)
    arr[3:8, 4:12, 5:15] = 100 + rng.normal(0, 5, (5, 8, 10))
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin((3.0, -2.0, 7.0))
    return img


def test_chain_runs_in_order_with_its_own_statistics():
    card = parse_card(
        {"input": {"intensity": [{"clip_percentiles": [10, 90]}, {"zscore": {}}, {"scale": {"a": 2, "b": 1}}]}}
    )
    (chain,) = card.input.intensity
    assert isinstance(chain, IntensityChain) and [s.op for s in chain.steps] == ["clip_percentiles", "zscore", "scale"]
    x = np.arange(100, dtype=np.float32)
    lo, hi = np.percentile(x, [10, 90])
    y = np.clip(x, lo, hi)
    expected = (y - y.mean()) / y.std() * 2 + 1
    assert np.allclose(normalise_intensity(x, chain), expected, atol=1e-5)


def test_single_step_form_is_unchanged_and_per_channel_chains_parse():
    card = parse_card(
        {
            "in_channels": 2,
            "input": {
                "intensity": [
                    {"type": "window", "min": 0, "max": 10},
                    [{"range": {"a_min": 0, "a_max": 10, "b_min": -1, "b_max": 1, "clip": True}}],
                ]
            },
        }
    )
    assert card.input.intensity[0].type == "window" and isinstance(card.input.intensity[1], IntensityChain)
    assert parse_card(card_to_dict(card)) == card


def test_zscore_nnunet_mask_parses_round_trips_and_validates():
    card = {"input": {"intensity": [{"zscore": {"mask": "nnunet_nonzero"}}]}}
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(card, json.loads(SCHEMA_PATH.read_text()))
    parsed = parse_card(card)
    assert parsed.input.intensity[0].steps[0].get("mask") == "nnunet_nonzero"
    assert card_to_dict(parsed)["input"]["intensity"] == card["input"]["intensity"]
    assert parse_card(card_to_dict(parsed)) == parsed


@pytest.mark.parametrize(
    "intensity,field",
    [
        ([{"zscore": {}}, {"type": "none"}], "input.intensity"),
        ([{"clip_percentiles": [50, 10]}], "input.intensity[0].clip_percentiles.upper"),
        ([{"blur": {}}], "input.intensity[0].blur"),
        ([{"zscore": {"std": 0}}], "input.intensity[0].zscore.std"),
        ([{"zscore": {"mask": "brain"}}], "input.intensity[0].zscore.mask"),
    ],
)
def test_bad_chains_name_the_field(intensity, field):
    with pytest.raises(CardError, match=re.escape(f"'{field}'")):
        parse_card({"input": {"intensity": intensity}})


def test_fit_extent_into_n_cubed():
    img = volume()
    card = parse_card({"input": {"fit": "extent", "size": [8, 8, 8]}})
    grid = to_model(img, card).grid
    extent = np.asarray(img.GetSize()) * np.asarray(img.GetSpacing())
    assert grid.size == (8, 8, 8) and np.allclose(grid.spacing, extent / 8)
    first_corner = np.asarray(img.GetOrigin()) - 0.5 * np.asarray(img.GetSpacing())
    assert np.allclose(np.asarray(grid.origin) - 0.5 * np.asarray(grid.spacing), first_corner)


def test_fit_first_voxel_keeps_the_first_voxel():
    img = volume()
    grid = to_model(img, parse_card({"input": {"fit": "first_voxel", "spacing": [2.0, 2.0, 2.0]}})).grid
    assert np.allclose(grid.origin, img.GetOrigin())
    assert grid.size == tuple(int(np.round((n - 1) * s / 2.0 + 1)) for n, s in zip(img.GetSize(), img.GetSpacing()))


@pytest.mark.parametrize("on", ["model_grid", "native"])
def test_crop_foreground_box_and_margin(on):
    img = volume()
    card = parse_card({"input": {"crop_foreground": {"threshold": 50, "margin": [1, 0, 2], "on": on}}})
    model_input = to_model(img, card)
    assert model_input.grid.size == (10 + 2, 8, 5 + 4)
    heat = heatmap_to_native(np.ones((1, *model_input.tensor.shape[2:]), np.float32), model_input)
    arr = sitk.GetArrayFromImage(heat)
    assert heat.GetSize() == img.GetSize() and arr[0, 0, 0] == 0 and arr[5, 8, 10] == 1


def test_native_normalisation_then_resampling_and_edge_background():
    img = volume()
    card = parse_card(
        {
            "input": {
                "intensity": [{"scale": {"a": 2.0, "b": 0.0}}],
                "intensity_on": "native",
                "background": "edge",
                "spacing": [3.0, 3.0, 3.0],
                "size": [12, 12, 12],
            }
        }
    )
    t = to_model(img, card).tensor[0, 0].numpy()
    assert t.max() <= 2 * sitk.GetArrayViewFromImage(img).max() + 1e-3
    assert t.min() >= 0.0  # edge voxels are 0 here: nothing below


def test_schema_knows_the_new_fields():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text())
    card = {
        "input": {
            "fit": "extent",
            "reorient": "axes",
            "orientation": "RAS",
            "interpolation": "bspline",
            "intensity_on": "native",
            "background": "edge",
            "crop_foreground": {"select": "nonzero", "margin": 2, "on": "native"},
            "intensity": [{"clip": {"min": -100, "max": 200}}, {"zscore": {"mean": 3, "std": 2}}],
        },
        "task": "segmentation",
        "inference": {"mode": "sliding_window", "roi_size": [8, 8, 8], "tiling": "nnunet"},
    }
    jsonschema.validate(card, schema)
    parse_card(card)
