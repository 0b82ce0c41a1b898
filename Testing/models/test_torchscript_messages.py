"""TorchScript files: real dotted layer names, and a one-line error naming ``input.size`` (issue 11, item 3).

Truth: the eager model the file was traced from (its ``named_modules`` and outputs).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sitk = pytest.importorskip("SimpleITK")

from SaliencyExplorerLib.core.layers import list_layers  # noqa: E402
from SaliencyExplorerLib.errors import SaliencyError  # noqa: E402
from SaliencyExplorerLib.models.loading import load_model  # noqa: E402
from SaliencyExplorerLib.models.torchscript import layer_paths  # noqa: E402
from SaliencyExplorerLib.workflow.explain_image import explain_image  # noqa: E402
from torch import nn  # noqa: E402


class Nested(nn.Module):
    """``init`` is a Sequential holding a Sequential; forward indexes into it (so ``init`` itself never
    runs as a module), and one ReLU object is shared by two parents."""

    def __init__(self):
        super().__init__()
        relu = nn.ReLU()
        self.init = nn.Sequential(
            nn.Conv3d(1, 4, 3, padding=1), relu, nn.Sequential(nn.Conv3d(4, 4, 3, padding=1), relu)
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x):
        y = self.init[1](self.init[0](x))
        return self.head(self.init[2](y))


def _traced(tmp_path, model, size=(12, 12, 12)):
    torch.manual_seed(0)
    model = model.eval()
    path = tmp_path / "traced.pt"
    torch.jit.trace(model, torch.zeros(1, 1, *size)).save(str(path))
    return path, model


def _volume(size_kji=(10, 12, 12)):
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray(rng.random(size_kji).astype(np.float32))
    image.SetSpacing((1.0, 1.0, 1.5))
    return image


def test_traced_layers_are_listed_under_their_real_dotted_names(tmp_path):
    path, eager = _traced(tmp_path, Nested())
    names = set(layer_paths(torch.jit.load(str(path))))
    real = {n for n, _ in eager.named_modules(remove_duplicate=False) if n}
    assert "init.2" in names and "init.2.0" in names and "init.0" in names
    assert names <= real  # no INSTANCE_NAME_UNKNOWN, no "2.0" that is really "init.2.0"
    loaded = load_model(path)
    table = list_layers(loaded.module, torch.zeros(1, 1, 12, 12, 12))
    listed = {info.name: info.type for info in table}
    assert not any("UNKNOWN" in n for n in listed)
    assert listed["init.2"] == "Sequential" and listed["init.2.0"] == "Conv3d"


def test_a_real_dotted_name_explains_and_its_map_matches_the_eager_model(tmp_path):
    path, eager = _traced(tmp_path, Nested())
    image = _volume()
    scripted = explain_image(image, str(path), method="gradcam", layers="init.2")
    direct = explain_image(image, eager, method="gradcam", layers="init.2")
    assert scripted.explanation.layers == ["init.2"]
    assert scripted.target_index == direct.target_index
    np.testing.assert_allclose(scripted.model_heatmap, direct.model_heatmap, atol=1e-4)


def test_an_unknown_layer_is_refused_naming_the_real_names(tmp_path):
    path, _ = _traced(tmp_path, Nested())
    with pytest.raises(SaliencyError) as info:
        load_model(path, layers=["init.9"])
    message = str(info.value)
    assert "init.9" in message and "init.2" in message and "\n" not in message


def test_a_fixed_size_trace_without_a_card_fails_in_one_line_naming_input_size(tmp_path):
    model = nn.Sequential(
        nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.ReLU()), nn.Flatten(), nn.Linear(2 * 8 * 8 * 8, 2)
    )
    path, _ = _traced(tmp_path, model, size=(8, 8, 8))
    for method in ("gradcam", "saliency"):
        with pytest.raises(SaliencyError) as info:
            explain_image(_volume((9, 11, 13)), str(path), method=method)
        message = str(info.value)
        assert "\n" not in message, message
        assert "input" in message and '"size"' in message and "card" in message
        assert "mat1 and mat2" in message  # the real cause, not the TorchScript frame
        assert "Traceback" not in message and "TorchScript interpreter" not in message


def test_a_fixed_size_trace_with_a_wrong_card_fails_in_one_line(tmp_path):
    model = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 8 * 8 * 8, 2))
    path, _ = _traced(tmp_path, model, size=(8, 8, 8))
    card = {"spatial_dims": 3, "in_channels": 1, "input": {"size": [6, 6, 6]}}
    with pytest.raises(SaliencyError) as info:
        load_model(path, card)
    message = str(info.value)
    assert "\n" not in message and "input.size" in message and "mat1 and mat2" in message


def test_cli_layers_and_explain_print_one_line(tmp_path, capsys):
    from SaliencyExplorerLib.cli import main

    model = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.Flatten(), nn.Linear(2 * 8 * 8 * 8, 2))
    path, _ = _traced(tmp_path, model, size=(8, 8, 8))
    volume = tmp_path / "vol.nrrd"
    sitk.WriteImage(_volume((9, 11, 13)), str(volume))
    for argv in (
        ["layers", "--model", str(path)],
        ["explain", "-i", str(volume), "-m", str(path), "-o", str(tmp_path / "h.nrrd"), "-q"],
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert code != 0
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and '"size"' in lines[0], err
