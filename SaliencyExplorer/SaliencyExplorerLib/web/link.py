"""A link that opens a case: ``/?volume=REL&model=REL[&card=REL][&method=gradcam][&layer=..][&target=1][&run=1]``.

Why: a worklist or another tool hands a case over as a URL; with ``run=1`` the page runs and saves the
heatmap without a click. Paths stay relative to the server's root (``root_files`` checks them when opened).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from ..errors import SaliencyError

KEYS = ("volume", "model", "card", "method", "layer", "target", "run")


@dataclass
class Link:
    volume: str | None = None
    model: str | None = None
    card: str | None = None
    method: str | None = None
    layer: str | None = None
    target: str | None = None
    run: bool = False

    @property
    def empty(self) -> bool:
        return not (self.volume or self.model)


def parse_link(query: str) -> Link:
    """The case a URL's query string names; unknown parameters are refused with the list of known ones."""
    values = parse_qs(str(query or "").lstrip("?"), keep_blank_values=True)
    unknown = sorted(set(values) - set(KEYS) - {"ui", "reconnect"})  # trame's own parameters pass
    if unknown:
        raise SaliencyError(f"unknown link parameter(s) {', '.join(unknown)}: use {', '.join(KEYS)}")
    one = {key: values[key][-1].strip() for key in KEYS if key in values}
    run = one.pop("run", "0").lower()
    if run not in ("", "0", "1", "true", "false", "yes", "no"):
        raise SaliencyError(f"run={run} in the link: use run=1 to run and save, or leave it out")
    if run in ("", "1", "true", "yes") and not (one.get("volume") and one.get("model")):
        raise SaliencyError("run=1 needs volume= and model= in the link (paths relative to the root)")
    return Link(**{k: v or None for k, v in one.items()}, run=run in ("", "1", "true", "yes"))


def target_choice(target: str | None, entries: list) -> str:
    """The target list's entry for a link's ``target`` (an index or a class name); '' means top class."""
    if not target:
        return entries[0][0] if entries else ""
    for label, value in entries:
        name = label.split(":", 1)[-1].strip()
        if str(value) == target or name == target:
            return label
    raise SaliencyError(
        f"target '{target}' is not one of this model's classes: use an index or a name from "
        f"{', '.join(label for label, _ in entries[1:]) or 'the card'}"
    )
