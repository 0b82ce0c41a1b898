"""models.pt2_archive: a .pt2 is accepted without the opt-in only with what torch.export.save writes for a
module; each crafted archive below really runs code (or hangs) in plain torch, and is refused before any
torch loader sees it, under its own name and renamed to .pt."""

import json
import time
import warnings
import zipfile

import pytest
import torch
from helpers import evil_files as me
from SaliencyExplorerLib.models import file_safety as mf
from SaliencyExplorerLib.models.exported import tap_exported
from torch import nn
from torch.export import Dim


def _quiet(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn()
        except Exception:  # noqa: BLE001 - the payload may break the program after it ran
            return None


def _tap_by_stack_path(path):
    """What layer tapping does with a layer name from nn_module_stack (torch.fx writes the code)."""
    from SaliencyExplorerLib.models.taps import install_tap

    gm = torch.export.load(str(path)).module()
    node = next(n for n in gm.graph.nodes if n.op == "call_function" and "nn_module_stack" in n.meta)
    name = [v[0] for v in node.meta["nn_module_stack"].values()][-1]
    install_tap(gm, name, "Linear")
    with gm.graph.inserting_after(node):
        gm.graph.call_module(name, (node,))
    gm.recompile()
    gm(torch.zeros(2, 4))


@pytest.mark.parametrize(
    "writer,victim",
    [
        (me.evil_export_opaque_nested, lambda p: torch.export.load(str(p))),
        (me.evil_export_guards, lambda p: torch.export.load(str(p)).module()(torch.zeros(2, 4))),
        (me.evil_export_module_stack, _tap_by_stack_path),
    ],
    ids=["opaque_obj in a nested path", "guards_code", "quote in an nn_module_stack path"],
)
def test_payload_is_real(tmp_path, writer, victim):
    """Control: plain torch runs each payload (so the refusal below proves something)."""
    marker = tmp_path / "pwned"
    _quiet(lambda: victim(writer(tmp_path, marker)))
    assert marker.exists()


NEW_ATTACKS = [
    me.evil_export_opaque_nested,
    me.evil_export_guards,
    me.evil_export_exponent_bomb,
    me.evil_export_unknown_member,
    me.evil_export_module_stack,
]


@pytest.mark.parametrize("writer", NEW_ATTACKS, ids=[w.__name__ for w in NEW_ATTACKS])
@pytest.mark.parametrize("rename", [None, "weights.pt"])
def test_attack_refused_before_loading(tmp_path, writer, rename):
    marker = tmp_path / "pwned"
    path = writer(tmp_path, marker)
    if rename:
        path = me.renamed(path, rename)
    start = time.perf_counter()
    with pytest.raises(mf.ModelLoadError) as err:
        mf.load_export_safely(path)
    assert time.perf_counter() - start < 2.0  # the exponent bomb never reaches sympy
    message = str(err.value)
    assert "\n" not in message and "--trust-code" in message and str(path) in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "writer,phrase",
    [
        (me.evil_export_opaque_nested, "opaque_obj_0/p"),
        (me.evil_export_guards, "guard code"),
        (me.evil_export_exponent_bomb, "shape expression"),
        (me.evil_export_unknown_member, "data/extra_state.pkl is a pickle"),
        (me.evil_export_weight, "use_pickle"),
        (me.evil_export_sympy, "shape expression"),
        (me.evil_export_target, "not an aten operator"),
        (me.evil_export_module_stack, "nn_module_stack"),
    ],
)
def test_message_names_the_part(tmp_path, writer, phrase):
    problems = mf.inspect_file(writer(tmp_path, tmp_path / "pwned")).problems
    assert problems and phrase in problems[0], problems


class Small(nn.Module):
    """Conv + norm + buffers (persistent and not) + a lifted tensor constant."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 2, 3, padding=1)
        self.norm = nn.BatchNorm3d(2)
        self.fc = nn.Linear(2, 3)
        self.register_buffer("scale", torch.tensor(2.0))
        self.register_buffer("shift", torch.ones(2), persistent=False)
        self.const = torch.full((3,), 0.5)

    def forward(self, x):
        y = torch.relu(self.norm(self.conv(x))) * self.scale + self.shift.sum()
        return self.fc(y.mean((2, 3, 4))) + self.const


class TinyUNet(nn.Module):
    """Pool, upsample and concatenate: dynamic sizes then need guards (size divisible by 2)."""

    def __init__(self):
        super().__init__()
        self.down, self.pool = nn.Conv3d(1, 2, 3, padding=1), nn.MaxPool3d(2)
        self.mid, self.up = nn.Conv3d(2, 2, 3, padding=1), nn.Upsample(scale_factor=2, mode="trilinear")
        self.out = nn.Conv3d(4, 2, 1)

    def forward(self, x):
        a = self.down(x)
        return self.out(torch.cat([a, self.up(self.mid(self.pool(a)))], 1))


@pytest.mark.parametrize(
    "net,x,dims",
    [
        (Small(), torch.randn(2, 1, 6, 6, 6), None),
        (Small(), torch.randn(2, 1, 6, 6, 6), ({0: Dim("batch"), 2: Dim("d", min=4, max=64)},)),
        (
            TinyUNet(),
            torch.randn(2, 1, 8, 8, 8),
            ({0: Dim("batch"), 2: 2 * Dim("h", min=2, max=32), 3: 2 * Dim("w", min=2, max=32)},),
        ),
    ],
    ids=["static", "dynamic batch and depth", "unet with guards"],
)
def test_plain_exports_load_without_the_opt_in(tmp_path, net, x, dims):
    net.eval()
    program = torch.export.export(net, (x,), dynamic_shapes=dims)
    torch.export.save(program, tmp_path / "m.pt2")
    assert mf.inspect_file(tmp_path / "m.pt2").problems == []
    loaded = tap_exported(mf.load_export_safely(tmp_path / "m.pt2"))
    assert not hasattr(loaded, "_guards_fn")  # guards are never compiled without the opt-in
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
    guards = json.loads(zipfile.ZipFile(tmp_path / "m.pt2").read("m/models/model.json"))["guards_code"]
    assert bool(guards) == isinstance(net, TinyUNet)  # the UNet's archive does carry guards, and is accepted


def test_tapping_never_uses_a_name_that_is_not_plain(tmp_path):
    """Even past the check (trust_code), a layer name with a quote is not tapped (it would be code)."""
    marker = tmp_path / "pwned"
    program = torch.export.load(str(me.evil_export_module_stack(tmp_path, marker)))
    gm = tap_exported(program)
    gm(torch.zeros(2, 4))
    assert not marker.exists() and not any('"' in name for name, _ in gm.named_modules())


def test_short_payload_is_refused(tmp_path):
    """A weight member shorter than its metadata (torch would read past it, or allocate zeros if empty)."""
    torch.export.save(torch.export.export(Small().eval(), (torch.randn(1, 1, 4, 4, 4),)), tmp_path / "ok.pt2")
    with zipfile.ZipFile(tmp_path / "ok.pt2") as zin, zipfile.ZipFile(tmp_path / "short.pt2", "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, b"" if info.filename.endswith("weights/weight_0") else data)
    problems = mf.inspect_file(tmp_path / "short.pt2").problems
    assert problems and "weight_0 holds 0 bytes" in problems[0]


def test_compressed_or_duplicated_members_are_refused(tmp_path):
    torch.export.save(torch.export.export(Small().eval(), (torch.randn(1, 1, 4, 4, 4),)), tmp_path / "ok.pt2")
    with (
        zipfile.ZipFile(tmp_path / "ok.pt2") as zin,
        zipfile.ZipFile(tmp_path / "deflated.pt2", "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    assert "compressed" in mf.inspect_file(tmp_path / "deflated.pt2").problems[0]
    with zipfile.ZipFile(tmp_path / "ok.pt2") as zin, zipfile.ZipFile(tmp_path / "twice.pt2", "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zout.writestr("ok/models/model.json", b"{}")
    assert "appears twice" in mf.inspect_file(tmp_path / "twice.pt2").problems[0]


@pytest.mark.parametrize("how", ["strict", "decomposed"])
def test_strict_and_decomposed_exports_load(tmp_path, how):
    """strict=True writes source_fn_stack, run_decompositions() writes from_node: both accepted as data."""
    net, x = Small().eval(), torch.randn(2, 1, 6, 6, 6)
    program = torch.export.export(net, (x,), strict=how == "strict", dynamic_shapes=({0: Dim("batch")},))
    if how == "decomposed":
        program = program.run_decompositions()
    torch.export.save(program, tmp_path / "m.pt2")
    metadata = {
        k
        for n in json.loads(zipfile.ZipFile(tmp_path / "m.pt2").read("m/models/model.json"))["graph_module"]["graph"][
            "nodes"
        ]
        for k in n["metadata"]
    }
    assert ("source_fn_stack" if how == "strict" else "from_node") in metadata
    assert mf.inspect_file(tmp_path / "m.pt2").problems == []
    with torch.no_grad():
        torch.testing.assert_close(tap_exported(mf.load_export_safely(tmp_path / "m.pt2"))(x), net(x))


@pytest.mark.parametrize("member", ["models/model.json", "data/weights/model_weights_config.json"])
def test_random_damage_to_the_json_is_named_never_raised(tmp_path, member):
    """Random edits of a real model.json / weights config (values of other types, huge numbers, nesting):
    each is either still what torch writes or named in a problem; the check itself never raises."""
    import random

    torch.export.save(
        torch.export.export(Small().eval(), (torch.randn(2, 1, 4, 4, 4),), dynamic_shapes=({0: Dim("batch")},)),
        tmp_path / "ok.pt2",
    )
    with zipfile.ZipFile(tmp_path / "ok.pt2") as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    original = json.loads(members["ok/" + member])
    pool = [
        None,
        -1,
        2**70,
        1.5,
        "x",
        "s0**99",
        "torch.os.system",
        [],
        {},
        {"as_graph": {}},
        True,
        [[[[1]]]] * 3,
        {"as_expr": {"expr_str": "9**9**9"}},
        "[" * 50,
    ]
    rng = random.Random(0)

    def paths(node, at=()):
        yield at
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            yield from paths(child, (*at, key))

    every = [p for p in paths(original) if p]
    for n in range(300):
        program = json.loads(json.dumps(original))
        *parent, last = rng.choice(every)
        target = program
        for key in parent:
            target = target[key]
        target[last] = rng.choice(pool)
        with zipfile.ZipFile(tmp_path / "m.pt2", "w") as z:
            for name, data in members.items():
                z.writestr(name.replace("ok/", "m/", 1), json.dumps(program) if name == "ok/" + member else data)
        mf.inspect_file(tmp_path / "m.pt2")  # must not raise
