"""models.pt2_schema: the model JSON and payload configs of a real torch.export.save pass; each field outside
what a plain save of a module writes is named."""

import copy
import json
import zipfile

import pytest
import torch
from SaliencyExplorerLib.models.pt2_schema import EXPORTED_PROGRAM, payload_config, validate
from torch.export import Dim


@pytest.fixture(scope="module")
def saved(tmp_path_factory, net, x):
    path = tmp_path_factory.mktemp("schema") / "m.pt2"
    torch.export.save(torch.export.export(net, (x,), dynamic_shapes=({0: Dim("batch")},)), path)
    with zipfile.ZipFile(path) as z:
        return {n.split("/", 1)[1]: z.read(n) for n in z.namelist() if n.endswith(".json")}


def test_real_save_fits(saved):
    assert validate(json.loads(saved["models/model.json"]), EXPORTED_PROGRAM) == []
    assert validate(json.loads(saved["data/weights/model_weights_config.json"]), payload_config("weight")) == []


def _first_node(program):
    return program["graph_module"]["graph"]["nodes"][0]


@pytest.mark.parametrize(
    "edit,phrase",
    [
        (lambda p: p.__setitem__("extra_field", 1), "'extra_field'"),
        (
            lambda p: _first_node(p)["inputs"][0].__setitem__("arg", {"as_graph": {"name": "g", "graph": {}}}),
            "'as_graph'",
        ),
        (
            lambda p: _first_node(p)["inputs"][0].__setitem__(
                "arg", {"as_custom_obj": {"name": "o", "class_fqn": "x"}}
            ),
            "'as_custom_obj'",
        ),
        (lambda p: p["graph_module"]["graph"].__setitem__("custom_obj_values", {"o": {}}), "custom_obj_values"),
        (lambda p: _first_node(p)["metadata"].__setitem__("custom", "{}"), "'custom'"),
        (lambda p: p["opset_version"].__setitem__("mylib", 1), "'mylib'"),
        (lambda p: p.__setitem__("guards_code", ["import os"]), "guard code"),
        (lambda p: _first_node(p).__setitem__("target", "torch.os.system"), "not an aten operator"),
        (lambda p: _first_node(p)["inputs"][0]["arg"].__setitem__("as_tensor", {"name": "x", "more": 1}), "'more'"),
    ],
)
def test_program_fields_outside_the_schema_are_named(saved, edit, phrase):
    program = copy.deepcopy(json.loads(saved["models/model.json"]))
    edit(program)
    problems = validate(program, EXPORTED_PROGRAM)
    assert problems and phrase in problems[0], problems


@pytest.mark.parametrize(
    "change,phrase",
    [
        ({"use_pickle": True}, "use_pickle"),
        ({"path_name": "opaque_obj_0/p"}, "path_name"),
        ({"path_name": "weight_0/../x"}, "path_name"),
        ({"tensor_meta": None}, "tensor_meta"),
    ],
)
def test_payload_entries_must_be_raw_tensors(saved, change, phrase):
    config = json.loads(saved["data/weights/model_weights_config.json"])
    first = next(iter(config["config"]))
    config["config"][first].update(change)
    problems = validate(config, payload_config("weight"))
    assert problems and phrase in problems[0], problems
