"""What every package's error tests share: the tree its ``errors`` docstring draws, the classes
it defines, and the exceptions defined anywhere in the package outside its root."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from types import ModuleType


def drawn_tree(doc: str) -> dict[str, str | None]:
    """{class name: parent name} as the docstring ``doc`` draws it (``+--`` under its parent)."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in doc.splitlines():
        m = re.match(r"^(\s+)(?:[| ]*\+-- )?([A-Z]\w+)\s{2,}", line)
        if not m:
            continue
        col = line.index(m[2])
        while stack and stack[-1][0] >= col:
            stack.pop()
        parents[m[2]] = stack[-1][1] if stack else None
        stack.append((col, m[2]))
    return parents


def defined_errors(module: ModuleType) -> dict[str, type]:
    """The exception classes ``module`` itself defines (not those it imports)."""
    return {name: cls for name, cls in vars(module).items()
            if inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__ == module.__name__}


def assert_drawn_is_defined(module: ModuleType) -> dict[str, str | None]:
    """The drawn tree names exactly the classes defined, each under its direct base; returns it."""
    tree = drawn_tree(module.__doc__ or "")
    defined = defined_errors(module)
    assert set(tree) == set(defined)
    for name, parent in tree.items():
        if parent is not None:
            assert defined[parent] in defined[name].__bases__, name
    return tree


def outside_root(package: ModuleType, root: type) -> list[str]:
    """Exceptions defined in any module of ``package`` that are not under ``root``."""
    outside = []
    for info in pkgutil.iter_modules(package.__path__):
        mod = importlib.import_module(f"{package.__name__}.{info.name}")
        for name, cls in vars(mod).items():
            if (inspect.isclass(cls) and issubclass(cls, Exception)
                    and cls.__module__.startswith(package.__name__) and not issubclass(cls, root)):
                outside.append(f"{cls.__module__}.{name}")
    return sorted(set(outside))
