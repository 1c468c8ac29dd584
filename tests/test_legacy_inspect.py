"""serialize.legacy.inspect: reports globals and calls without running anything."""

from __future__ import annotations

import datetime
import json
import pickle
import sys
from pathlib import Path

from safeops.serialize import legacy

VECTORS = Path(__file__).parent / "vectors" / "pickle"


def _vector(name: str) -> bytes:
    return (VECTORS / f"{name}.pkl").read_bytes()


def test_benign_pickle_is_safe_and_lists_its_globals() -> None:
    """A datetime pickle is safe and names datetime.datetime among its globals."""
    data = pickle.dumps(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), 4)
    report = legacy.inspect(data)
    assert report.verdict == "safe"
    assert "datetime.datetime" in report.globals
    assert report.protocol == 4
    assert report.size == len(data)


def test_plain_data_has_no_findings() -> None:
    """A pickle of plain containers names no globals and makes no calls."""
    report = legacy.inspect(pickle.dumps({"a": [1, 2.5, "x", None]}, 5))
    assert report.findings == ()
    assert report.verdict == "safe"


def test_unknown_class_needs_allow_and_allow_makes_it_safe() -> None:
    """A class outside the allow-list is needs-allow; allow= turns it safe."""
    data = b"\x80\x04\x8c\x05myapp\x8c\x05Point\x93)\x81."
    assert legacy.inspect(data).verdict == "needs-allow"
    assert legacy.inspect(data, allow={"myapp.Point"}).verdict == "safe"


def test_inspect_never_imports_the_modules_it_names() -> None:
    """Naming a module that is not imported yet leaves it unimported."""
    legacy.inspect(b"S'warm up the codecs'\n.")
    before = set(sys.modules)
    legacy.inspect(_vector("p0_pty_spawn"))
    legacy.inspect(b"\x80\x04\x8c\x0csafeops_nope\x8c\x01X\x93)\x81.")
    assert set(sys.modules) - before == set()


def test_call_findings_show_the_callee_and_arguments() -> None:
    """The os.system call is reported with its command string."""
    report = legacy.inspect(_vector("p0_global_os_system"))
    calls = [f for f in report.findings if f.kind == "call"]
    assert calls and calls[0].target.startswith("os.system(")
    assert "touch safeops-pwned-marker" in calls[0].target
    assert calls[0].verdict == "dangerous"


def test_memo_indirection_resolves_to_the_real_global() -> None:
    """Names fetched from the memo are reported as the global they form."""
    assert "os.system" in legacy.inspect(_vector("p4_memo_indirection")).globals
    assert "os.system" in legacy.inspect(_vector("p4_memo_overwrite")).globals


def test_computed_names_are_flagged_as_obfuscation() -> None:
    """STACK_GLOBAL fed by call results is dangerous and says it was computed."""
    report = legacy.inspect(_vector("p5_computed_names"))
    computed = [f for f in report.findings if "computed" in f.detail]
    assert computed and computed[0].verdict == "dangerous"


def test_nested_pickles_are_walked() -> None:
    """A pickle inside a bytes or text constant is inspected; its findings say so."""
    for name in ("p3_nested_pickle_bytes", "p2_nested_pickle_in_text",
                 "p5_nested_pickle_bytearray"):  # fmt: skip
        report = legacy.inspect(_vector(name))
        nested = [f for f in report.findings if f.nested_in]
        assert any(f.target == "os.system" for f in nested), name


def test_getattr_chain_call_of_a_computed_value_is_dangerous() -> None:
    """Calling the result of getattr(...) is reported as a call of a computed value."""
    report = legacy.inspect(_vector("p2_getattr_chain"))
    assert any(f.kind == "call" and "built while loading" in f.detail for f in report.findings)


def test_truncated_pickle_reports_findings_before_the_error() -> None:
    """Pickle runs opcodes as it reads: findings before a truncation are kept."""
    data = _vector("p0_global_os_system")[:-1]
    report = legacy.inspect(data)
    assert report.error is not None
    assert report.dangerous


def test_json_form_is_serializable_and_complete() -> None:
    """as_dict() is JSON-ready and carries the verdict and every finding."""
    report = legacy.inspect(_vector("p4_functools_partial"))
    decoded = json.loads(json.dumps(report.as_dict()))
    assert decoded["verdict"] == "dangerous"
    assert len(decoded["findings"]) == len(report.findings)
    assert "functools.partial" in decoded["globals"]


def test_budget_overrun_is_a_dangerous_structure_finding() -> None:
    """The memo index bomb is reported as a structure finding."""
    report = legacy.inspect(_vector("p4_memo_index_bomb"))
    assert [f.kind for f in report.findings] == ["structure"]
