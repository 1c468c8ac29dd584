"""The enforce() API, its policy, permits, reports and caller attribution.

Anything that installs the hook runs in a fresh interpreter (hooks cannot be removed);
policy parsing, the report writer and the attribution walk are tested in-process
without installing anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import safeops
from safeops import _permits
from safeops.enforce import Policy, _attribution, _locations, load_policy
from safeops.enforce._attribution import attribute
from safeops.enforce._policy import LEVELS, PROCESS_LEVELS, policy_from_mapping
from safeops.enforce._report import Reporter
from safeops.enforce._rules import Finding
from safeops.errors import ConfigurationError

COMPILE_NAMES = frozenset({"compile", "exec", "eval"})


def run_python(code: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run *code* as a script in a fresh interpreter; return the JSON it printed last."""
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads(lines[-1])


# --- permit ----------------------------------------------------------------------------


def test_permit_grants_an_application_permit() -> None:
    """safeops.permit() is a scoped permit whose origin is the application."""
    with safeops.permit("process", reason="reviewed") as granted:
        assert _permits.active("process") is granted
        assert granted.origin == "application"
        assert granted.subject is None
    assert _permits.active("process") is None


def test_permit_refuses_an_unknown_category() -> None:
    """A typo in a permit category is an error at the call, before any with-block."""
    with pytest.raises(ValueError, match="unknown permit category"):
        safeops.permit("shell", reason="x")  # type: ignore[arg-type]


# --- policy ----------------------------------------------------------------------------


def test_default_policy_is_the_documented_one() -> None:
    """The default policy enforces pickle, dynamic code and shells; warns on ctypes."""
    policy = Policy()
    assert (policy.pickle, policy.dynamic_code, policy.process, policy.native) == (
        "enforce",
        "enforce",
        "shells",
        "warn",
    )
    assert policy.trust_site_packages


def test_policy_refuses_an_unknown_level() -> None:
    """A misspelt level fails when the policy is built."""
    with pytest.raises(ConfigurationError, match="expected one of"):
        Policy(pickle="block")  # type: ignore[arg-type]


def test_policy_refuses_a_string_as_pattern_list() -> None:
    """trusted must be a tuple of patterns, not one string split into characters."""
    with pytest.raises(ConfigurationError, match="tuple of module-name patterns"):
        Policy(trusted="jinja2")  # type: ignore[arg-type]


def test_restricted_pattern_wins_over_trusted() -> None:
    """A module matching both a restricted and a trusted pattern is restricted."""
    policy = Policy(trusted=("pkg.*",), restricted=("pkg.unsafe",))
    assert policy.trust_override("pkg.unsafe") is False
    assert policy.trust_override("pkg.safe") is True
    assert policy.trust_override("other") is None


def test_strict_is_stricter_than_default() -> None:
    """Switching default -> strict relaxes nothing; strict -> default does."""
    assert Policy.strict().is_at_least_as_strict_as(Policy())
    assert not Policy().is_at_least_as_strict_as(Policy.strict())


def test_adding_a_trusted_pattern_is_a_relaxation() -> None:
    """Trusting more code is not tightening."""
    assert not Policy(trusted=("x",)).is_at_least_as_strict_as(Policy())


def test_load_policy_reads_pyproject_tool_table(tmp_path: Path) -> None:
    """A pyproject.toml is read from its [tool.safeops] table."""
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\nname = "x"\n[tool.safeops]\npreset = "strict"\ntrusted = ["jinja2.*"]\n',
        encoding="utf-8",
    )
    assert load_policy(path) == Policy.strict(trusted=("jinja2.*",))


def test_load_policy_reads_a_plain_file(tmp_path: Path) -> None:
    """Any other TOML file is read from its top level."""
    path = tmp_path / "policy.toml"
    path.write_text('process = "all"\nnative = "enforce"\n', encoding="utf-8")
    assert load_policy(path) == Policy(process="all", native="enforce")


def test_load_policy_refuses_unknown_keys(tmp_path: Path) -> None:
    """A misspelt key fails loudly instead of silently keeping a default."""
    path = tmp_path / "policy.toml"
    path.write_text('proces = "off"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="unknown policy key"):
        load_policy(path)


def test_load_policy_refuses_a_pyproject_without_the_table(tmp_path: Path) -> None:
    """A pyproject.toml without [tool.safeops] is an error, not the default policy."""
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"no \[tool.safeops\] table"):
        load_policy(path)


policies = st.builds(
    Policy,
    pickle=st.sampled_from(LEVELS),
    marshal=st.sampled_from(LEVELS),
    dynamic_code=st.sampled_from(LEVELS),
    process=st.sampled_from(PROCESS_LEVELS),
    native=st.sampled_from(LEVELS),
    interpreters=st.sampled_from(LEVELS),
    escape_hatches=st.sampled_from(LEVELS),
    trusted=st.lists(st.sampled_from(["a", "b.*", "c"]), max_size=3).map(tuple),
    restricted=st.lists(st.sampled_from(["a", "d.*"]), max_size=2).map(tuple),
    trust_site_packages=st.booleans(),
)


@given(policies)
def test_policy_round_trips_through_its_mapping(policy: Policy) -> None:
    """as_mapping() is what child interpreters receive: it rebuilds the same policy."""
    assert policy_from_mapping(json.loads(json.dumps(policy.as_mapping()))) == policy


@given(policies)
def test_every_policy_is_at_least_as_strict_as_itself(policy: Policy) -> None:
    """Re-applying the active policy is never a relaxation (enforce() is idempotent)."""
    assert policy.is_at_least_as_strict_as(policy)


# --- reports ---------------------------------------------------------------------------


def _finding(detail: str = "x") -> Finding:
    return Finding(
        rule="process.shell",
        category="process",
        event="os.system",
        level="enforce",
        site=None,
        why="why",
        detail=detail,
        replacement="run_cmd",
    )


def test_report_aggregates_one_record_per_rule_and_site(tmp_path: Path) -> None:
    """Repeated events at one call site become one JSON line with a count."""
    path = tmp_path / "report.jsonl"
    reporter = Reporter(str(path))
    assert reporter.record(_finding(), "blocked") is True
    assert reporter.record(_finding(), "blocked") is False
    reporter.flush()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["count"] == 2


def test_report_flush_writes_only_what_changed(tmp_path: Path) -> None:
    """A second flush without new events appends nothing."""
    path = tmp_path / "report.jsonl"
    reporter = Reporter(str(path))
    reporter.record(_finding(), "warned")
    reporter.flush()
    reporter.flush()
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1


# --- attribution (in-process, no hook) ----------------------------------------------------


def _runner(text: str) -> Any:
    """A function that runs the text it is handed."""
    return attribute(sys._getframe(), text.encode(), Policy(), names=COMPILE_NAMES, match_text=True)


def _as_module(function: Any, module: str) -> Any:
    """*function* re-bound to globals whose ``__name__`` is *module* (for trust patterns)."""
    return types.FunctionType(function.__code__, {**function.__globals__, "__name__": module})


def _trusted_runner(text: str) -> Any:
    """A runner the policy below trusts (a stand-in for timeit, code, typing)."""
    policy = Policy(trusted=("trusted_lib",))
    return attribute(sys._getframe(), text.encode(), policy, names=COMPILE_NAMES, match_text=True)


def test_attribution_sees_through_a_trusted_text_runner() -> None:
    """A trusted function handed the source is not its author: its caller is."""
    source = "".join(["1 +", " 2"])  # built at run time, like data
    verdict = _as_module(_trusted_runner, "trusted_lib")(source)
    assert verdict.site is not None
    assert verdict.site.function == "test_attribution_sees_through_a_trusted_text_runner"
    assert verdict.trusted is False


def test_program_written_literal_through_a_trusted_runner_is_allowed() -> None:
    """A string literal of the calling code handed to a trusted generator is allowed."""
    verdict = _as_module(_trusted_runner, "trusted_lib")("6 * 7")
    assert verdict.trusted is True
    assert verdict.why.startswith("program-written text")


def _framework() -> Any:
    """Trusted code that hands data it built to an application handler."""
    request_data = "".join(["1 +", " 2"])
    return _runner(request_data)


def test_restricted_code_running_handed_text_is_responsible() -> None:
    """Application code that evals what a trusted caller handed it is still restricted."""
    verdict = _as_module(_framework, "trusted_lib")()
    assert verdict.site is not None
    assert verdict.site.function == "_runner"
    assert verdict.trusted is False


def test_attribution_of_a_direct_compile_is_the_compiling_frame() -> None:
    """Source the frame built itself is attributed to that frame."""
    verdict = attribute(sys._getframe(), b"x = 1", Policy(), names=COMPILE_NAMES, match_text=True)
    assert verdict.site is not None
    assert verdict.site.function == "test_attribution_of_a_direct_compile_is_the_compiling_frame"
    assert verdict.site.kind == "app"


def _compiles_by_name(policy: Policy) -> Any:
    """A frame that names compile() (as code that really compiles does)."""
    if policy is None:  # never true: only puts `compile` in this code's names
        compile("", "", "exec")
    return attribute(sys._getframe(), b"x = 1", policy, names=COMPILE_NAMES)


def test_trusted_pattern_trusts_application_code() -> None:
    """A policy pattern can trust an application module."""
    verdict = _compiles_by_name(Policy(trusted=(__name__,)))
    assert verdict.trusted is True


def test_a_trusted_frame_calling_the_builtin_by_value_is_restricted() -> None:
    """Trusted code that never names compile/exec/eval reached it through a callback or a
    callable chosen by data: nobody trusted chose the source."""
    verdict = attribute(sys._getframe(), b"x = 1", Policy(trusted=(__name__,)), names=COMPILE_NAMES)
    assert verdict.trusted is False
    assert "not by name" in verdict.why


def _hands_on(argument: str, source: str) -> bool:
    """Whether a function receiving *argument* counts as handing *source* on."""

    def runner(value: str) -> object:
        frame = sys._getframe()
        values = _attribution._arguments(frame)
        return _attribution._received(frame, values, source.encode(), source)

    return runner(argument) is not _attribution._MISSING


printable = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@given(printable)
def test_an_argument_equal_to_the_source_is_always_handed_on(text: str) -> None:
    """A function that received exactly the compiled text is never its author."""
    assert _hands_on(text, text)


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True), printable)
def test_a_bare_name_inside_larger_source_is_not_handed_on(name: str, rest: str) -> None:
    """Identifiers (field names, type names) a generator embeds do not shift the blame."""
    assert not _hands_on(name, f"{name} = ({rest!r})")


# --- the installed hook (fresh interpreters) -------------------------------------------------


def test_enforce_is_idempotent_and_returns_one_handle(tmp_path: Path) -> None:
    """A second enforce() with the same settings returns the same live handle."""
    out = run_python(
        """
        import json, safeops
        first = safeops.enforce("warn")
        second = safeops.enforce("warn")
        print(json.dumps([first is second, second.mode]))
        """,
        tmp_path,
    )
    assert out == [True, "warn"]


def test_enforce_may_tighten_the_mode(tmp_path: Path) -> None:
    """warn -> block is allowed and takes effect."""
    out = run_python(
        """
        import json, os, safeops
        safeops.enforce("warn")
        handle = safeops.enforce("block")
        try:
            os.system("true")
        except PermissionError:
            print(json.dumps([handle.mode, "blocked"]))
        """,
        tmp_path,
    )
    assert out == ["block", "blocked"]


def test_enforce_refuses_to_relax_without_unsafe_opt_in(tmp_path: Path) -> None:
    """block -> warn raises EnforcementSetupError; unsafe_relax=True allows it."""
    out = run_python(
        """
        import json, safeops
        from safeops.enforce import Policy
        from safeops.errors import EnforcementSetupError
        safeops.enforce("block", policy=Policy.strict())
        refused = []
        for kwargs in ({"mode": "warn"}, {"policy": Policy()}):
            try:
                safeops.enforce(**kwargs)
            except EnforcementSetupError:
                refused.append(sorted(kwargs))
        relaxed = safeops.enforce("warn", policy=Policy(), unsafe_relax=True)
        print(json.dumps([refused, relaxed.mode, relaxed.policy == Policy()]))
        """,
        tmp_path,
    )
    assert out == [[["mode"], ["policy"]], "warn", True]


def test_enforce_detects_a_hook_that_was_silently_dropped(tmp_path: Path) -> None:
    """An earlier hook refusing sys.addaudithook with RuntimeError makes enforce() raise."""
    out = run_python(
        """
        import json, sys, safeops
        from safeops.errors import EnforcementSetupError
        def jealous(event, args):
            if event == "sys.addaudithook":
                raise RuntimeError("no more hooks")
        sys.addaudithook(jealous)
        try:
            safeops.enforce()
        except EnforcementSetupError as error:
            print(json.dumps(["refused", "NOT active" in str(error)]))
        """,
        tmp_path,
    )
    assert out == ["refused", True]


def test_warn_mode_warns_once_per_call_site_and_lets_the_call_through(tmp_path: Path) -> None:
    """warn: one SafeOpsWarning per call site, the operation runs, the count is kept."""
    out = run_python(
        """
        import json, os, warnings, safeops
        from safeops.errors import SafeOpsWarning
        handle = safeops.enforce("warn")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            statuses = [os.system("true") for _ in range(3)]
        ours = [w for w in caught if issubclass(w.category, SafeOpsWarning)]
        print(json.dumps([statuses, len(ours), handle.records()[0]["count"]]))
        """,
        tmp_path,
    )
    assert out == [[0, 0, 0], 1, 3]


def test_log_mode_only_records(tmp_path: Path) -> None:
    """log: no warning, no error, one record."""
    out = run_python(
        """
        import json, os, warnings, safeops
        handle = safeops.enforce("log")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            status = os.system("true")
        print(json.dumps([status, [r["decision"] for r in handle.records()]]))
        """,
        tmp_path,
    )
    assert out == [0, ["logged"]]


def test_blocked_error_names_event_site_and_replacement(tmp_path: Path) -> None:
    """BlockedOperation is a PermissionError whose context says what, where, and instead."""
    out = run_python(
        """
        import json, os, safeops
        safeops.enforce()
        try:
            os.system("true")
        except PermissionError as error:
            print(json.dumps(dict(error.context)))
        """,
        tmp_path,
    )
    assert out["event"] == "os.system"
    assert out["rule"] == "process.shell"
    assert "probe.py:5" in out["call_site"]
    assert "run_cmd" in out["replacement"]


def test_report_file_from_environment_holds_truncated_details(tmp_path: Path) -> None:
    """SAFEOPS_REPORT names the JSON Lines file; long details are truncated."""
    report = tmp_path / "report.jsonl"
    import os

    env = {**os.environ, "SAFEOPS_REPORT": str(report)}
    run_python(
        """
        import json, os, safeops
        safeops.enforce("log")
        os.system("true # " + "x" * 5000)
        print(json.dumps("done"))
        """,
        tmp_path,
        env=env,
    )
    (record,) = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert record["rule"] == "process.shell"
    assert record["call_site"]["line"] == 4
    assert len(record["detail"]) < 300


def test_permit_is_scoped_to_its_thread(tmp_path: Path) -> None:
    """A permit in one thread does not let another thread's call through."""
    out = run_python(
        """
        import json, os, threading, safeops
        safeops.enforce()
        seen = []
        def other():
            try:
                os.system("true")
                seen.append("ran")
            except PermissionError:
                seen.append("blocked")
        with safeops.permit("process", reason="reviewed maintenance command"):
            mine = os.system("true")
            thread = threading.Thread(target=other)
            thread.start()
            thread.join()
        print(json.dumps([mine, seen]))
        """,
        tmp_path,
    )
    assert out == [0, ["blocked"]]


def test_process_permit_with_subject_covers_only_that_program(tmp_path: Path) -> None:
    """A process permit naming an executable does not cover a shell."""
    out = run_python(
        """
        import json, shutil, subprocess, safeops
        from safeops._permits import granted
        safeops.enforce()
        true = shutil.which("true")
        with granted("process", reason="vetted", subject=true):
            try:
                subprocess.run(["sh", "-c", "true"])
                outcome = "ran"
            except PermissionError:
                outcome = "blocked"
        print(json.dumps(outcome))
        """,
        tmp_path,
    )
    assert out == "blocked"


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_started_multiprocessing_child_is_enforced(method: str, tmp_path: Path) -> None:
    """A spawn or forkserver worker enforces the parent's configuration from its first
    line, and its records reach the parent's report file."""
    report = tmp_path / "report.jsonl"
    out = run_python(
        """
        import json, multiprocessing, os, sys, safeops

        def attempt(_):
            try:
                os.system("true")
                return "ran"
            except PermissionError:
                return os.getpid()

        if __name__ == "__main__":
            safeops.enforce(report=sys.argv[2])
            with multiprocessing.get_context(sys.argv[1]).Pool(1) as pool:
                print(json.dumps(pool.map(attempt, [0])))
        """,
        tmp_path,
        method,
        str(report),
    )
    assert out != ["ran"]
    records = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert {(r["rule"], r["decision"], r["pid"]) for r in records} == {
        ("process.shell", "blocked", out[0])
    }


def test_marshal_of_the_import_system_is_trusted(tmp_path: Path) -> None:
    """Imports from cached .pyc files (marshal.loads in the import system) keep working."""
    (tmp_path / "cached_module.py").write_text("VALUE = 7\n", encoding="utf-8")
    out = run_python(
        """
        import importlib, json, sys, safeops
        sys.path.insert(0, ".")
        import cached_module  # writes the .pyc
        del sys.modules["cached_module"]
        safeops.enforce()
        print(json.dumps(importlib.import_module("cached_module").VALUE))
        """,
        tmp_path,
    )
    assert out == 7


def test_attribution_runs_no_user_getattr(tmp_path: Path) -> None:
    """A module global whose __getattr__ raises does not break the frame walk."""
    out = run_python(
        """
        import json, sys, safeops

        class Proxy:
            def __getattr__(self, name):
                raise RuntimeError("outside of an application context")

        proxy = Proxy()

        def run(text, mode="eval"):
            return eval(text)

        handle = safeops.enforce("log")
        print(json.dumps([run(sys.argv[1]), [r["rule"] for r in handle.records()]]))
        """,
        tmp_path,
        "6 * 7",
    )
    assert out == [42, ["dynamic_code.compile", "dynamic_code.exec"]]


def test_strict_policy_logs_escape_hatches(tmp_path: Path) -> None:
    """Under the strict preset, replacing a function's __code__ is logged."""
    out = run_python(
        """
        import json, safeops
        from safeops.enforce import Policy
        handle = safeops.enforce(policy=Policy.strict())
        def f(): return 1
        def g(): return 2
        f.__code__ = g.__code__
        print(json.dumps([(r["rule"], r["decision"]) for r in handle.records()]))
        """,
        tmp_path,
    )
    assert ["escape.set_code", "logged"] in out


def test_a_site_packages_component_alone_does_not_make_code_installed() -> None:
    """Application code under a directory that is merely named site-packages is
    application code (attack review 2026-11-28, E11); real package directories are not."""
    import pydantic

    assert _locations._classify("/srv/site-packages/app/views.py", "app.views") == "app"
    assert _locations._classify(pydantic.__file__, "pydantic") == "site"
