"""Attacks ``enforce(mode="block")`` must stop, each in a fresh interpreter.

Audit hooks cannot be removed, so every attack runs in its own subprocess: a script made
of a small harness (enforce, then run the attack) and the attack's code from
``tests/vectors/enforce/attacks.json``. Every attack tries to create a canary file; the
test checks both that ``BlockedOperation`` named the expected rule and that the canary
does not exist afterwards (nothing ran).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

VECTOR_DIR = Path(__file__).parent / "vectors" / "enforce"
# attacks.json plus one file per later attack review (attacks-<area>.json).
ATTACKS: list[dict[str, Any]] = [
    vector
    for path in sorted(VECTOR_DIR.glob("attacks*.json"))
    for vector in json.loads(path.read_text(encoding="utf-8"))["vectors"]
]

HARNESS = """\
import json, sys
import safeops
from safeops.enforce import Policy
from safeops.errors import BlockedOperation

POLICY = Policy.strict() if sys.argv[1] == "strict" else Policy()
if sys.argv[1] != "none":
    safeops.enforce("block", policy=POLICY)
CANARY = sys.argv[2]
PAYLOAD = sys.argv[3]
try:
{body}
except BlockedOperation as error:
    print(json.dumps({{"blocked": True, "rule": error.context["rule"]}}))
else:
    print(json.dumps({{"blocked": False}}))
"""


def _payload(canary: Path) -> str:
    return f"__import__('os').system('touch {canary}')"


def run_attack(code: str, policy: str, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """Run *code* under the harness in a fresh interpreter; returns (outcome, canary)."""
    canary = tmp_path / "canary"
    script = tmp_path / "attack.py"
    script.write_text(HARNESS.format(body=textwrap.indent(code, "    ")), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), policy, str(canary), _payload(canary)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no outcome (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
    return json.loads(lines[-1]), canary


@pytest.mark.parametrize("vector", ATTACKS, ids=[v["id"] for v in ATTACKS])
def test_attack_is_blocked_and_nothing_runs(vector: dict[str, Any], tmp_path: Path) -> None:
    """Each attack vector raises BlockedOperation for its rule and never creates the canary."""
    outcome, canary = run_attack(vector["code"], vector["policy"], tmp_path)
    assert outcome == {"blocked": True, "rule": vector["rule"]}
    assert not canary.exists()


def test_canary_detects_an_attack_that_was_not_blocked(tmp_path: Path) -> None:
    """Control: without enforce() the os.system vector does create the canary."""
    vector = next(v for v in ATTACKS if v["id"] == "os-system")
    outcome, canary = run_attack(vector["code"], "none", tmp_path)
    assert outcome == {"blocked": False}
    assert canary.exists()


def test_every_vector_names_its_source() -> None:
    """Each attack vector records where it comes from, under an id no other vector uses."""
    assert all(v["source"].strip() for v in ATTACKS)
    ids = [v["id"] for v in ATTACKS]
    assert len(ids) == len(set(ids))


POOL_SCRIPT = """\
import concurrent.futures, multiprocessing, pickle, sys
import safeops
from safeops.enforce import Policy

BLOB = b"cbuiltins\\neval\\n(V" + sys.argv[3].encode() + b"\\ntR."

if __name__ == "__main__":
    safeops.enforce("block", policy=Policy(pickle=sys.argv[4]))
    context = multiprocessing.get_context(sys.argv[1])
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        try:
            pool.submit(pickle.loads, BLOB).result()
        except Exception as error:  # the child's traceback travels as __cause__
            print(str(error.__cause__))
"""


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
@pytest.mark.parametrize(
    ("pickle_level", "rule"), [("enforce", "pickle.global"), ("off", "dynamic_code.compile")]
)
def test_process_pool_worker_refuses_a_handed_pickle_loads(
    start_method: str, pickle_level: str, rule: str, tmp_path: Path
) -> None:
    """E1: ProcessPoolExecutor.submit(pickle.loads, blob) is refused in the worker (by the
    pickle rule, and by the dynamic-code rule when the pickle rule is off)."""
    canary = tmp_path / "canary"
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script), start_method, str(canary), _payload(canary), pickle_level],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert "safeops.errors.BlockedOperation: safeops blocked" in result.stdout
    assert f"({rule})" in result.stdout
    assert not canary.exists()


@pytest.mark.parametrize("policy", ["enforce", "off"])
def test_thread_pool_pickle_loads_eval_is_restricted_without_the_pickle_rule(
    policy: str, tmp_path: Path
) -> None:
    """E1: eval named by pickle data and run through executor.map(pickle.loads) is not
    credited to the pool's trusted worker frame, even with the pickle rule off."""
    code = (
        "import pickle, concurrent.futures\n"
        "from safeops.enforce import Policy\n"
        f"safeops.enforce('block', policy=Policy(pickle={policy!r}))\n"
        "blob = b'cbuiltins\\neval\\n(V' + PAYLOAD.encode() + b'\\ntR.'\n"
        "with concurrent.futures.ThreadPoolExecutor() as ex:\n"
        "    list(ex.map(pickle.loads, [blob]))\n"
    )
    outcome, canary = run_attack(code, "none", tmp_path)
    expected = "pickle.global" if policy == "enforce" else "dynamic_code.compile"
    assert outcome == {"blocked": True, "rule": expected}
    assert not canary.exists()
