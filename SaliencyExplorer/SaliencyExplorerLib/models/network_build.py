"""One path from a file's class and arguments to a network, used by cards, MONAI bundles and nnU-Net plans.

Why one place: the arguments come from a file someone else wrote, and two harms hide in them. They may ask
the constructor to fetch weights or touch files (``pretrained=True``, ``pretrained_url``: ``network_args``),
and they may ask for more weights than the machine holds (``in_channels: 2**40``: ``network_size``). The
order matters, so it is written once:

1. arguments that would download or name files refused by name and by value, before any constructor runs
   (a meta-device build would download just the same);
2. every number finite and bounded, then the network built on the meta device (shapes only) and its
   weights checked against free memory;
3. the network built for real.

Steps 2 and 3 run under the audit hook (``no_side_effects``): a constructor that still reaches the network,
writes a file or starts a process is refused in one line. ``trust_code`` (a card's opt-in to run its own
code, which could do all of that anyway) skips step 1 and the hook, never the size check.
"""

from __future__ import annotations

import contextlib

from .network_args import check_network_args, no_side_effects
from .network_size import check_size, construct


def build_from_args(cls, kwargs: dict, where: str, fix: str, *, trust_code: bool = False):
    """``cls(**kwargs)`` after the checks above; one-line ModelLoadError/SaliencyError, TypeError for wrong
    keywords (the caller names its field). ``where`` names the file's field, ``fix`` says what to change."""
    if not trust_code:
        check_network_args(cls, kwargs, where)
    with contextlib.nullcontext() if trust_code else no_side_effects(where):
        check_size(cls, kwargs, where, fix)
        return construct(cls, kwargs, where, fix)
