"""The product's import graph (grimp, the engine of import-linter, reads every import
statement, those inside functions too): no module imports itself through others, and
none imports the worker's entry point ``worker.py``. The contracts between packages are
import-linter's, in ``pyproject.toml`` (``lint-imports``, run by ``make lint``)."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("workorders", "api", "activities", "models", "workflows", "migrations")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True, cache_dir=None)


def test_no_import_circles(graph: grimp.ImportGraph) -> None:
    circles = set()
    for module in graph.modules:
        if module.split(".")[0] not in PACKAGES:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                circles.add(" -> ".join((module, *back)))
    assert not circles, "\n".join(sorted(circles))


def test_no_product_module_imports_the_worker_entry_point(graph: grimp.ImportGraph) -> None:
    assert "worker" not in graph.modules or not graph.find_modules_that_directly_import("worker")
