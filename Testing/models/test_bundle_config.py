"""models.bundle_config: a bundle's config read as plain data. An alias bomb that PyYAML's own safe loader
expands is refused; deep nesting and huge files are one line; ``@`` references resolve, ``$`` and ``%`` do not."""

import json

import pytest
from SaliencyExplorerLib.errors import ModelLoadError
from SaliencyExplorerLib.models.bundle_config import MAX_DEPTH, Resolver, read_config

yaml = pytest.importorskip("yaml")

BOMB = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nnetwork_def: {_target_: UNet}\n"


def _bundle(tmp_path, name, text):
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / name).write_text(text)
    (tmp_path / "configs" / "metadata.json").write_text("{}")
    return tmp_path


def test_yaml_aliases_are_refused_where_safe_load_expands_them(tmp_path):
    assert len(yaml.safe_load(BOMB)["c"]) == 3 and yaml.safe_load(BOMB)["c"][2][2] == ["x"] * 3  # control
    with pytest.raises(ModelLoadError, match=r"inference.yaml: uses a YAML alias \(\*name\)") as caught:
        read_config(_bundle(tmp_path, "inference.yaml", BOMB))
    assert "\n" not in str(caught.value)
    plain = "network_def: {_target_: UNet, channels: [4, 8]}\n"
    config, path, metadata = read_config(_bundle(tmp_path, "inference.yaml", plain))
    assert config == {"network_def": {"_target_": "UNet", "channels": [4, 8]}} and metadata == {}


def test_depth_and_size_are_capped(tmp_path):
    deep = json.dumps({"network_def": json.loads("[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5))})
    with pytest.raises(ModelLoadError, match=f"nested more than {MAX_DEPTH} levels"):
        read_config(_bundle(tmp_path, "inference.json", deep))
    ok = json.dumps({"network_def": json.loads("[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2))})
    assert read_config(_bundle(tmp_path, "inference.json", ok))[0]["network_def"] is not None
    with pytest.raises(ModelLoadError, match=r"is 5 MiB; a bundle config is a few kB"):
        read_config(_bundle(tmp_path, "inference.json", json.dumps({"pad": "x" * (5 << 20)})))


def test_references_resolve_as_data_and_expressions_are_refused(tmp_path):
    config = {
        "pixdim": [1.5, 1.5, 2.0],
        "net": {"channels": "@width#1"},
        "width": [4, 8],
        "loop": "@loop",
        "code": "$__import__('os').system('true')",
        "macro": "%other.json#x",
    }
    resolver = Resolver(config, tmp_path / "inference.json")
    assert resolver.value("@pixdim", "spacing") == [1.5, 1.5, 2.0]
    assert resolver.value(config["net"], "net") == {"channels": 8}
    with pytest.raises(ModelLoadError, match=r"field 'code' is the expression .* would have to run as code"):
        resolver.value(config["code"], "code")
    with pytest.raises(ModelLoadError, match=r"field 'macro' is a macro"):
        resolver.value(config["macro"], "macro")
    with pytest.raises(ModelLoadError, match=r"field 'loop' has references nested too deep"):
        resolver.value(config["loop"], "loop")
    with pytest.raises(ModelLoadError, match=r"field 'x' refers to @nowhere, which the config does not define"):
        resolver.value("@nowhere", "x")
