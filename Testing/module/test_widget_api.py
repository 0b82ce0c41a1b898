"""Every Qt signal, slot, method and property the module file uses on a widget exists on the widget's class.

Why: the panel cannot run here, and a misspelt or Qt6-only name (``checkStateChanged``, a CTK setter that
PythonQt does not expose) would first fail in a clinician's Slicer. The widget classes come from the
``.ui``; the names each class offers come from ``qt_api.py``, read from Qt 5.15, CTK and qMRML headers
(each entry cites its header).
"""

from __future__ import annotations

import ast
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from . import qt_api

REPO = Path(__file__).resolve().parents[2]
MODULE_FILE = REPO / "SaliencyExplorer" / "SaliencyExplorer.py"
UI_FILE = REPO / "SaliencyExplorer" / "Resources" / "UI" / "SaliencyExplorer.ui"


def ui_widgets(ui_text: str) -> dict[str, str]:
    """widget objectName -> class, from the .ui XML."""
    return {w.get("name"): w.get("class") for w in ET.fromstring(ui_text).iter("widget")}


def widget_uses(source: str) -> list[tuple[int, str, str, str]]:
    """(line, widget, kind, name) for every ``self.ui.<widget>.<name>`` and ``.connect("signal(...)")``."""
    uses = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)):
            continue
        owner = node.value
        if not (
            isinstance(owner.value, ast.Attribute)
            and owner.value.attr == "ui"
            and isinstance(owner.value.value, ast.Name)
            and owner.value.value.id == "self"
        ):
            continue
        uses.append((node.lineno, owner.attr, "member", node.attr))
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "connect"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            target = node.func.value
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Attribute)
                and target.value.attr == "ui"
            ):
                uses.append((node.lineno, target.attr, "signal", node.args[0].value))
    return uses


def problems(source: str, ui_text: str) -> list[str]:
    """Every use the table does not back, as 'line N: Class.name'."""
    widgets = ui_widgets(ui_text)
    found = []
    for line, widget, kind, name in widget_uses(source):
        cls = widgets.get(widget)
        if cls is None:
            found.append(f"line {line}: self.ui.{widget} is not a widget of the .ui")
        elif kind == "signal" and name not in qt_api.signals(cls):
            found.append(f"line {line}: {cls} has no signal {name}")
        elif kind == "member" and (name not in qt_api.members(cls) or name in qt_api.qt6_only(cls)):
            found.append(f"line {line}: {cls}.{name} does not exist in Qt 5.15 / is not exposed to Python")
    return found


def test_every_widget_class_of_the_ui_is_in_the_table():
    classes = set(ui_widgets(UI_FILE.read_text()).values())
    assert classes and classes <= set(qt_api.QT_API), classes - set(qt_api.QT_API)
    for cls in classes:
        assert qt_api.QT_API[cls]["source"], cls  # every class cites the header it was read from


def test_module_file_uses_only_names_its_widgets_have():
    source = MODULE_FILE.read_text()
    uses = widget_uses(source)
    assert len(uses) > 15  # the checker sees the panel's real uses (connects, texts, values)
    assert {kind for _, _, kind, _ in uses} == {"member", "signal"}
    assert problems(source, UI_FILE.read_text()) == []


@pytest.mark.parametrize(
    "bad, expected",
    [
        ('self.ui.applyButton.connect("clicked(int)", f)', "has no signal clicked(int)"),
        ('self.ui.modelPathLineEdit.connect("currentPathChanged(QUrl)", f)', "has no signal"),
        ("self.ui.makeLabelMapCheckBox.checkStateChanged.connect(f)", "does not exist in Qt 5.15"),
        ("self.ui.progressBar.setValu(3)", "QProgressBar.setValu"),
        ("self.ui.noSuchWidget.show()", "not a widget of the .ui"),
    ],
)
def test_checker_catches_misspelt_and_qt6_only_names(bad, expected):
    """Control: the same check fails on names that do not exist (so the pass above means something)."""
    source = "class W:\n    def f(self):\n        " + bad + "\n"
    ui_text = UI_FILE.read_text()
    widgets = ui_widgets(ui_text)
    if "makeLabelMapCheckBox" in bad and "makeLabelMapCheckBox" not in widgets:
        name = next(n for n, c in widgets.items() if c == "QCheckBox")
        source = source.replace("makeLabelMapCheckBox", name)
    found = problems(source, ui_text)
    assert len(found) == 1 and expected in found[0], found
