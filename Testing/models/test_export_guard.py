"""models.export_guard: a .pt2's shape expressions may only be arithmetic of symbols (sympify evaluates them)
and its graph targets only torch operators (the loader resolves any dotted name)."""

import pytest
from SaliencyExplorerLib.models.export_guard import graph_target_ok, sym_expr_ok


@pytest.mark.parametrize("expr,ok", [
    ("Symbol('s77', positive=True, integer=True)", True),
    ("FloorDiv(s0, 2) + Max(u1, 3)*s0 - 1", True),
    ("__import__('os').system('id')", False),
    ("eval(chr(49))", False),
    ("Symbol('s0').func", False),
    ("Symbol('__class__')", False),
])
def test_sym_expr_guard(expr, ok):
    assert sym_expr_ok(expr) is ok


@pytest.mark.parametrize("target,ok", [("torch.ops.aten.linear.default", True), ("torch.ops.aten._to_copy.default", True),
                                       ("_operator.getitem", True), ("torch.sym_max", True),
                                       ("torch.os.system", False), ("torch.ops.load_library", False),
                                       ("torch.load", False), ("torch.ops.aten.__class__.x", False)])
def test_graph_target_guard(target, ok):
    assert graph_target_ok(target) is ok
