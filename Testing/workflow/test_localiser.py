"""A card's localiser: a first model's prediction places the box the explained model sees (deepbet's two
stages, nnU-Net's cascades). The localiser here predicts a bright blob; the explained model's grid must be
that blob's box grown by the margin, and the map must come back to the whole volume, 0 outside the box."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from helpers.window_models import BrightBlobSeg
from SaliencyExplorerLib.card import card_to_dict, load_card, parse_card
from SaliencyExplorerLib.errors import CardError, SaliencyError
from SaliencyExplorerLib.workflow.explain_image import explain_image
from SaliencyExplorerLib.workflow.localiser import grown_box

CENTRE = (28, 20, 12)  # (i, j, k) of the blob: radius 3, so voxels 25..31, 17..23, 9..15
SEG = {
    "task": "segmentation",
    "classes": ["background", "blob"],
    "target_layer": "features",
    "input": {"intensity": {"type": "scale", "a": 0.01, "b": 0.0}},
}


def scan(blob=True):
    k, j, i = np.meshgrid(np.arange(24), np.arange(36), np.arange(40), indexing="ij")
    inside = (i - CENTRE[0]) ** 2 + (j - CENTRE[1]) ** 2 + (k - CENTRE[2]) ** 2 <= 9
    image = sitk.GetImageFromArray((inside * (100.0 if blob else 0.0) + 5.0).astype(np.float32))
    image.SetSpacing((1.0, 1.5, 2.0))
    image.SetOrigin((-20.0, 4.0, 7.0))
    return image


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("localiser")
    torch.jit.script(BrightBlobSeg()).save(str(tmp / "first.pt"))
    torch.jit.script(BrightBlobSeg()).save(str(tmp / "second.pt"))
    card = {
        **SEG,
        "input": {**SEG["input"], "size": [16, 16, 16], "fit": "extent"},
        "localiser": {"model": "first.pt", "card": SEG, "label": 1, "box_margin": 0.5},
    }
    (tmp / "second.json").write_text(json.dumps(card))
    return tmp


def test_grown_box_is_deepbets_rule():
    selected = np.zeros((10, 40, 30), bool)
    selected[2:4, 10:20, 5:6] = True  # sizes 2, 10, 1
    assert grown_box(selected, 0.1) == ((2, 4), (9, 21), (5, 6))  # 10 -> 12 about centre 15; 2 -> 2; 1 -> 1
    assert grown_box(selected, 1.0) == ((0, 6), (0, 30), (4, 7))  # 10 -> 30 about 15; 2 -> 6 about 3


def test_the_localisers_box_is_what_the_model_sees(files):
    image = scan()
    result = explain_image(
        image, str(files / "second.pt"), str(files / "second.json"), method="saliency", target="blob"
    )
    # the first model alone predicts the blob (a little wider than it: its filters smooth); the box is that
    # prediction's, grown to twice its size about its centre (box_margin 0.5)
    first = explain_image(image, str(files / "first.pt"), SEG, method="saliency", target="blob")
    (k0, k1), (j0, j1), (i0, i1) = grown_box(sitk.GetArrayFromImage(first.prediction_image) == 1, 0.5)
    box_low = np.asarray(image.TransformContinuousIndexToPhysicalPoint((i0 - 0.5, j0 - 0.5, k0 - 0.5)))
    box_high = np.asarray(image.TransformContinuousIndexToPhysicalPoint((i1 - 0.5, j1 - 0.5, k1 - 0.5)))
    grid = result.model_input.grid
    assert grid.size == (16, 16, 16)
    assert np.allclose(grid.center(), (box_low + box_high) / 2, atol=1e-6)
    assert np.allclose(np.asarray(grid.spacing) * 16, box_high - box_low, atol=1e-6)  # extent: the box
    heat = sitk.GetArrayFromImage(result.heatmap_image)  # on the whole volume's grid
    assert result.heatmap_image.GetSize() == image.GetSize()
    assert 10 <= i1 - i0 < 40 and heat[:, :, :i0].max() == 0 and heat[:, :, i1:].max() == 0  # 0 outside the box
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)[::-1]
    assert np.linalg.norm(np.subtract(peak, CENTRE)) <= 3


def test_a_localiser_that_finds_nothing_is_one_line(files):
    with pytest.raises(SaliencyError, match="localiser .*predicts no voxel of label 1") as info:
        explain_image(scan(blob=False), str(files / "second.pt"), str(files / "second.json"), method="saliency")
    assert "\n" not in str(info.value)


def test_the_card_names_files_beside_it_and_travels(files):
    card = load_card(files / "second.json")
    assert card.localiser.model == str(files / "first.pt") and card.localiser.box_margin == 0.5
    again = parse_card(json.loads(json.dumps(card_to_dict(card))))
    assert again.localiser.model == card.localiser.model and again.localiser.card.input == card.localiser.card.input
    with pytest.raises(CardError, match="localiser.box_margin"):
        parse_card({"localiser": {"model": "a.pt", "card": {}, "box_margin": -1}})
    with pytest.raises(CardError, match="localiser.card.localiser"):
        parse_card({"localiser": {"model": "a.pt", "card": {"localiser": {"model": "b.pt", "card": {}}}}})
