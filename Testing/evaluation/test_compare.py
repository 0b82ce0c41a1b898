"""compare_methods: a model whose decision depends only on a planted region, where the truth is known.

Independent truth: the model reads only the planted box, so hiding the box (occlusion) must explain it
better than a map of the image's own intensities, whose brightest part lies outside the box.
"""

import numpy as np
import pytest
import torch
from SaliencyExplorerLib.errors import SaliencyError
from SaliencyExplorerLib.evaluation import faithfulness
from SaliencyExplorerLib.evaluation.compare import COLUMNS, compare_methods, faithfulness_score, rank_rows
from torch import nn

SIZE = 24
BOX = (slice(4, 10), slice(14, 20))


class Planted(nn.Module):
    """logit(lesion) grows with the mean intensity inside BOX; nothing else matters."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(2, 2)
        region = torch.zeros(1, 1, SIZE, SIZE)
        region[(0, 0, *BOX)] = 1.0
        self.register_buffer("region", region)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, 0, 1, 1] = 1.0
            self.conv.bias.zero_()
            self.fc.weight.copy_(torch.tensor([[-4.0, -4.0], [4.0, 4.0]]))
            self.fc.bias.copy_(torch.tensor([2.0, -2.0]))

    def forward(self, x):
        features = torch.relu(self.conv(x)) * self.region
        return self.fc(features.sum(dim=(2, 3)) / self.region.sum())


def _sample():
    gen = torch.Generator().manual_seed(0)
    x = 0.05 * torch.rand(1, 1, SIZE, SIZE, generator=gen)
    x[(0, 0, *BOX)] += 0.8  # the signal the model uses
    x[0, 0, 12:22, 1:11] += 2.0  # a brighter structure the model ignores
    return x


def _image_map(model, x, target):
    return x[:, 0]


def test_occlusion_beats_the_image_as_map_and_numbers_match_a_direct_evaluation():
    model, x = Planted().eval(), _sample()
    assert int(model(x).argmax()) == 1
    comp = compare_methods(
        model,
        x,
        ["occlusion", "saliency"],
        target=1,
        extra_maps={"image": _image_map},
        method_options={"occlusion": {"window": [4, 4], "mode": "exhaustive"}},
        steps=24,
        random_repeats=2,
        region=np.pad(np.ones((6, 6)), ((4, 14), (14, 4))),
    )
    ranking = comp.ranking
    assert ranking.index("occlusion") < ranking.index("image")
    assert comp.row("image")["sanity_flagged"] is True  # the image does not depend on the weights
    occ = comp.row("occlusion")
    assert occ["pointing_hit"] is True and occ["energy_fraction"] > 0.5
    assert comp.row("image")["pointing_hit"] is False
    # one shared random baseline, identical to what faithfulness() computes for any single map
    direct = faithfulness(model, x, comp.maps["occlusion"], target=1, steps=24, random_repeats=2)
    assert occ["deletion_auc"] == pytest.approx(direct.auc("deletion"))
    assert occ["insertion_auc"] == pytest.approx(direct.auc("insertion"))
    for row in comp.rows:
        assert row["random_deletion_auc"] == pytest.approx(direct.auc("random_deletion"))
        assert row["random_insertion_auc"] == pytest.approx(direct.auc("random_insertion"))
        assert row["seconds"] >= 0 and row["error"] is None
        assert set(COLUMNS) <= set(row) | {"pointing_hit", "energy_fraction", "region_fraction"}
    assert occ["faithfulness_score"] == pytest.approx(
        faithfulness_score(
            occ["deletion_auc"], occ["insertion_auc"], occ["random_deletion_auc"], occ["random_insertion_auc"]
        )
    )
    assert [r["rank"] for r in comp.rows] == [1, 2, 3]
    assert comp.to_dict()["curves"]["fraction"][-1] == 1.0


def test_a_failing_method_gets_its_error_and_no_rank(tmp_path):
    model, x = Planted().eval(), _sample()
    comp = compare_methods(
        model, x, ["saliency", "gradcam"], target=1, steps=8, random_repeats=1, sanity=False, layers="no_such_layer"
    )
    assert comp.row("gradcam")["error"] and comp.row("gradcam")["rank"] is None
    assert comp.row("saliency")["rank"] == 1
    comp.write_csv(tmp_path / "t.csv")
    comp.write_json(tmp_path / "t.json")
    assert (tmp_path / "t.csv").read_text().splitlines()[0].startswith("rank,method,faithfulness_score")


def test_rank_rows_puts_failures_last():
    rows = rank_rows(
        [
            {"method": "b", "faithfulness_score": float("nan")},
            {"method": "a", "faithfulness_score": 0.2},
            {"method": "c", "faithfulness_score": 0.5},
        ]
    )
    assert [(r["method"], r["rank"]) for r in rows] == [("c", 1), ("a", 2), ("b", None)]


def test_rank_rows_puts_sanity_flagged_maps_after_trusted_ones():
    """A map that survives randomising the model is never the recommended one, whatever its score."""
    rows = rank_rows(
        [
            {"method": "image", "faithfulness_score": 0.9, "sanity_flagged": True},
            {"method": "gradcam", "faithfulness_score": 0.4, "sanity_flagged": False},
            {"method": "occlusion", "faithfulness_score": 0.6, "sanity_flagged": False},
            {"method": "edges", "faithfulness_score": 0.7, "sanity_flagged": True},
        ]
    )
    assert [(r["method"], r["rank"]) for r in rows] == [("occlusion", 1), ("gradcam", 2), ("image", 3), ("edges", 4)]


def test_bad_inputs_are_one_line_errors():
    model, x = Planted().eval(), _sample()
    with pytest.raises(SaliencyError, match="Unknown method 'gradkam'"):
        compare_methods(model, x, ["gradkam"])
    with pytest.raises(SaliencyError, match="also method names"):
        compare_methods(model, x, ["saliency"], extra_maps={"saliency": _image_map})
    with pytest.raises(SaliencyError, match="twice"):
        compare_methods(model, x, ["saliency", "saliency"])
    with pytest.raises(SaliencyError, match="region has shape"):
        compare_methods(model, x, ["saliency"], region=np.ones((3, 3)))
    with pytest.raises(SaliencyError, match="nn.Module"):
        compare_methods(lambda t: t, x, ["saliency"])
