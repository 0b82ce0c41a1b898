"""A bundle's network and weights (models/bundle_network.py): ``network_def`` builds MONAI's own class, whose
output with the bundle's ``models/model.pt`` equals MONAI's network loaded by torch itself; a target outside
``monai.networks.nets``, a MONAI instruction among the arguments and weights of another network are refused
in one line naming the field.
"""

import json

import pytest
import torch

monai = pytest.importorskip("monai")

from SaliencyExplorerLib.errors import ModelLoadError  # noqa: E402
from SaliencyExplorerLib.models.bundle_network import build_network, load_weights  # noqa: E402

NETWORK = {
    "_target_": "monai.networks.nets.UNet",
    "spatial_dims": 3,
    "in_channels": 1,
    "out_channels": 2,
    "channels": [4, 8],
    "strides": [2],
    "num_res_units": 1,
}


def test_network_and_weights_equal_monai_loaded_by_torch(tmp_path):
    from monai.networks.nets import UNet

    torch.manual_seed(3)
    theirs = UNet(**{k: v for k, v in NETWORK.items() if k != "_target_"}).eval()
    torch.save(theirs.state_dict(), tmp_path / "model.pt")
    ours = build_network({"network_def": dict(NETWORK)}, tmp_path / "inference.json")
    assert type(ours) is UNet
    load_weights(ours, tmp_path / "model.pt")
    x = torch.randn(1, 1, 8, 8, 8)
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), theirs(x))


@pytest.mark.parametrize(
    "change, match",
    [
        ({"_target_": "os.system"}, r"field 'network_def._target_'.*not a class of monai.networks.nets"),
        ({"_mode_": "debug"}, r"field 'network_def._mode_' is a MONAI instruction"),
    ],
)
def test_network_def_outside_plain_monai_networks_is_refused(tmp_path, change, match):
    config = {"network_def": {**NETWORK, **change}}
    with pytest.raises(ModelLoadError, match=match) as info:
        build_network(json.loads(json.dumps(config)), tmp_path / "inference.json")
    assert "\n" not in str(info.value)


def test_weights_of_another_network_name_the_keys(tmp_path):
    net = build_network({"network_def": dict(NETWORK)}, tmp_path / "inference.json")
    state = net.state_dict()
    dropped = next(iter(state))
    torch.save({k: v for k, v in state.items() if k != dropped}, tmp_path / "model.pt")
    with pytest.raises(ModelLoadError, match=rf"does not fit network_def: missing {dropped}"):
        load_weights(net, tmp_path / "model.pt")
