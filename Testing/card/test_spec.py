"""card.spec: what a parsed card answers for its users: the class index or name, and the input shape it
promises the model (open axes 64, or None when it promises none)."""

import pytest
from SaliencyExplorerLib.card import parse_card
from SaliencyExplorerLib.errors import CardError

EXAMPLE = {"classes": ["no lesion", "lesion"], "input": {"size": [64, 64, 64]}}


def test_class_index_by_name_or_number():
    card = parse_card(EXAMPLE)
    assert card.class_index("lesion") == 1 and card.class_index("No Lesion") == 0
    assert card.class_index("1") == 1 and card.class_index(0) == 0
    assert card.class_name(1) == "lesion" and card.class_name(7) is None
    with pytest.raises(CardError, match="known classes"):
        card.class_index("tumour")


def test_the_input_shape_a_card_promises():
    """ModelCard.input_shape: (1, C, *spatial) in the tensor's order; open axes get 64 (or None: no promise)."""
    card = parse_card({"input": {"size": [8, 8, 8]}})
    assert card.input.size == (8, 8, 8) and card.input_shape() == (1, 1, 8, 8, 8)
    # a 2D card: the slice axis (k by default) drops out; zyx reverses the spatial order
    assert parse_card({"spatial_dims": 2, "input": {"size": [16, 12, None]}}).input_shape() == (1, 1, 16, 12)
    assert parse_card({"spatial_dims": 2, "input": {"size": [16, 12, 1], "slice_axis": "i"}}).input_shape() == (
        1,
        1,
        12,
        1,
    )
    assert parse_card({"in_channels": 2, "input": {"size": [4, 6, 8], "array_order": "zyx"}}).input_shape() == (
        1,
        2,
        8,
        6,
        4,
    )
    assert parse_card({}).input_shape(default=None) is None  # no size: nothing to check the model against
    assert parse_card({}).input_shape() == (1, 1, 64, 64, 64)
    assert parse_card({"input": {"size": [10, None, 30]}}).input_shape(default=None) is None
