"""evaluate_volume on a segmentation run: the checks must score the region the map explained.

The pipeline explains a segmentation class over a user's region mask; faithfulness (and the sanity check)
must score that same region. Independent truth: the unperturbed point of the deletion curve is the
target's mean probability over the region, which the pipeline reports as ``result.score``.
"""

import numpy as np
from helpers.geometry_helpers import CT_CARD, SegNet, two_lesion_phantom
from SaliencyExplorerLib.demo.phantoms import rotation_direction
from SaliencyExplorerLib.evaluation.faithfulness import faithfulness
from SaliencyExplorerLib.evaluation.volume import evaluate_volume
from SaliencyExplorerLib.workflow.explain_image import explain_image


def test_segmentation_region_mask_reaches_the_evaluation():
    img, m1, _ = two_lesion_phantom(
        (32, 30, 24), (1.0, 1.1, 1.2), rotation_direction((25, -15, 0)), (8.0, -4.0, 3.0), (-8.0, 4.0, -3.0), radius=4.0
    )
    card = {
        **CT_CARD,
        "input": {**CT_CARD["input"], "orientation": "RAS", "spacing": [2.0, 2.0, 2.0]},
        "task": "segmentation",
    }
    model = SegNet()
    result = explain_image(img, model, card, method="hirescam", target="lesion", region_mask=m1)
    report = evaluate_volume(result, model, region_mask=m1, steps=4, random_repeats=0, sanity=False)
    first = report["curves"]["deletion"][0]
    assert np.isclose(first, result.score, atol=1e-5)
    # scored over the predicted region instead (no mask), the same map starts elsewhere: the test can tell
    unmasked = faithfulness(
        model,
        result.model_input.tensor,
        result.explanation.heatmap,
        target=[1],
        task="segmentation",
        steps=4,
        random_repeats=0,
    )
    assert not np.isclose(unmasked.deletion[0, 0], result.score, atol=1e-2)
