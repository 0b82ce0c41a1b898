"""``web``: serve the Slicer panel's steps in a browser (trame-slicer), on the files under ``--root``.

Why lazy: trame and trame-slicer come with the ``web`` extra only; every other subcommand works without
them, and this one says how to install them in one line.
"""

from __future__ import annotations

from ..errors import SaliencyError
from .vocabulary import PORT

INSTALL = (
    "the web front door needs trame-slicer: pip install 'SaliencyExplorer[web]' (or bash scripts/setup_env.sh web)"
)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "web",
        help="serve the point-and-click panel in a browser (trame-slicer), on the files under --root",
        description="Starts a web server with the Slicer panel's steps (volume, model, layer, method, target "
        "class, Apply, Compare methods, Save) beside slice and 3D views. Every file it reads or "
        "writes lies under --root; results go to ROOT/results/. A link "
        "/?volume=REL&model=REL&run=1 opens a case and saves its heatmap without a click.",
    )
    p.add_argument("--root", required=True, help="the folder the server may read and write (volumes, models)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on, and only there (default 127.0.0.1)")
    p.add_argument("--port", type=PORT, default=8080, help="port (default 8080; 0: any free port)")
    p.set_defaults(func=run)


def run(args) -> int:
    if not 0 <= args.port <= 65535:
        raise SaliencyError(f"--port {args.port} is not a port number: give 0-65535 (0: any free port)")
    from ..web.root_files import Root  # noqa: PLC0415

    root = Root(args.root)  # a bad root fails before the heavy imports
    try:
        from ..web import app  # noqa: PLC0415  (trame: only with the web extra)
    except ImportError as exc:
        if (exc.name or "").split(".")[0] in (
            "trame",
            "trame_slicer",
            "trame_server",
            "trame_client",
            "trame_vuetify",
            "trame_rca",
            "slicer",
            "vtk",
            "vtkmodules",
            "wslink",
        ):
            raise SaliencyError(f"{INSTALL} ({exc.name} is missing)") from None
        raise
    return app.serve(root.path, args.host, args.port)
