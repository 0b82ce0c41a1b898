"""models.pickle_scan: every global a pickle would import, found without unpickling it (STACK_GLOBAL operands
from the memo or shuffled by POP, protocol 0, Python 2 names), failing closed when an operand is unknown."""

import pickle

from SaliencyExplorerLib.models.pickle_scan import DATA_GLOBALS, pickle_globals


def test_the_allow_list_is_torchs_weights_only_one():
    assert {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.device"} <= DATA_GLOBALS
    assert not {"builtins.eval", "os.system", "builtins.exec"} & DATA_GLOBALS


def _stack_global(module, name):
    return b"\x80\x04" + _s(module) + b"\x94" + _s(name) + b"\x94" + b"\x93" + b")R."


def _s(text):
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def test_stack_global_operands_from_memo_and_pop_are_resolved():
    # push builtins/eval, memoize, push decoys, POP them, fetch the originals back from the memo
    evil = (
        b"\x80\x04"
        + _s("builtins")
        + b"\x94"
        + _s("eval")
        + b"\x94"
        + _s("collections")
        + _s("OrderedDict")
        + b"00"  # two POPs
        + b"h\x00h\x01\x93"
        + _s("1")
        + b"\x85R."
    )
    assert pickle_globals(evil) == ["builtins.eval"]
    assert pickle_globals(_stack_global("collections", "OrderedDict")) == ["collections.OrderedDict"]


def test_protocol_0_and_python2_names_are_canonical():
    assert pickle_globals(pickle.dumps(set([1]), protocol=0)) == ["builtins.set"]
    assert pickle_globals(b"c__builtin__\neval\n(S'1'\ntR.") == ["builtins.eval"]


def test_unresolvable_stack_global_fails_closed():
    assert pickle_globals(b"\x80\x04K\x01K\x02\x93.") == ["<unresolved>"]
