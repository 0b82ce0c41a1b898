"""card.readers: each typed reader returns the value it checks, or one CardError naming the field and the fix."""

import pytest
from SaliencyExplorerLib.card.readers import LARGEST_INT, _bool, _int, _number, _object, _per_axis_numbers, _str
from SaliencyExplorerLib.errors import CardError


def test_values_come_back_typed():
    assert _int(64.0, "x") == 64 and isinstance(_int(64.0, "x"), int)
    assert _number(2, "x") == 2.0 and _bool(False, "x") is False and _str("a", "x", ("a", "b")) == "a"
    assert _per_axis_numbers([1, 2, 3], "s", 3, _number) == (1.0, 2.0, 3.0)
    assert _per_axis_numbers(1.5, "s", 3, _number) == (1.5,)


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: _int(True, "input.size[0]"), "'input.size[0]'"),
        (lambda: _int(LARGEST_INT + 1, "inference.roi_size[1]"), "absurdly large"),
        (lambda: _number(float("nan"), "output.threshold"), "finite number"),
        (lambda: _number(0, "input.spacing[2]", positive=True), "must be > 0"),
        (lambda: _str("x", "task", ("classification",)), "not one of 'classification'"),
        (lambda: _object({"sizee": 1}, "input", {"size"}), "'input.sizee': unknown field"),
        (lambda: _object({}, "localiser", {"model"}, required=("model",)), "'localiser.model': missing"),
        (lambda: _per_axis_numbers([1, 2], "inference.overlap", 3, _number), "has 2 values for a 3-axis model"),
    ],
)
def test_a_bad_value_names_its_field_in_one_line(call, field):
    with pytest.raises(CardError) as info:
        call()
    assert field in str(info.value) and "\n" not in str(info.value)
