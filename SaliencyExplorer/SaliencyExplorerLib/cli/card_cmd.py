"""``card``: print a model's card as JSON (derived from an nnU-Net folder or a MONAI bundle, or as given).

The output is what ``parse_card`` reads back, so it can be saved, edited and passed with ``--card``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..card import card_to_dict, find_card_for, load_card
from ..errors import SaliencyError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "card",
        help="print the model card (derived from an nnU-Net folder or MONAI bundle) as JSON",
        description="Print the card a model is explained with, as JSON the --card option accepts back: the "
        "card given with --card, else the one derived from an nnU-Net v2 folder or a MONAI "
        "bundle, else the card beside a model file (model.json next to model.pt).",
    )
    p.add_argument("--model", "-m", help="model file, nnU-Net v2 trained-model folder (or fold_N), or MONAI bundle")
    p.add_argument("--card", "-c", help="model card JSON (printed back in full, with every default)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.card:
        card = load_card(args.card)
    elif not args.model:
        raise SaliencyError("give --model (a model file or folder) or --card.")
    elif Path(args.model).is_dir():
        from ..models.folders import derive_folder_card  # noqa: PLC0415  (torch: loads only when needed)

        card, notes = derive_folder_card(args.model)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        found = find_card_for(args.model)
        if found is None:
            raise SaliencyError(
                f"{args.model} has no card beside it ({Path(args.model).with_suffix('.json').name}); "
                "a model file without a card runs on the volume's own grid. Write one (see "
                "docs/model-card.md) or give a model folder."
            )
        card = load_card(found)
    print(json.dumps(card_to_dict(card), indent=2))
    return 0
