"""The extension's files as Slicer builds and catalogs them: CMake lists, catalog entry, icon, module file, .ui.

Slicer's GUI cannot run here, so these checks read the files the way Slicer will: the module file's syntax
tree (parameter node fields, file-scope imports, widget names), the .ui XML (widgets, SlicerParameterName,
widget class vs field type as Slicer's parameterNodeWrapper GUI connectors require), CMake's lists.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from helpers.paths import ROOT

MODULE_DIR = ROOT / "SaliencyExplorer"
MODULE_FILE = MODULE_DIR / "SaliencyExplorer.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "SaliencyExplorer.ui"
MODULE_TREE = ast.parse(MODULE_FILE.read_text())
ALLOWED_FILE_SCOPE_IMPORTS = {
    "logging",
    "pathlib",
    "typing",
    "vtk",
    "slicer",
    "enum",
    "os",
    "qt",
    "ctk",
    "SaliencyExplorerLib",
}  # only its torch-free modules: see the next test


def _cmake_list(path, variable):
    text = path.read_text()
    match = re.search(r"set\(" + variable + r"\s+(.*?)\)", text, re.S)
    assert match, f"{variable} not found in {path}"
    return [t for t in match.group(1).split() if not t.startswith("#")]


def _library_py_files():
    """The library's .py files as the repository holds them (git) or, outside git, on disk."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "SaliencyExplorerLib"],
            cwd=MODULE_DIR,
            capture_output=True,
            text=True,
            encoding="utf-8",
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        out = []
    on_disk = {
        str(p.relative_to(MODULE_DIR))
        for p in (MODULE_DIR / "SaliencyExplorerLib").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    return {f for f in out if f.endswith(".py") and (MODULE_DIR / f).exists()} or on_disk


def test_every_library_py_file_is_listed_in_cmake():
    listed = set(_cmake_list(MODULE_DIR / "CMakeLists.txt", "MODULE_PYTHON_SCRIPTS"))
    missing = sorted(_library_py_files() - listed)
    assert not missing, (
        f"not in MODULE_PYTHON_SCRIPTS of SaliencyExplorer/CMakeLists.txt: {missing}; run "
        "python scripts/update_cmake_lists.py"
    )
    for entry in listed:
        resolved = entry.replace("${MODULE_NAME}", "SaliencyExplorer")
        assert (MODULE_DIR / resolved).is_file(), f"listed but missing: {resolved}"


def test_resources_listed_exist_and_library_data_is_packaged():
    resources = [
        r.replace("${MODULE_NAME}", "SaliencyExplorer")
        for r in _cmake_list(MODULE_DIR / "CMakeLists.txt", "MODULE_PYTHON_RESOURCES")
    ]
    for resource in resources:
        assert (MODULE_DIR / resource).is_file(), resource
    data = {str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / "SaliencyExplorerLib").rglob("*.json")}
    assert data <= set(resources), f"library data files not packaged: {sorted(data - set(resources))}"


def test_top_level_cmake_has_extension_metadata_and_pytorch_dependency():
    text = (ROOT / "CMakeLists.txt").read_text()
    assert "project(SaliencyExplorer)" in text
    for variable in (
        "EXTENSION_HOMEPAGE",
        "EXTENSION_CONTRIBUTORS",
        "EXTENSION_DESCRIPTION",
        "EXTENSION_ICONURL",
        "EXTENSION_SCREENSHOTURLS",
    ):
        assert re.search(rf'set\({variable} "[^"]+"\)', text), variable
    assert re.search(r"set\(EXTENSION_DEPENDS[^)]*\bPyTorch\b", text)
    assert "EXTENSION_CATEGORY" not in text  # removed from the template in 2024: the catalog entry has it
    assert "add_subdirectory(SaliencyExplorer)" in text
    for line in (
        "find_package(Slicer REQUIRED)",
        "include(${Slicer_USE_FILE})",
        "include(${Slicer_EXTENSION_GENERATE_CONFIG})",
        "include(${Slicer_EXTENSION_CPACK})",
    ):
        assert line in text
    module_cmake = (MODULE_DIR / "CMakeLists.txt").read_text()
    assert "slicerMacroBuildScriptedModule" in module_cmake and "slicer_add_python_unittest" in module_cmake
    assert (MODULE_DIR / "Testing" / "Python" / "CMakeLists.txt").is_file()


def test_catalog_entry_validates_against_slicers_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(
        (MODULE_DIR / "Testing" / "Data" / "slicer-extension-catalog-entry-schema-v1.0.2.json").read_text()
    )
    entry = json.loads((ROOT / "SaliencyExplorer.json").read_text())
    jsonschema.validate(entry, schema)
    assert entry["$schema"].rstrip("#") == schema["$id"].rstrip("#")
    assert entry["build_dependencies"] == ["PyTorch"]
    assert entry["category"] in {"Analysis", "Quantification", "Segmentation", "Utilities", "Informatics"}
    repo = entry["scm_url"].rstrip("/").removesuffix(".git").rsplit("/", 1)[-1]
    assert repo.startswith("Slicer"), "the catalog wants the repository name to start with 'Slicer'"
    bad = dict(entry, surplus=1)
    with pytest.raises(jsonschema.ValidationError):  # the schema really is strict: a check that can fail
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize(
    "path", ["Resources/Icons/SaliencyExplorer.png", "SaliencyExplorer/Resources/Icons/SaliencyExplorer.png"]
)
def test_icon_is_a_128_png(path):
    from PIL import Image

    with Image.open(ROOT / path) as image:
        assert image.format == "PNG" and image.size == (128, 128)


def _wrapper_fields():
    for node in MODULE_TREE.body:
        if isinstance(node, ast.ClassDef) and any(
            getattr(d, "id", None) == "parameterNodeWrapper" for d in node.decorator_list
        ):
            return {s.target.id: ast.unparse(s.annotation) for s in node.body if isinstance(s, ast.AnnAssign)}
    raise AssertionError("no @parameterNodeWrapper class in the module file")


def _ui_widgets():
    root = ET.parse(UI_FILE).getroot()
    widgets = {}
    for w in root.iter("widget"):
        params = [p.findtext("string") for p in w.findall("property") if p.get("name") == "SlicerParameterName"]
        widgets[w.get("name")] = (
            w.get("class"),
            params[0] if params else None,
            {p.get("name") for p in w.findall("property")},
        )
    return widgets


# Which widget classes Slicer's parameterNodeWrapper connects to which field types (guiConnectors.py).
def _compatible(widget_class, annotation):
    if widget_class == "qMRMLNodeComboBox":  # a node type, or a Union of node types
        union = re.fullmatch(r"Union\[vtkMRML\w+(, vtkMRML\w+)*\]", annotation)
        return annotation.startswith("vtkMRML") or union is not None
    if widget_class == "ctkPathLineEdit":
        return annotation in ("pathlib.Path", "Path")
    if widget_class in ("QComboBox", "ctkComboBox"):
        return "Choice(" in annotation  # str/int/float/bool need a Choice annotation
    if widget_class in ("ctkSliderWidget", "QDoubleSpinBox", "ctkDoubleSpinBox"):
        return re.search(r"\b(float|int)\b", annotation) is not None
    if widget_class in ("QSpinBox", "QSlider"):
        return re.search(r"\bint\b", annotation) is not None
    if widget_class in ("QCheckBox", "ctkCheckBox"):
        return annotation == "bool"
    if widget_class in ("QLineEdit", "QLabel", "QTextEdit"):
        return annotation == "str"
    return False


def test_ui_parses_and_every_bound_widget_names_a_compatible_field():
    fields, widgets = _wrapper_fields(), _ui_widgets()
    bound = {name: (cls, param) for name, (cls, param, _) in widgets.items() if param}
    assert len(bound) >= 10
    for name, (cls, param) in bound.items():
        assert param in fields, f"{name}: SlicerParameterName '{param}' is not a parameter node field"
        assert _compatible(cls, fields[param]), f"{name} ({cls}) cannot show field {param}: {fields[param]}"
    # the template's slip: a dynamic property named after a field instead of SlicerParameterName
    for name, (_, _, props) in widgets.items():
        assert not (props & set(fields)), f"{name} has a property named like a field: use SlicerParameterName"


def test_every_widget_the_module_uses_exists_in_the_ui():
    used = {
        n.attr
        for n in ast.walk(MODULE_TREE)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Attribute)
        and n.value.attr == "ui"
        and isinstance(n.value.value, ast.Name)
        and n.value.value.id == "self"
    }
    widgets = _ui_widgets()
    assert used and not (used - set(widgets)), f"widgets used but not in the .ui: {sorted(used - set(widgets))}"
    for name in ("applyButton", "progressBar", "statusLabel", "layerComboBox", "methodComboBox", "targetComboBox"):
        assert name in widgets


def test_module_file_has_no_heavy_import_at_file_scope():
    def top_level_imports(body):
        for node in body:
            if isinstance(node, ast.Import):
                yield from (a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                yield node.module or ""
            elif isinstance(node, (ast.If, ast.Try, ast.With)):  # still file scope
                for block in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, block, []):
                        yield from top_level_imports(
                            [child] if not isinstance(child, ast.ExceptHandler) else child.body
                        )

    modules = list(top_level_imports(MODULE_TREE.body))
    heavy = [m for m in modules if m.split(".")[0] not in ALLOWED_FILE_SCOPE_IMPORTS]
    assert modules and not heavy, f"import these inside functions instead: {heavy}"
    for node in MODULE_TREE.body:  # no code at file scope beyond definitions and constants
        assert isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.Assign, ast.Expr)), (
            ast.unparse(node)[:80]
        )


def test_module_choices_come_from_the_library_and_load_without_torch():
    """COLOR_MAPS, DEVICES and the default method are imported, never copied, and what the module file
    imports from the library at file scope loads in a Slicer that has no PyTorch yet."""
    imported = {
        a.name: n.module
        for n in MODULE_TREE.body
        if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("SaliencyExplorerLib")
        for a in n.names
    }
    assert imported == {
        "DEFAULT_METHOD": "SaliencyExplorerLib.core.options",
        "COLOR_MAPS": "SaliencyExplorerLib.mrml.color_tables",
        "DEVICES": "SaliencyExplorerLib.mrml.panel",
    }
    copies = {t.id for n in MODULE_TREE.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert not copies & set(imported)
    code = (
        "import sys; sys.modules['torch'] = None\n"
        + "".join(f"from {module} import {name}\n" for name, module in imported.items())
        + "print(DEFAULT_METHOD, len(COLOR_MAPS))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert result.returncode == 0 and result.stdout.split() == ["gradcam", "7"], result.stderr[-800:]


def test_module_has_the_template_classes():
    classes = {n.name: [ast.unparse(b) for b in n.bases] for n in MODULE_TREE.body if isinstance(n, ast.ClassDef)}
    assert "ScriptedLoadableModule" in classes["SaliencyExplorer"]
    assert "ScriptedLoadableModuleWidget" in classes["SaliencyExplorerWidget"]
    assert "ScriptedLoadableModuleLogic" in classes["SaliencyExplorerLogic"]
    assert "ScriptedLoadableModuleTest" in classes["SaliencyExplorerTest"]
    source = MODULE_FILE.read_text()
    for needle in (
        "connectGui(self.ui)",
        "tryWithErrorDisplay",
        'loadUI(self.resourcePath("UI/SaliencyExplorer.ui"))',
        "PyTorchUtils",
        "confirmOkCancelDisplay",
    ):
        assert needle in source
