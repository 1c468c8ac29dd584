"""serialize.legacy under safeops.enforce(mode="block"), in a child process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import datetime, fractions, pickle, uuid
    import safeops
    from safeops.errors import BlockedOperation
    from safeops.serialize import legacy

    app_blob = pickle.dumps([fractions.Fraction(1, 3)], 2)
    old_blob = pickle.dumps(uuid.UUID(int=3), 0)          # copy_reg._reconstructor
    plain_blob = pickle.dumps({"when": datetime.date(2020, 1, 2)}, 5)
    safeops.enforce(mode="block")
    assert legacy.loads(app_blob, allow={"fractions.Fraction"}) == [fractions.Fraction(1, 3)]
    assert legacy.loads(old_blob) == uuid.UUID(int=3)
    assert legacy.loads(plain_blob) == {"when": datetime.date(2020, 1, 2)}
    try:
        pickle.loads(app_blob)
    except BlockedOperation:
        print("raw pickle blocked")
    else:
        raise SystemExit("raw pickle.loads of a non-allow-listed global was not blocked")
    print("ok")
    """
)


def test_legacy_loads_works_in_block_mode_while_raw_pickle_is_blocked() -> None:
    """Allowed loads pass under enforce(block); the same bytes via pickle.loads are blocked."""
    result = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                            check=False, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["raw", "pickle", "blocked", "ok"]
