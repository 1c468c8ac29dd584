"""Pins the public surface of safeops: names, their order and nothing private leaking."""

from __future__ import annotations

import importlib

import pytest

import safeops

#: The public names of ``safeops``. A change here is a change to the public API and needs
#: a CHANGELOG.md entry.
EXPECTED_TOP_LEVEL = [
    "CommandPolicy",
    "CommandResult",
    "Program",
    "SafeOpsError",
    "SafeOpsWarning",
    "__version__",
    "arun_cmd",
    "compile_expr",
    "enforce",
    "permit",
    "run_cmd",
    "safe_eval",
    "safe_exec",
    "serialize",
]


def test_all_is_sorted() -> None:
    """__all__ is kept sorted so additions are easy to review."""
    assert safeops.__all__ == sorted(safeops.__all__)


def test_all_matches_the_pinned_public_names() -> None:
    """The top-level public names are exactly the pinned list."""
    assert safeops.__all__ == EXPECTED_TOP_LEVEL


@pytest.mark.parametrize("name", EXPECTED_TOP_LEVEL)
def test_every_public_name_is_importable(name: str) -> None:
    """Each name in __all__ resolves on the package."""
    assert getattr(safeops, name) is not None


def test_no_private_names_in_all() -> None:
    """Nothing starting with a single underscore is exported."""
    assert not [n for n in safeops.__all__ if n.startswith("_") and not n.startswith("__")]


def test_version_comes_from_package_metadata() -> None:
    """__version__ is the installed distribution's version."""
    from importlib.metadata import version

    assert safeops.__version__ == version("safeops")


def test_unknown_attribute_raises_attribute_error() -> None:
    """The lazy module __getattr__ does not swallow typos."""
    with pytest.raises(AttributeError):
        _ = safeops.no_such_name  # type: ignore[attr-defined]


def test_errors_all_is_sorted_and_importable() -> None:
    """safeops.errors exports a sorted list of names that all exist."""
    errors = importlib.import_module("safeops.errors")
    assert errors.__all__ == sorted(errors.__all__)
    for name in errors.__all__:
        assert hasattr(errors, name)


#: The public names of each sub-package (their order follows ruff's isort-style sort).
EXPECTED_SUBPACKAGES = {
    "safeops.command": {"CommandPolicy", "CommandResult", "Program", "arun_cmd", "run_cmd"},
    "safeops.enforce": {"Policy", "enforce", "load_policy", "permit"},
    "safeops.evaluate": {
        "ExecLimits",
        "Expression",
        "ExpressionLimits",
        "compile_expr",
        "safe_eval",
        "safe_exec",
    },
    "safeops.serialize": {
        "DEFAULT_LIMITS",
        "DEFAULT_PURPOSE",
        "Limits",
        "MAX_DEPTH_CEILING",
        "dump",
        "dumps",
        "iter_load",
        "load",
        "loads",
        "register",
        "unregister",
    },
    "safeops.serialize.legacy": {
        "ConvertSummary",
        "Finding",
        "InspectReport",
        "SAFE_GLOBALS",
        "convert_file",
        "convert_tree",
        "inspect",
        "is_safe_global",
        "load",
        "loads",
        "register_stdlib_types",
    },
    "safeops.serialize.shelve": {"DEFAULT_PURPOSE", "Shelf", "migrate", "open"},
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED_SUBPACKAGES))
def test_subpackage_public_names_are_pinned(module_name: str) -> None:
    """Each sub-package exports exactly its pinned names, all importable, none private."""
    module = importlib.import_module(module_name)
    assert set(module.__all__) == EXPECTED_SUBPACKAGES[module_name]
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert not name.startswith("_")
        assert hasattr(module, name)


def test_serialize_reaches_its_submodules_lazily() -> None:
    """serialize.legacy and serialize.shelve resolve as attributes of serialize."""
    assert safeops.serialize.legacy.loads is not None
    assert safeops.serialize.shelve.open is not None
