"""models.export_guard: the strings of a .pt2 that torch turns into code or work pass only strict grammars:
shape expressions (sympify evaluates them), guards (compiled), graph targets (resolved and called), tree specs."""

import json
import time

import pytest
from SaliencyExplorerLib.models.export_guard import graph_target_ok, guard_code_ok, sym_expr_ok, treespec_ok

S = "Symbol('s40', positive=True, integer=True)"


@pytest.mark.parametrize(
    "expr,ok",
    [
        # written by torch.export.save (torch 2.13) for conv nets, pooling, upsampling, dynamic batch and sizes
        ("Symbol('s77', positive=True, integer=True)", True),
        (f"Mul(Integer(16), Pow({S}, Integer(3)))", True),
        (f"Max(Integer(1), Add(FloorDiv({S}, Integer(2)), Integer(-1)))", True),
        ("2*s40", True),
        ("s77", True),
        ("FloorDiv(s0, 2) + Max(u1, 3)*s0 - 1", True),
        # code
        ("__import__('os').system('id')", False),
        ("eval(chr(49))", False),
        ("Symbol('s0').func", False),
        ("Symbol('__class__')", False),
        ("lambda: 1", False),
        ("Symbol(s0)", False),
        # work: exponent and literal bombs, nesting
        ("s0+10**10**9", False),
        ("+10**10**9", False),
        ("Pow(Integer(10), Integer(1000000000))", False),
        (f"Pow(Pow({S}, Integer(8)), Integer(8))", False),
        ("s0**9", False),
        (f"Integer({10**30})", False),
        ("(" * 60 + "s0" + ")" * 60, False),
        ("s0+" * 2000 + "1", False),
        ("s0+" * 1300 + "1", False),
        ("s0*" * 30 + "1", True),
        ("Float(1.5)", False),
        ("Rational(1, 3)", False),
    ],
)
def test_sym_expr_grammar(expr, ok):
    start = time.perf_counter()
    assert sym_expr_ok(expr) is ok
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    "code,ok",
    [
        ("(2*(L['x'].size()[2] // 2)) == L['x'].size()[2]", True),
        ("((L['x'].size()[2] // 4) % ((L['x'].size()[3] // 4))) != 0", True),
        ("2*L['x'].size()[0]*((-1) + (L['x'].size()[3] // 2)) >= 2", True),
        ("L['x'].stride()[0] == 1 and L['x'].storage_offset() == 0", True),
        ("__import__('os').system('id') is None", False),
        ("L['x'].size()[0] ** 10**9 > 0", False),
        ("L['x'].__class__ == 1", False),
        ("print(1)", False),
        ("L['x'].size()[0] == x", False),
    ],
)
def test_guard_grammar(code, ok):
    assert guard_code_ok(code) is ok


@pytest.mark.parametrize(
    "target,ok",
    [
        ("torch.ops.aten.linear.default", True),
        ("torch.ops.aten._to_copy.default", True),
        ("_operator.getitem", True),
        ("torch.sym_max", True),
        ("torch.os.system", False),
        ("torch.ops.load_library", False),
        ("torch.load", False),
        ("torch.ops.aten.__class__.x", False),
        ("torch.ops.mylib.op.default", False),
        ("torch.ops.aten.from_file.default", False),
        ("_operator.pow", False),
        ("torch.ops.higher_order.cond", False),
    ],
)
def test_graph_target_guard(target, ok):
    assert graph_target_ok(target) is ok


def test_treespec_grammar():
    plain = (
        '[1, {"type": "builtins.tuple", "context": "null", "children_spec": [{"type": null, "context": null, '
        '"children_spec": []}, {"type": "builtins.dict", "context": "[]", "children_spec": []}]}]'
    )
    assert treespec_ok(plain)
    assert not treespec_ok(plain.replace("builtins.dict", "os.system"))
    assert not treespec_ok("[1, " + '{"type": null, "context": null, "children_spec": [' * 100 + "]}" * 100 + "]")
    kwargs = (
        '[1, {"type": "builtins.tuple", "context": "null", "children_spec": [{"type": "builtins.tuple", '
        '"context": "null", "children_spec": []}, {"type": "builtins.dict", "context": %s, '
        '"children_spec": [{"type": null, "context": null, "children_spec": []}]}]}]'
    )
    assert treespec_ok(kwargs % json.dumps('["mask"]'))
    # torch.fx writes kwarg keys into generated code as {'key': value}: a quote would be code
    assert not treespec_ok(kwargs % json.dumps("[\"x': __import__('os').getpid(), 'y\"]"))


def test_node_metadata_grammars():
    from SaliencyExplorerLib.models.export_guard import from_node_ok, nn_module_stack_ok, source_fn_ok

    assert nn_module_stack_ok("L__self__,,torch.nn.modules.container.Sequential;L__self__0,0,torch.nn.Conv2d")
    assert nn_module_stack_ok("L__self___f_b,L['self'].f.b@1,mod.<locals>.Net")
    assert not nn_module_stack_ok('k,x" if exec(bytes([1])) else "l,torch.nn.Linear')
    from SaliencyExplorerLib.models.export_guard import plain_text_ok

    assert plain_text_ok('File "a.py", line 3, in forward\n    return x') and not plain_text_ok("code: y\rimport os")

    assert source_fn_ok("conv2d,torch.nn.modules.conv.Conv2d;relu,torch.nn.functional.relu")
    assert not source_fn_ok("x,torch.__class__") and not source_fn_ok("x,#ext.op") and not source_fn_ok("x,os system")
    assert from_node_ok(
        '[{"name": "a", "target": "aten.relu.default", "graph_id": 1, "pass_name": "p", '
        '"action": "create", "from_node": [{"name": "b", "target": "t", "graph_id": 2}]}]'
    )
    assert not from_node_ok('[{"name": "a", "eval": "x"}]') and not from_node_ok("[" * 5000 + "]" * 5000)


def test_long_operator_chains_are_refused_not_a_recursion_error():
    chain = " + ".join(["L['x'].size()[0]"] * 180) + " > 0"
    assert len(chain) < 4000 and not guard_code_ok(chain)
