"""torch.export programs (.pt2) made hookable: each layer's last node re-emitted through a Tap.

Truth: the eager model the program was exported from (outputs and Grad-CAM maps).
"""

import numpy as np
import pytest
import torch
from helpers.model_files import card_dict, gradcam
from SaliencyExplorerLib.errors import ModelLoadError
from SaliencyExplorerLib.models.exported import layer_outputs, tap_exported
from SaliencyExplorerLib.models.loading import load_model
from SaliencyExplorerLib.models.taps import Tap


def test_export_program_cams_match_eager(tmp_path, net, x):
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(net, (x,), dynamic_shapes=({0: batch},))
    torch.export.save(program, tmp_path / "m.pt2")
    loaded = load_model(tmp_path / "m.pt2", card_dict())
    assert loaded.kind == "export"
    torch.testing.assert_close(loaded.module(x[:1]), net(x[:1]))
    np.testing.assert_allclose(gradcam(loaded.module, x), gradcam(net, x), rtol=1e-5, atol=1e-6)
    names = {info.name for info in __import__("SaliencyExplorerLib").list_layers(loaded.module, x)}
    assert {"features.block1", "features.block3", "classifier"} <= names


def test_each_layer_output_is_tapped_and_downstream_reads_the_tap(net, x):
    program = torch.export.export(net, (x,))
    found = layer_outputs(program.module())
    assert {"features.block1", "features.block3", "classifier"} <= set(found)
    assert found["classifier"][1].endswith("Linear")
    gm = tap_exported(program, ["features.block3", "features.block3.0"])
    taps = {name: m for name, m in gm.named_modules() if isinstance(m, Tap)}
    assert {"features.block3", "features.block3.0"} <= set(taps)
    seen = []
    handle = taps["features.block3"].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    try:
        torch.testing.assert_close(gm(x), net(x))
    finally:
        handle.remove()
    assert seen == [(2, 4, 4, 4, 4)]  # block3 works on the pooled 4^3 grid with 2 * width = 4 channels
    with pytest.raises(ModelLoadError, match="no layer"):
        tap_exported(program, ["nowhere"])
