"""A MONAI bundle's config read as plain data: size and depth capped, YAML aliases refused, ``@`` references
resolved without evaluating anything.

Why its own module: reading a file someone else wrote is where the denial-of-service guards live (a 4 GB
config, a 100000-deep nesting, a YAML alias bomb), apart from what the config means (``monai_bundle``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ModelLoadError

CONFIG_NAMES = ("inference.json", "inference.yaml", "inference.yml")


def fail(path, field, problem, fix=""):
    raise ModelLoadError(f"{path}: field '{field}' {problem}.{' ' + fix if fix else ''}")


def read_config(root: Path) -> tuple[dict, Path, dict]:
    """(inference config, its path, metadata) as plain data."""
    path = next(root / "configs" / n for n in CONFIG_NAMES if (root / "configs" / n).is_file())
    for file in (path, root / "configs" / "metadata.json"):
        if file.stat().st_size > MAX_CONFIG_BYTES:
            raise ModelLoadError(
                f"{file} is {file.stat().st_size >> 20} MiB; a bundle config is a few kB. Restore "
                "the bundle's own file."
            )
    try:
        text = path.read_text(encoding="utf-8")
        config = json.loads(text) if path.suffix == ".json" else read_yaml(text)
        metadata = json.loads((root / "configs" / "metadata.json").read_text(encoding="utf-8"))
    except ImportError:
        raise ModelLoadError(f"{path} is YAML; reading it needs PyYAML (pip install pyyaml).") from None
    except RecursionError:
        raise ModelLoadError(
            f"{path} (or configs/metadata.json) is nested too deeply to read. Restore the bundle's own file."
        ) from None
    except ModelLoadError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - JSON/YAML syntax, encoding, I/O
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{path} (or configs/metadata.json) is not readable: {first}") from None
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise ModelLoadError(f"{path}: a bundle config and its metadata.json must be JSON objects.")
    check_depth(config, path)
    return config, path, metadata


MAX_CONFIG_BYTES = 4 << 20
MAX_DEPTH = 40


def read_yaml(text: str):
    """YAML as plain data, refusing aliases (``*name``): an alias bomb would otherwise grow without bound
    when the config is walked (9 aliases per level, 40 levels: 9**40 nodes from a few hundred bytes)."""
    import yaml  # noqa: PLC0415  (MONAI bundles in YAML need PyYAML, as MONAI itself does)

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.events.AliasEvent):
                raise ModelLoadError(
                    "uses a YAML alias (*name), which is not read here (an alias bomb grows "
                    "without bound). Write the values out in place of the aliases."
                )
            return super().compose_node(parent, index)

    return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 - a SafeLoader subclass


def check_depth(config, path) -> None:
    """Refuse a config nested deeper than any bundle is (checked without recursion)."""
    stack = [(config, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ModelLoadError(
                f"{path} is nested more than {MAX_DEPTH} levels deep; no bundle config is. Restore "
                "the bundle's own file."
            )
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


class Resolver:
    """``@name`` / ``@a#b#0`` references of a bundle config, resolved as data (no ``$`` evaluated)."""

    def __init__(self, config, path):
        self.config, self.path = config, path

    def lookup(self, ref, where):
        node = self.config
        for part in ref.split("#"):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                fail(self.path, where, f"refers to @{ref}, which the config does not define")
        return node

    def value(self, node, where, depth=0):
        if depth > 20:
            fail(self.path, where, "has references nested too deep (a loop?)")
        if isinstance(node, str):
            if node.startswith("@"):
                return self.value(self.lookup(node[1:], where), where, depth + 1)
            if node.startswith("$"):
                fail(
                    self.path,
                    where,
                    f"is the expression {node!r}, which would have to run as code",
                    "Write the value itself in the config (a number, list or string).",
                )
            if node.startswith("%"):
                fail(self.path, where, f"is a macro {node!r} (another file's content)", "Inline the value.")
            return node
        if isinstance(node, list):
            return [self.value(v, f"{where}[{n}]", depth + 1) for n, v in enumerate(node)]
        if isinstance(node, dict):
            return {k: self.value(v, f"{where}.{k}", depth + 1) for k, v in node.items()}
        return node
