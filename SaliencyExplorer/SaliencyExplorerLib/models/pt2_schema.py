"""What the JSON inside a ``.pt2`` may hold: the fields ``torch.export.save`` writes for an ``nn.Module``.

Why: the model JSON (``models/model.json``) and the payload configs (``data/*/model_*_config.json``) steer
what ``torch.export.load`` unpickles, ``eval``s, resolves and calls. This is an allow-list written from what
torch 2.13 writes (saved conv nets, UNets, buffers, constants, dynamic shapes; schema
``torch/_export/serde/schema.py``), not a reflection of torch's schema: a field torch adds later is refused
until someone looks at it. Everything else -- ``as_graph`` subgraphs, custom or opaque objects, tokens,
``use_pickle``, unknown metadata keys, a non-aten opset -- is refused, and every string torch interprets
passes a grammar of ``export_guard``.

Specs are small tuples: ``("struct", {field: spec}, required)``, ``("union", {field: spec})`` (exactly one
key), ``("list", spec)``, ``("map", key_check, spec)``, ``("opt", spec)`` or a leaf ``check(value) -> bool``.
"""

from __future__ import annotations

import re

from .export_guard import (
    from_node_ok,
    graph_target_ok,
    guard_code_ok,
    nn_module_stack_ok,
    plain_text_ok,
    range_key_ok,
    source_fn_ok,
    sym_expr_ok,
    treespec_ok,
)

MAX_ITEMS = 1_000_000
MAX_PROBLEMS = 5
INT_LIMIT = 2**63
# ScalarType (torch/_export/serde/schema.py) -> bytes per element; sub-byte, complex-half and UNKNOWN are refused.
DTYPE_BYTES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 2,
    7: 4,
    8: 8,
    10: 8,
    11: 16,
    12: 1,
    13: 2,
    28: 2,
    29: 1,
    30: 1,
    31: 1,
    32: 1,
    33: 1,
    34: 4,
    35: 8,
}
STRIDED = 7
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_FQN = re.compile(r"[A-Za-z0-9_.@\-]{0,500}")
_DEVICE_TYPES = frozenset({"cpu", "cuda", "mps", "xpu", "meta"})


def _int(v):
    return type(v) is int and abs(v) < INT_LIMIT


def _nonneg(v):
    return _int(v) and v >= 0


def _float(v):
    return type(v) is float or _int(v) or v in ("Infinity", "-Infinity", "NaN")


def _bool(v):
    return type(v) is bool


def _none(v):
    return v is None


def _str(limit):
    return lambda v: isinstance(v, str) and len(v) <= limit


def _re(pattern):
    return lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None


def _one_of(*values):
    return lambda v: any(type(v) is type(x) and v == x for x in values)  # True is not 1 here


NAME, FQN = _re(_NAME), _re(_FQN)


def struct(fields, required=None):
    return ("struct", fields, set(fields) if required is None else set(required))


def union(**fields):
    return ("union", fields)


def listof(spec):
    return ("list", spec)


def mapof(key, spec):
    return ("map", key, spec)


def opt(spec):
    return ("opt", spec)


# ----------------------------------------------------------------------------------------------- the schema
DEVICE = struct({"type": _one_of(*_DEVICE_TYPES), "index": opt(_nonneg)}, {"type"})
SYM_EXPR = struct(
    {"expr_str": sym_expr_ok, "hint": opt(union(as_int=_int, as_bool=_bool, as_float=_float))}, {"expr_str"}
)
SYM_INT = union(as_expr=SYM_EXPR, as_int=_int)
SYM_BOOL = union(as_expr=SYM_EXPR, as_bool=_bool)
SYM_FLOAT = union(as_expr=SYM_EXPR, as_float=_float)
TENSOR_META = struct(
    {
        "dtype": _one_of(*DTYPE_BYTES),
        "sizes": listof(SYM_INT),
        "requires_grad": _bool,
        "device": DEVICE,
        "strides": listof(SYM_INT),
        "storage_offset": SYM_INT,
        "layout": _one_of(STRIDED),
    }
)
STATIC_INT = union(as_int=_nonneg)
STATIC_TENSOR_META = struct(
    {**TENSOR_META[1], "sizes": listof(STATIC_INT), "strides": listof(STATIC_INT), "storage_offset": STATIC_INT}
)
TENSOR_ARG = struct({"name": NAME})
SYM_INT_ARG = union(as_name=NAME, as_int=_int)
SYM_BOOL_ARG = union(as_name=NAME, as_bool=_bool)
SYM_FLOAT_ARG = union(as_name=NAME, as_float=_float)
OPT_TENSOR = union(as_tensor=TENSOR_ARG, as_none=_bool)
ARGUMENT = union(
    as_none=_bool,
    as_tensor=TENSOR_ARG,
    as_tensors=listof(TENSOR_ARG),
    as_int=_int,
    as_ints=listof(_int),
    as_float=_float,
    as_floats=listof(_float),
    as_string=_str(1000),
    as_strings=listof(_str(1000)),
    as_sym_int=SYM_INT_ARG,
    as_sym_ints=listof(SYM_INT_ARG),
    as_scalar_type=_one_of(*DTYPE_BYTES),
    as_memory_format=_one_of(0, 1, 2, 3, 4),
    as_layout=_one_of(STRIDED),
    as_device=DEVICE,
    as_bool=_bool,
    as_bools=listof(_bool),
    as_sym_bool=SYM_BOOL_ARG,
    as_sym_bools=listof(SYM_BOOL_ARG),
    as_optional_tensors=listof(OPT_TENSOR),
    as_optional_tensor=OPT_TENSOR,
    as_sym_float=SYM_FLOAT_ARG,
    as_sym_floats=listof(SYM_FLOAT_ARG),
    as_int_lists=listof(listof(_int)),
    as_float_lists=listof(listof(_float)),
)
NODE = struct(
    {
        "target": graph_target_ok,
        "inputs": listof(struct({"name": NAME, "arg": ARGUMENT, "kind": opt(_one_of(0, 1, 2))}, {"name", "arg"})),
        "outputs": listof(ARGUMENT),
        "metadata": struct(
            {
                "stack_trace": plain_text_ok,
                "nn_module_stack": nn_module_stack_ok,
                "torch_fn": plain_text_ok,
                "source_fn_stack": source_fn_ok,
                "from_node": from_node_ok,
            },
            (),
        ),
        "is_hop_single_tensor_return": opt(_bool),
        "name": opt(NAME),
    },
    {"target", "inputs", "outputs"},
)
EMPTY_MAP = ("map", lambda k: False, _none)
GRAPH = struct(
    {
        "inputs": listof(ARGUMENT),
        "outputs": listof(ARGUMENT),
        "nodes": listof(NODE),
        "tensor_values": mapof(NAME, TENSOR_META),
        "sym_int_values": mapof(NAME, SYM_INT),
        "sym_bool_values": mapof(NAME, SYM_BOOL),
        "sym_float_values": mapof(NAME, SYM_FLOAT),
        "is_single_tensor_return": _bool,
        "custom_obj_values": EMPTY_MAP,
    },
    {"inputs", "outputs", "nodes", "tensor_values"},
)
INPUT_SPEC = union(
    user_input=struct({"arg": ARGUMENT}),
    parameter=struct({"arg": TENSOR_ARG, "parameter_name": FQN}),
    buffer=struct({"arg": TENSOR_ARG, "buffer_name": FQN, "persistent": _bool}),
    tensor_constant=struct({"arg": TENSOR_ARG, "tensor_constant_name": FQN}),
    constant_input=struct(
        {"name": NAME, "value": union(as_none=_bool, as_int=_int, as_float=_float, as_string=_str(1000), as_bool=_bool)}
    ),
)
OUTPUT_SPEC = union(
    user_output=struct({"arg": ARGUMENT}),
    buffer_mutation=struct({"arg": TENSOR_ARG, "buffer_name": FQN}),
    user_input_mutation=struct({"arg": TENSOR_ARG, "user_input_name": NAME}),
)
CALL_SIGNATURE = struct(
    {
        "inputs": listof(ARGUMENT),
        "outputs": listof(ARGUMENT),
        "in_spec": treespec_ok,
        "out_spec": treespec_ok,
        "forward_arg_names": opt(listof(NAME)),
    },
    {"inputs", "outputs", "in_spec", "out_spec"},
)
GRAPH_MODULE = struct(
    {
        "graph": GRAPH,
        "signature": struct({"input_specs": listof(INPUT_SPEC), "output_specs": listof(OUTPUT_SPEC)}),
        "module_call_graph": listof(struct({"fqn": FQN, "signature": opt(CALL_SIGNATURE)}, {"fqn"})),
        "metadata": EMPTY_MAP,
        "treespec_namedtuple_fields": EMPTY_MAP,
    },
    {"graph", "signature", "module_call_graph"},
)
EXPORTED_PROGRAM = struct(
    {
        "graph_module": GRAPH_MODULE,
        "opset_version": mapof(lambda k: k == "aten", _nonneg),
        "range_constraints": mapof(range_key_ok, struct({"min_val": opt(_int), "max_val": opt(_int)})),
        "schema_version": struct({"major": _nonneg, "minor": _nonneg}),
        "verifiers": listof(_one_of("TRAINING", "ATEN")),
        "torch_version": _re(re.compile(r"[0-9A-Za-z.+_\-]{1,64}")),
        "guards_code": listof(guard_code_ok),
    },
    {"graph_module", "schema_version"},
)


def payload_config(prefix: str):
    """``data/weights/model_weights_config.json`` (``weight_N``) or the constants config (``tensor_N``):
    raw tensors only -- no ``use_pickle``, no ``custom_obj_``/``opaque_obj_`` paths, no folders."""
    meta = struct(
        {
            "path_name": _re(re.compile(prefix + r"_[0-9]{1,9}")),
            "is_param": _bool,
            "use_pickle": _one_of(False),
            "tensor_meta": STATIC_TENSOR_META,
        }
    )
    return struct({"config": mapof(FQN, meta)})


# --------------------------------------------------------------------------------------------- the walker
_WHY = {
    sym_expr_ok: "is not a shape expression of the form torch writes (sympy would eval it)",
    range_key_ok: "is not a shape expression of the form torch writes (sympy would eval it)",
    guard_code_ok: "is guard code outside the grammar torch writes (torch would compile and run it)",
    graph_target_ok: "is not an aten operator (the graph calls it when it runs)",
    treespec_ok: "is not a tree spec of plain tuples, lists and dicts",
    source_fn_ok: "is not a source_fn_stack of plain dotted names",
    plain_text_ok: "holds control characters (a carriage return ends a line of generated code)",
    nn_module_stack_ok: "is not an nn_module_stack of plain dotted module names (it becomes generated code)",
    from_node_ok: "is not from_node provenance as torch writes it",
}


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate(value, spec, where: str = "") -> list[str]:
    """Problems (at most MAX_PROBLEMS) where ``value`` leaves ``spec``; [] when it fits."""
    problems: list[str] = []
    count = [0]

    def walk(v, s, at):
        if len(problems) >= MAX_PROBLEMS:
            return
        count[0] += 1
        if count[0] > MAX_ITEMS:
            if count[0] == MAX_ITEMS + 1:
                problems.append(f"{where or 'the JSON'} has more than {MAX_ITEMS} values")
            return
        if callable(s):
            try:
                ok = bool(s(v))
            except Exception:  # noqa: BLE001 - a check meeting a value of another type: not what torch writes
                ok = False
            if not ok:
                why = _WHY.get(s, "is not a value torch.export.save writes there")
                problems.append(f"{at or 'the value'} = {_show(v)} {why}")
            return
        kind = s[0]
        if kind == "opt":
            if v is not None:
                walk(v, s[1], at)
        elif kind == "list":
            if not isinstance(v, list):
                problems.append(f"{at} is not a list")
                return
            for i, item in enumerate(v):
                walk(item, s[1], f"{at}[{i}]")
        elif kind == "map":
            if not isinstance(v, dict):
                problems.append(f"{at} is not an object")
                return
            for key, item in v.items():
                if not s[1](key):
                    problems.append(f"{at} has the key {_show(key)}, which torch.export.save does not write there")
                    return
                walk(item, s[2], f"{at}.{key}")
        elif kind == "struct":
            if not isinstance(v, dict):
                problems.append(f"{at} is not an object")
                return
            unknown = [k for k in v if k not in s[1]]
            if unknown:
                problems.append(
                    f"{at or 'the top level'} has the field {_show(unknown[0])}, which is not one a plain "
                    "torch.export.save of a module writes"
                )
                return
            missing = sorted(s[2] - set(v))
            if missing:
                problems.append(f"{at or 'the top level'} lacks the field {missing[0]!r}")
                return
            for key, item in v.items():
                walk(item, s[1][key], f"{at}.{key}" if at else key)
        elif kind == "union":
            if not (isinstance(v, dict) and len(v) == 1):
                problems.append(f"{at} is not a one-key object")
                return
            ((key, item),) = v.items()
            if key not in s[1]:
                problems.append(
                    f"{at} is {_show(key)}, which this tool does not accept in a .pt2 "
                    "(subgraphs, custom or opaque objects, tokens and operators as values run code or "
                    "are not written for a plain module)"
                )
                return
            walk(item, s[1][key], f"{at}.{key}")

    walk(value, spec, where)
    return problems
