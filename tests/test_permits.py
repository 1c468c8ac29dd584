"""Pins the internal permit module that vetted code and the enforcement hook share."""

from __future__ import annotations

import asyncio
import threading

import pytest

from safeops import _permits


def test_permit_is_active_only_inside_its_block() -> None:
    """A permit ends with its with-block."""
    assert _permits.active("process") is None
    with _permits.granted("process", reason="test") as permit:
        assert _permits.active("process") is permit
    assert _permits.active("process") is None


def test_permit_covers_only_its_category() -> None:
    """A process permit does not permit dynamic code."""
    with _permits.granted("process", reason="test"):
        assert _permits.active("dynamic_code") is None


def test_innermost_permit_wins() -> None:
    """Nested permits of one category: the innermost is reported."""
    with (
        _permits.granted("pickle", reason="outer"),
        _permits.granted("pickle", reason="inner", subject="x") as inner,
    ):
        assert _permits.active("pickle") is inner
        assert [p.reason for p in _permits.active_permits()] == ["outer", "inner"]


def test_unknown_category_is_refused() -> None:
    """A typo in a category is an error, not a silent no-op."""
    with (
        pytest.raises(ValueError, match="unknown permit category"),
        _permits.granted(
            "procss",  # type: ignore[arg-type]
            reason="x",
        ),
    ):
        pass


def test_empty_reason_is_refused() -> None:
    """Every permit states why it exists."""
    with (
        pytest.raises(ValueError, match="non-empty reason"),
        _permits.granted("native", reason="  "),
    ):
        pass


def test_permit_does_not_leak_to_other_threads() -> None:
    """Another thread started inside the block sees no permit."""
    seen: list[object] = []
    with _permits.granted("process", reason="test"):
        thread = threading.Thread(target=lambda: seen.append(_permits.active("process")))
        thread.start()
        thread.join()
    assert seen == [None]


def test_permit_does_not_leak_between_asyncio_tasks() -> None:
    """A task that grants a permit does not grant it to a concurrent task."""

    async def holder(started: asyncio.Event, release: asyncio.Event) -> bool:
        with _permits.granted("dynamic_code", reason="test"):
            started.set()
            await release.wait()
            return _permits.active("dynamic_code") is not None

    async def observer(started: asyncio.Event) -> bool:
        await started.wait()
        return _permits.active("dynamic_code") is None

    async def main() -> tuple[bool, bool]:
        started, release = asyncio.Event(), asyncio.Event()
        holding = asyncio.create_task(holder(started, release))
        observed = await observer(started)
        release.set()
        return await holding, observed

    assert asyncio.run(main()) == (True, True)
