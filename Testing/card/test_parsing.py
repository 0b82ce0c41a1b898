"""The model card parser: documented example, defaults, precise errors, and a fuzz test that it raises only
CardError. The JSON schema shipped in the package is checked against the parser with jsonschema."""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from SaliencyExplorerLib.card import SCHEMA_PATH, ModelCard, find_card_for, load_card, parse_card
from SaliencyExplorerLib.errors import CardError, SaliencyError

EXAMPLE = {
    "name": "Lesion classifier",
    "task": "classification",
    "spatial_dims": 3,
    "in_channels": 1,
    "classes": ["no lesion", "lesion"],
    "input": {
        "orientation": "RAS",
        "array_order": "xyz",
        "spacing": [2.0, 2.0, 2.0],
        "size": [64, 64, 64],
        "center": "image",
        "intensity": {"type": "window", "min": -200, "max": 300},
    },
    "output": {"activation": "softmax"},
    "target_layer": "features.block4",
}


def test_issue_example_parses_to_the_documented_values():
    card = parse_card(EXAMPLE)
    assert card.name == "Lesion classifier" and card.task == "classification"
    assert card.spatial_dims == 3 and card.in_channels == 1
    assert card.classes == ("no lesion", "lesion")
    assert card.input.orientation == "RAS" and card.input.array_order == "xyz"
    assert card.input.spacing == (2.0, 2.0, 2.0) and card.input.size == (64, 64, 64)
    assert card.input.center == "image"
    (win,) = card.input.intensity
    assert (win.type, win.min, win.max) == ("window", -200.0, 300.0)
    assert card.output.activation == "softmax" and card.target_layer == "features.block4"


def test_defaults_when_fields_are_absent():
    card = parse_card({})
    assert card == ModelCard()
    assert card.task == "classification" and card.spatial_dims == 3 and card.in_channels == 1
    assert card.input.orientation is None and card.input.spacing is None and card.input.size is None
    assert card.input.array_order == "xyz" and card.input.center == "image"
    assert card.input.intensity[0].type == "none" and card.output.activation == "auto"
    assert load_card(None) == ModelCard()


def test_two_dimensional_card_inserts_the_slice_axis():
    card = parse_card({"spatial_dims": 2, "input": {"spacing": [1.0, 0.5], "size": [32, 48], "slice_axis": "j"}})
    assert card.input.spacing == (1.0, None, 0.5) and card.input.size == (32, None, 48)


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda c: c.update(colour="red"), "colour"),
        (lambda c: c["input"].update(spacng=[1, 1, 1]), "input.spacng"),
        (lambda c: c["input"].update(spacing=[1, "2", 1]), "input.spacing[1]"),
        (lambda c: c["input"].update(spacing=[1, -2, 1]), "input.spacing[1]"),
        (lambda c: c["input"].update(size=[64, 64.5, 64]), "input.size[1]"),
        (lambda c: c["input"].update(size=[64, 64]), "input.size"),
        (lambda c: c.update(spatial_dims=4), "spatial_dims"),
        (lambda c: c.update(in_channels=True), "in_channels"),
        (lambda c: c.update(task="regression"), "task"),
        (lambda c: c["input"].update(orientation="RRS"), "input.orientation"),
        (lambda c: c["input"].update(array_order="yxz"), "input.array_order"),
        (lambda c: c["input"]["intensity"].pop("max"), "input.intensity.max"),
        (lambda c: c["input"]["intensity"].update(max=-500), "input.intensity.max"),
        (lambda c: c["input"].update(center={"foreground": "x"}), "input.center.foreground"),
        (lambda c: c["input"].update(center="middle"), "input.center"),
        (lambda c: c["output"].update(activation="tanh"), "output.activation"),
        (lambda c: c.update(classes=["a", 2]), "classes[1]"),
        (lambda c: c.update(target_layer=5), "target_layer"),
        (lambda c: c.update(architecture={"kwargs": {}}), "architecture.class"),
    ],
)
def test_each_mistake_names_its_field(mutate, field):
    card = json.loads(json.dumps(EXAMPLE))
    mutate(card)
    with pytest.raises(CardError) as info:
        parse_card(card)
    assert f"'{field}'" in str(info.value)
    assert isinstance(info.value, SaliencyError)


def test_load_card_from_files(tmp_path):
    good = tmp_path / "model.json"
    good.write_text(json.dumps(EXAMPLE))
    model = tmp_path / "model.pt"
    model.write_bytes(b"")
    assert find_card_for(model) == good
    assert load_card(good).path == str(good)
    assert find_card_for(tmp_path / "other.pt") is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x",}')
    with pytest.raises(CardError, match="not valid JSON"):
        load_card(bad)
    with pytest.raises(CardError, match="cannot read"):
        load_card(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"input": {"size": "big"}}))
    with pytest.raises(CardError, match=r"wrong.json.*'input.size'"):
        load_card(wrong)


# ---------------------------------------------------------------- fuzzing
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
    | st.sampled_from(["image", "RAS", "LPS", "xyz", "zyx", "window", "zscore", "none", "k", "min"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "min", "max", "foreground", "mean", "std", "a", "b", "class", "kwargs", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
top_keys = st.sampled_from(
    [
        "name",
        "task",
        "spatial_dims",
        "in_channels",
        "classes",
        "input",
        "output",
        "target_layer",
        "architecture",
        "weights",
        "version",
        "bogus",
    ]
)
input_keys = st.sampled_from(
    ["orientation", "array_order", "spacing", "size", "center", "intensity", "slice_axis", "background", "bogus"]
)
cards = (
    st.dictionaries(top_keys, json_values, max_size=6)
    | st.builds(
        lambda top, inp: {**top, "input": inp},
        st.dictionaries(top_keys, json_values, max_size=4),
        st.dictionaries(input_keys, json_values, max_size=6),
    )
    | json_values
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cards)
def test_fuzzed_cards_raise_only_card_error(data):
    try:
        card = parse_card(data)
    except CardError as exc:
        assert "'" in str(exc) or "model card" in str(exc)
        return
    assert isinstance(card, ModelCard)


def _mutations():
    """Valid cards with one field replaced by an arbitrary value: close to real mistakes."""
    paths = [
        ("name",),
        ("spatial_dims",),
        ("in_channels",),
        ("input", "orientation"),
        ("input", "spacing"),
        ("input", "size"),
        ("input", "center"),
        ("input", "intensity"),
        ("input", "array_order"),
        ("output", "activation"),
        ("target_layer",),
        ("classes",),
    ]
    return st.tuples(st.sampled_from(paths), json_values)


@settings(max_examples=300, deadline=None)
@given(_mutations())
def test_parser_never_accepts_what_the_schema_rejects(mutation):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text())
    card = json.loads(json.dumps(EXAMPLE))
    (*parents, leaf), value = mutation
    node = card
    for p in parents:
        node = node[p]
    node[leaf] = value
    schema_ok = jsonschema.Draft202012Validator(schema).is_valid(card)
    try:
        parse_card(card)
        parser_ok = True
    except CardError:
        parser_ok = False
    # the parser may be stricter (cross-field checks, non-finite numbers), never looser
    if parser_ok:
        assert schema_ok, f"parser accepted a card the schema rejects: {card}"


def test_schema_accepts_the_documented_example():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(EXAMPLE, schema)
    assert not math.isnan(parse_card(EXAMPLE).input.spacing[0])
