"""The strings of a ``.pt2`` that torch turns into code or work, checked against strict grammars.

Why: ``torch.export.load`` hands each shape expression (``expr_str``) to ``sympy.sympify`` (an ``eval``, and
``10**10**9`` hangs it), resolves each node ``target`` by ``getattr`` from ``torch``/``math``/``_operator``,
compiles ``guards_code`` into a function that runs on every call, and rebuilds input/output trees from
``in_spec``/``out_spec``. Instead of looking for known-bad strings we accept only the shapes of string that
``torch.export.save`` (torch 2.13) writes for an ``nn.Module``, with bounded length, nesting and literals:

* shape expressions: ``Symbol('s0', positive=True, integer=True)``, ``Integer(n)`` and the integer functions
  torch's symbolic shapes use (``Add``, ``Mul``, ``FloorDiv``, ``Max``, ...), or the same in infix form
  (``2*s40``) for ``range_constraints`` keys; ``Pow`` only of a power-free base to a literal exponent <= 8;
* guards: comparisons of integer arithmetic on ``L['x'].size()[i]`` / ``.stride()[i]`` (never ``**``);
* targets: ``torch.ops.aten.<op>.<overload>`` and torch's own symbolic-int helpers;
* tree specs: JSON of plain tuples/lists/dicts.
"""

from __future__ import annotations

import ast
import json
import re

MAX_EXPR_CHARS = 4000
MAX_DEPTH = 40
MAX_LITERAL = 2**62
MAX_POW_EXPONENT = 8

# Integer-valued functions of torch.utils._sympy / sympy that torch writes in srepr form (no Float/Rational).
_SYMPY_FUNCS = frozenset(
    """Add Mul Pow FloorDiv CeilDiv CleanDiv IntTrueDiv Mod PythonMod ModularIndexing Max Min
Abs Eq Ne Lt Le Gt Ge StrictLessThan StrictGreaterThan LessThan GreaterThan Equality Unequality And Or Not""".split()
)
_SYMBOL_KEYWORDS = frozenset({"positive", "integer", "nonnegative", "real", "finite"})
_SYMBOL_NAME = re.compile(r"[a-z]{1,4}[0-9]{1,9}")  # s0, u3, zuf1, ps2, idx0 (torch.utils._sympy.symbol prefixes)
_INFIX_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod)
_COMPARE_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _parse(text, limit=MAX_EXPR_CHARS):
    """``ast`` of a bounded, shallow expression, or None. Depth is counted on the text first, so a
    ``((((...`` bomb never reaches the parser's recursion."""
    if not isinstance(text, str) or not text or len(text) > limit or not text.isascii():
        return None
    depth = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth > MAX_DEPTH or depth < 0:
            return None
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    stack = [(tree, 0)]  # operator chains (s0+s0+...) nest without brackets: bound the tree's depth too
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH * 2:
            return None
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return tree


def _int_literal(node) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) is int and abs(node.value) <= MAX_LITERAL


def _has_pow(node) -> bool:
    return any(
        (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Pow")
        or (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow))
        for n in ast.walk(node)
    )


def _small_exponent(node) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Integer":
        node = node.args[0] if len(node.args) == 1 and not node.keywords else None
    return isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value <= MAX_POW_EXPONENT


def _sym_node_ok(node) -> bool:
    if isinstance(node, ast.Name):
        return bool(_SYMBOL_NAME.fullmatch(node.id)) or node.id in ("true", "false")
    if _int_literal(node):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _sym_node_ok(node.operand)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return _small_exponent(node.right) and not _has_pow(node.left) and _sym_node_ok(node.left)
        return isinstance(node.op, _INFIX_OPS) and _sym_node_ok(node.left) and _sym_node_ok(node.right)
    if isinstance(node, ast.Compare):
        return all(isinstance(op, _COMPARE_OPS) for op in node.ops) and all(
            _sym_node_ok(n) for n in [node.left, *node.comparators]
        )
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return False
    name, args = node.func.id, node.args
    if name == "Symbol":
        return (
            len(args) == 1
            and isinstance(args[0], ast.Constant)
            and isinstance(args[0].value, str)
            and bool(_SYMBOL_NAME.fullmatch(args[0].value))
            and all(
                k.arg in _SYMBOL_KEYWORDS and isinstance(k.value, ast.Constant) and type(k.value.value) is bool
                for k in node.keywords
            )
        )
    if name == "Integer":
        return len(args) == 1 and not node.keywords and _int_literal(args[0])
    if name not in _SYMPY_FUNCS or node.keywords or not args or len(args) > 64:
        return False
    if name == "Pow":
        return len(args) == 2 and _small_exponent(args[1]) and not _has_pow(args[0]) and _sym_node_ok(args[0])
    return all(_sym_node_ok(a) for a in args)


def sym_expr_ok(text: str) -> bool:
    """True if ``text`` is a shape expression of the form torch writes: symbols, bounded integer literals,
    integer functions (srepr) or ``+ - * // %`` and comparisons (infix); never ``**`` beyond a small literal."""
    node = _parse(text)
    return node is not None and _sym_node_ok(node)


def range_key_ok(text: str) -> bool:
    """``range_constraints`` keys are ``str(expr)`` (``s77``, ``2*s40``): the same grammar."""
    return sym_expr_ok(text)


# ------------------------------------------------------------------------------------------------- guards


def _size_ref_ok(node) -> bool:
    """``L['x'].size()[2]``, ``L['x'].stride()[0]``, ``L['x'].storage_offset()``."""
    if isinstance(node, ast.Subscript):
        if not _int_literal(node.slice):
            return False
        node, methods = node.value, ("size", "stride")
    else:
        methods = ("storage_offset",)
    if not (
        isinstance(node, ast.Call)
        and not node.args
        and not node.keywords
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in methods
    ):
        return False
    base = node.func.value
    while (
        isinstance(base, ast.Subscript)
        and isinstance(base.slice, ast.Constant)
        and isinstance(base.slice.value, (str, int))
        and not isinstance(base.slice.value, bool)
    ):
        if isinstance(base.slice.value, str) and not base.slice.value.isidentifier():
            return False
        base = base.value
    return isinstance(base, ast.Name) and base.id == "L"


def _guard_node_ok(node) -> bool:
    if _int_literal(node) or _size_ref_ok(node):
        return True
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)) and _guard_node_ok(node.operand)
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, _INFIX_OPS) and _guard_node_ok(node.left) and _guard_node_ok(node.right)
    if isinstance(node, ast.BoolOp):
        return all(_guard_node_ok(v) for v in node.values)
    if isinstance(node, ast.Compare):
        return all(isinstance(op, _COMPARE_OPS) for op in node.ops) and all(
            _guard_node_ok(n) for n in [node.left, *node.comparators]
        )
    return False


def guard_code_ok(text: str) -> bool:
    """A guard as torch writes it for input shapes: integer arithmetic and comparisons on sizes/strides.
    (We never compile guards without the opt-in either: ``ExportedProgram.module(check_guards=False)``.)"""
    node = _parse(text)
    return node is not None and _guard_node_ok(node)


# ----------------------------------------------------------------------------------------- graph targets

# Symbolic-int helpers torch itself serialises (torch._export.serde.serialize._SYM_OPS), without ``pow``,
# ``lshift`` and ``rshift`` (a literal operand makes them a memory/time bomb).
_SYM_OP_NAMES = frozenset(
    {
        "_operator.add",
        "_operator.sub",
        "_operator.mul",
        "_operator.floordiv",
        "_operator.truediv",
        "_operator.mod",
        "_operator.neg",
        "_operator.pos",
        "_operator.eq",
        "_operator.ne",
        "_operator.lt",
        "_operator.le",
        "_operator.gt",
        "_operator.ge",
        "_operator.and_",
        "_operator.or_",
        "_operator.getitem",
        "math.trunc",
        "torch.sym_max",
        "torch.sym_min",
        "torch.sym_int",
        "torch.sym_float",
        "torch.sym_not",
        "torch.sym_ite",
        "torch.sym_sqrt",
        "torch._sym_sqrt",
    }
)
_REFUSED_ATEN = frozenset({"from_file", "_print", "save", "load"})  # read files / print


def graph_target_ok(target: str) -> bool:
    """Node targets are resolved by ``getattr`` from ``torch``/``math``/``_operator`` and called when the graph
    runs (``torch.os.system`` would be). Allow ``torch.ops.aten.<op>.<overload>`` and the helpers above."""
    if not isinstance(target, str):
        return False
    if target in _SYM_OP_NAMES:
        return True
    parts = target.split(".") if isinstance(target, str) and len(target) <= 200 else []
    return (
        len(parts) == 5
        and parts[:3] == ["torch", "ops", "aten"]
        and "__" not in target
        and parts[3] not in _REFUSED_ATEN
        and all(p.isidentifier() for p in parts[3:])
    )


# ---------------------------------------------------------------------------------------------- treespecs

_TREESPEC_TYPES = frozenset(
    {
        None,
        "builtins.tuple",
        "builtins.list",
        "builtins.dict",
        "collections.OrderedDict",
        "torch.fx.immutable_collections.immutable_list",
        "torch.fx.immutable_collections.immutable_dict",
    }
)


_DICT_KEY = re.compile(r"[A-Za-z0-9_.\- ]{0,200}")


def _context_ok(kind, context) -> bool:
    """A leaf has no context, a tuple/list ``"null"``, a dict the JSON list of its keys. torch.fx writes the
    keys of the keyword arguments into generated code (``{'key': value}``), so keys may hold no quote."""
    if kind is None:
        return context is None
    if kind not in ("builtins.dict", "collections.OrderedDict", "torch.fx.immutable_collections.immutable_dict"):
        return context in ("null", None)
    try:
        keys = json.loads(context) if isinstance(context, str) and len(context) < 100_000 else None
    except (ValueError, RecursionError):
        return False
    return isinstance(keys, list) and all(
        (type(k) is int) or (isinstance(k, str) and _DICT_KEY.fullmatch(k) is not None) for k in keys
    )


def treespec_ok(text: str) -> bool:
    """``in_spec``/``out_spec``: ``[protocol, {"type", "context", "children_spec"}]`` of plain containers."""
    if not isinstance(text, str) or len(text) > 200_000:
        return False
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if not (isinstance(data, list) and len(data) == 2 and type(data[0]) is int):
        return False
    budget = [10_000]

    def node_ok(node, depth):
        budget[0] -= 1
        if depth > MAX_DEPTH or budget[0] < 0 or not isinstance(node, dict):
            return False
        if set(node) != {"type", "context", "children_spec"} or node["type"] not in _TREESPEC_TYPES:
            return False
        if not _context_ok(node["type"], node["context"]):
            return False
        return isinstance(node["children_spec"], list) and all(node_ok(c, depth + 1) for c in node["children_spec"])

    return node_ok(data[1], 0)


# ------------------------------------------------------------------------------------------- node metadata

_SOURCE_FN = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]{0,199},"
    r"[A-Za-z_][A-Za-z0-9_]{0,99}(\.[A-Za-z_][A-Za-z0-9_]{0,99}){0,12}"
)
_FROM_NODE_KEYS = {"name": str, "target": str, "graph_id": int, "pass_name": str, "action": str}


_STACK_ITEM = re.compile(
    r"[A-Za-z0-9_.@\-]{0,500},"  # key
    r"((L\['self'\]\.?)?([A-Za-z0-9_]{1,200}(\.[A-Za-z0-9_]{1,200}){0,50}(@[0-9]{1,6})?)?),"  # path
    r"[A-Za-z0-9_.<>]{0,300}"
)  # type name


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_text_ok(text: str, limit: int = 200_000) -> bool:
    """Free text (stack traces): bounded, no carriage return or other control characters, which would end a
    comment line if torch.fx ever writes it into generated code."""
    return isinstance(text, str) and len(text) <= limit and _CONTROL.search(text) is None


def nn_module_stack_ok(text: str) -> bool:
    """``nn_module_stack``: ``key,path,type`` items joined by ``;``, the path a dotted module name. The path
    becomes a module name in generated Python code (``tap_exported`` taps layers by it, and torch.fx writes
    ``getattr(self, "<name>")``), so a quote in it would be code."""
    return (
        isinstance(text, str) and len(text) <= 200_000 and all(_STACK_ITEM.fullmatch(item) for item in text.split(";"))
    )


def source_fn_ok(text: str) -> bool:
    """``source_fn_stack`` (strict export): ``name,dotted.target`` items joined by ``;``. torch resolves each
    target by ``getattr`` (never calls it); no dunders, no ``#`` extension operators."""
    return (
        isinstance(text, str)
        and len(text) <= 20_000
        and "__" not in text
        and all(_SOURCE_FN.fullmatch(item) for item in text.split(";"))
    )


def from_node_ok(text: str) -> bool:
    """``from_node`` (after ``run_decompositions``): JSON provenance, a list of ``{name, target, graph_id,
    pass_name, action, from_node}`` nested; torch rebuilds plain records from it."""
    if not isinstance(text, str) or len(text) > 2_000_000:
        return False
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    budget = [100_000]

    def records_ok(items, depth):
        if items is None:
            return True
        if depth > 200 or not isinstance(items, list):
            return False
        for item in items:
            budget[0] -= 1
            if budget[0] < 0 or not isinstance(item, dict) or not set(item) <= {*_FROM_NODE_KEYS, "from_node"}:
                return False
            if not all(
                type(item[k]) is t and (t is not str or len(item[k]) <= 2000)
                for k, t in _FROM_NODE_KEYS.items()
                if k in item
            ):
                return False
            if not records_ok(item.get("from_node"), depth + 1):
                return False
        return True

    return records_ok(data, 0)
