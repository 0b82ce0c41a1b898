"""Taps: identity modules standing where a compiled model's layer was, so forward hooks can see (and
replace) its output; named after the layer's type so that layer tables still read 'Conv3d'."""

import torch
from SaliencyExplorerLib.models.taps import Tap, install_tap, tap_class
from torch import nn


def test_a_tap_passes_its_input_through_and_hooks_can_replace_it():
    tap = tap_class("Conv3d")()
    value = torch.randn(2, 3, 4)
    assert tap(value) is value
    handle = tap.register_forward_hook(lambda m, i, o: o * 2)
    try:
        assert torch.equal(tap(value), value * 2)
    finally:
        handle.remove()


def test_tap_classes_are_named_after_the_layer_type_and_reused():
    conv = tap_class("torch.nn.modules.conv.Conv3d")
    assert conv.__name__ == "Conv3d" and issubclass(conv, Tap)
    assert tap_class("Conv3d") is conv  # one class per type name
    assert tap_class("").__name__ == "Tap" and tap_class("not an identifier").__name__ == "Tap"


def test_install_tap_builds_the_dotted_path_and_keeps_what_was_there():
    root = nn.Module()
    shell = nn.Module()  # an export shell holding a layer's weights
    shell.weight = nn.Parameter(torch.ones(3))
    shell.register_buffer("running", torch.zeros(2))
    shell.inner = nn.Linear(2, 2)
    root.add_module("features", nn.Module())
    root.features.add_module("block3", shell)
    tap = install_tap(root, "features.block3", "ConvBlock")
    assert root.features.block3 is tap and type(tap).__name__ == "ConvBlock"
    assert tap.weight is shell.weight and tap.running is shell.running and tap.inner is shell.inner
    assert install_tap(root, "features.block3", "ConvBlock") is tap  # installing twice keeps the first
    deep = install_tap(root, "head.fc", "Linear")  # missing parents are created as plain taps
    assert dict(root.named_modules())["head.fc"] is deep and isinstance(root.head, Tap)
