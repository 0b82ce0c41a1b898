"""``python -m SaliencyExplorerLib``: the command line.

``-m`` puts the current folder first on ``sys.path``: a model folder someone sent that holds
``monai/__init__.py`` or ``dynamic_network_architectures/`` would be imported instead of the installed
package, and run, when the user ``cd``s into it. So the current folder is taken off ``sys.path`` before
anything else is imported (this package is already imported; its submodules come from its own folder).
The ``saliency-explorer`` console script never had the current folder on the path.
"""

import os
import sys


def _drop_current_folder(path: list, cwd: str) -> list:
    """``path`` without the entries that name the current folder ('' or '.' or its absolute path)."""
    here = os.path.realpath(cwd)
    return [p for p in path if not (p in ("", ".") or os.path.realpath(p) == here)]


if __name__ == "__main__":
    sys.path[:] = _drop_current_folder(sys.path, os.getcwd())

    from .cli import main

    sys.exit(main())
