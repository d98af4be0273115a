"""fastgru's modules import each other without cycles (tools/import_cycles.py counts a
deferred import inside a function too: it hides a cycle, it does not break it)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    path = ROOT / "tools" / "import_cycles.py"
    spec = importlib.util.spec_from_file_location("import_cycles", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fastgru_has_no_import_cycles():
    tool = _tool()
    assert tool.cycles(tool.import_graph(ROOT / "fastgru")) == []


def test_a_deferred_import_cycle_is_found(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("def f():\n    from . import a\n")
    (package / "c.py").write_text("from . import a\n")
    tool = _tool()
    assert tool.cycles(tool.import_graph(package)) == [["pkg.a", "pkg.b"]]
