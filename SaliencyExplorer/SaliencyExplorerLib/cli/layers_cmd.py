"""``layers``: the model's layer table (type, output shape, CAM-capable, the default marked with *).

Why: a CAM needs a layer name; this is how a user finds one, on an input of the shape the card promises.
"""

from __future__ import annotations

import json
import math

from ..card import load_card
from ..core.resources import check_memory, is_out_of_memory
from ..errors import SaliencyError
from .explain_cmd import add_trust_argument, check_device
from .vocabulary import SIZE


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "layers",
        help="list the model's layers; the default target layer is marked *",
        description="Run the model once on a zero input of the card's shape and list every layer with its "
        "output shape; CAM-capable layers are marked 'cam', the default target layer '*'.",
    )
    p.add_argument(
        "--model",
        "-m",
        required=True,
        help="model file, nnU-Net v2 trained-model folder (or its fold_N), or MONAI bundle folder",
    )
    p.add_argument("--card", "-c", help="model card JSON (default: model.json beside model.pt)")
    p.add_argument(
        "--size",
        type=SIZE,
        nargs="+",
        metavar="N",
        help="spatial size of the probe input in the model's tensor order (default: the card's "
        "input.size, else its sliding-window roi_size, else 64 per axis)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    add_trust_argument(p)
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=run)


def probe_shape(card, size=None) -> tuple:
    """(1, C, *spatial) in the model's tensor order: ``--size``, else the card's (open axes 64)."""
    if size:
        dims = card.spatial_dims
        if len(size) != dims or min(size) < 1:
            raise SaliencyError(f"--size needs {dims} positive numbers for a {dims}D model, got {size}.")
        return (1, card.in_channels, *size)
    if card.input_shape(default=None) is None and card.inference.sliding:  # a patch-trained model: one window
        return (1, card.in_channels, *card.inference.roi_size)
    return card.input_shape()


def run(args) -> int:
    import torch  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    from ..core.layers import list_layers  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)
    from ..models.loading import load_model  # noqa: PLC0415  (torch: lazy for the Slicer side and CLI)

    device = check_device(args.device)
    loaded = load_model(
        args.model, load_card(args.card) if args.card else None, trust_code=args.trust_code, device=device
    )
    card = load_card(loaded.card)
    shape = probe_shape(card, args.size)
    fix = "give a smaller --size (the probe needs no more than the model's own input size)"
    check_memory(math.prod(shape) * 4 * 6, f"the probe input {tuple(shape)}", fix)  # input + activations
    try:
        infos = list_layers(loaded.module, torch.zeros(shape, device=device))
    except (RuntimeError, MemoryError) as exc:
        if not is_out_of_memory(exc):
            raise
        raise SaliencyError(f"out of memory probing the model with input {tuple(shape)}; {fix}.") from None
    if card.target_layer:  # the card's choice is the default that explain will use
        chosen = {card.target_layer} if isinstance(card.target_layer, str) else set(card.target_layer)
        for info in infos:
            info.is_default = info.name in chosen
            if info.is_default:
                info.reason = "the model card's target_layer"
    if args.json:
        rows = [
            {
                "name": i.name,
                "type": i.type,
                "output_shape": None if i.output_shape is None else list(i.output_shape),
                "cam_capable": i.cam_capable,
                "default": i.is_default,
                "calls": i.calls,
                "reason": i.reason,
            }
            for i in infos
        ]
        print(json.dumps({"model": args.model, "input_shape": list(shape), "layers": rows}, indent=2))
        return 0
    print(f"model {args.model}, probe input {tuple(shape)}; * = default target layer, cam = CAM-capable")
    for info in infos:
        print(str(info))
    for info in infos:
        if info.is_default:
            print(f"default {info.name}: {info.reason}")
    return 0
