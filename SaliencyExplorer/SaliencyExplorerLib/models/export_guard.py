"""What a ``torch.export`` program may name without running code: shape expressions that are plain
arithmetic of symbols (``sympy.sympify`` evaluates them) and graph targets that are torch operators.

Why: ``torch.export.load`` ``eval``s every shape expression in ``models/<m>.json`` and resolves any dotted
target from ``torch``/``math``/``_operator`` -- code execution with no pickle at all. Both are checked
against allow-lists before the loader sees the file.
"""

from __future__ import annotations

import ast

import torch

# ------------------------------------------------------------------------------------ sympy expression guard

# Names torch writes in expr_str (srepr-style Symbol(...) plus the functions in
# GraphModuleDeserializer.sympy_functions and sympy's core). Anything else, any attribute access,
# subscript, lambda, or non-identifier string is refused: sympify() eval()s the text.
_SYMPY_NAMES = frozenset("""
Symbol Integer Rational Float Add Mul Pow Max Min Abs Mod Eq Ne Lt Le Gt Ge And Or Not Xor ITE Piecewise
StrictLessThan StrictGreaterThan LessThan GreaterThan Equality Unequality floor ceiling sqrt exp log
oo zoo nan true false True False None Integer
FloorDiv ModularIndexing Where PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift
IsNonOverlappingAndDenseIndicator TruncToFloat TruncToInt RoundToInt RoundDecimal ToFloat Identity
PowByNatural FloatPow FloatTrueDiv IntTrueDiv OpaqueUnaryFn_sqrt BitwiseFn_bitwise_and BitwiseFn_bitwise_or
""".split())
_SAFE_AST = (ast.Expression, ast.Call, ast.keyword, ast.Name, ast.Load, ast.Constant, ast.BinOp, ast.UnaryOp,
             ast.BoolOp, ast.Compare, ast.Tuple, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


def sym_expr_ok(text: str) -> bool:
    """True if ``text`` is a plain arithmetic/symbol expression that sympify cannot turn into code."""
    if len(text) > 10_000:
        return False
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if not isinstance(node, _SAFE_AST):
            return False
        if isinstance(node, ast.Name) and node.id not in _SYMPY_NAMES and not _is_symbol_name(node.id):
            return False
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _SYMPY_NAMES):
            return False
        if isinstance(node, ast.keyword) and (node.arg is None or not isinstance(node.value, ast.Constant)):
            return False
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not _is_symbol_name(node.value):
            return False
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            return False
    return True


def _is_symbol_name(s: str) -> bool:
    """torch's shape symbols: a short lowercase prefix and digits (s0, u3, zuf1, ps2, idx0...)."""
    letters = s.rstrip("0123456789")
    return 0 < len(letters) < len(s) and letters.isalpha() and letters.islower() and letters.isascii()


def _sym_op_names() -> frozenset[str]:
    """Serialized names of the non-``torch.ops`` callables torch itself puts in graphs (``_SYM_OPS``)."""
    try:
        from torch._export.serde.serialize import _SYM_OPS
        names = {f"{op.__module__}.{op.__name__}" for op in _SYM_OPS}
    except Exception:
        names = set()
    return frozenset(names | {"_operator.getitem", "_operator.add", "_operator.mul", "_operator.sub",
                              "_operator.floordiv", "_operator.truediv", "_operator.mod", "math.trunc"})


_SYM_OP_NAMES = _sym_op_names()
_TORCH_OPS_ATTRS = frozenset(a for a in dir(type(torch.ops)) if not a.startswith("__")) | {"load_library"}


def graph_target_ok(target: str) -> bool:
    """Node targets are resolved by getattr from ``torch``/``math``/``_operator`` (deserialize_operator):
    ``torch.os.system`` or ``torch.ops.load_library`` would be called when the graph runs. Allow only
    operator overloads ``torch.ops.<ns>.<op>[.<overload>]`` and torch's own symbolic-shape helpers."""
    if target in _SYM_OP_NAMES:
        return True
    parts = target.split(".")
    return (target.startswith("torch.ops.") and 4 <= len(parts) <= 5 and "__" not in target
            and parts[2] not in _TORCH_OPS_ATTRS and all(p.isidentifier() for p in parts))


def graph_targets(obj):
    """Every node ``target`` string in a models/<m>.json, subgraphs included."""
    if isinstance(obj, dict):
        if isinstance(obj.get("target"), str) and "inputs" in obj:
            yield obj["target"]
        for v in obj.values():
            yield from graph_targets(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from graph_targets(v)


def expression_strings(obj):
    """All ``expr_str`` values in a deserialized models/<m>.json (SymInt/SymFloat/SymBool as_expr)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "expr_str" and isinstance(v, str):
                yield v
            else:
                yield from expression_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from expression_strings(v)
