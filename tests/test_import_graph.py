"""The import graph of jaxgeo and the demo: no cycles between modules or between jaxgeo's
packages, and the library never imports the demo (it is built on the library, not in it)."""

import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent


def _modules() -> dict[str, pathlib.Path]:
  modules = {}
  for root in ("jaxgeo", "demo"):
    for path in (REPO / root).rglob("*.py"):
      name = ".".join(path.relative_to(REPO).with_suffix("").parts)
      modules[name.removesuffix(".__init__")] = path
  return modules


def _graph() -> dict[str, set[str]]:
  """Module -> the modules of jaxgeo and demo it imports (anywhere in the file)."""
  modules = _modules()
  graph = {}
  for name, path in modules.items():
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
      if isinstance(node, ast.Import):
        imported.update(alias.name for alias in node.names)
      elif isinstance(node, ast.ImportFrom) and node.module:
        for alias in node.names:  # `from a import b` names module a.b when there is one
          full = f"{node.module}.{alias.name}"
          imported.add(full if full in modules else node.module)
    graph[name] = {m for m in imported if m in modules and m != name}
  return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The strongly connected components with more than one node (Tarjan's algorithm)."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(node):
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for other in graph.get(node, ()):
      if other not in index:
        visit(other)
        low[node] = min(low[node], low[other])
      elif other in on_stack:
        low[node] = min(low[node], index[other])
    if low[node] == index[node]:
      component = []
      while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == node:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return found


def _package(module: str) -> str:
  """jaxgeo.<package> for modules inside one (jaxgeo.main stays itself), demo for the demo."""
  parts = module.split(".")
  return "demo" if parts[0] == "demo" else ".".join(parts[:2])


def test_no_module_imports_itself_back():
  graph = _graph()
  assert len(graph) > 100 and "jaxgeo.predict.runner" in graph["jaxgeo.predict.predictor"]
  assert _cycles(graph) == []


def test_no_two_packages_import_each_other():
  packages = {}
  for module, imported in _graph().items():
    for other in imported:
      if _package(other) != _package(module):
        packages.setdefault(_package(module), set()).add(_package(other))
  assert "jaxgeo.geo" in packages["jaxgeo.retrieval"]  # the graph is read, not empty
  assert _cycles(packages) == []


def test_the_library_never_imports_the_demo():
  assert not {(module, other) for module, imported in _graph().items() for other in imported
              if module.startswith("jaxgeo") and other.startswith("demo")}
