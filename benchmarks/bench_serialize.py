"""Benchmark safeops.serialize against pickle, json, orjson, msgpack, msgspec, ormsgpack, pydantic.

Run: ``python benchmarks/bench_serialize.py`` (``--quick`` for fewer repeats). Every
figure is the best of N repeats of one call, in one process, so ratios are comparable on
a shared, noisy machine. Bench-only packages (msgspec, ormsgpack) are skipped if missing.

Prints three tables: the 1,000-record API payload (dumps, loads, round trip, each as a
ratio to pickle protocol 5), the JSON-native payload (loads without tags against raw
orjson.loads, typed decode against pydantic's validate_json), and the bomb vectors of
tests/vectors/serialize (time and peak memory until rejection), each with its target.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import platform
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pydantic
from _payload import api_records

from safeops import serialize

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 5 if "--quick" in sys.argv else 30


def best(call: Callable[[], object], repeats: int = REPEATS) -> float:
    """Best wall time of *repeats* calls in ms (GC paused while timing, as timeit does)."""
    fastest = float("inf")
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            call()
            fastest = min(fastest, time.perf_counter() - start)
        finally:
            gc.enable()
    return fastest * 1e3


def best_pair(
    first: Callable[[], object], second: Callable[[], object], repeats: int = REPEATS * 3
) -> tuple[float, float]:
    """Best times of two calls measured alternately, so load drift hits both alike."""
    fastest = [float("inf"), float("inf")]
    for _ in range(repeats):
        for slot, call in enumerate((first, second)):
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                call()
                fastest[slot] = min(fastest[slot], time.perf_counter() - start)
            finally:
                gc.enable()
    return fastest[0] * 1e3, fastest[1] * 1e3


class Item(pydantic.BaseModel):
    sku: str
    qty: int
    price: float


class Record(pydantic.BaseModel):
    id: int
    score: float
    name: str
    ratings: list[int]
    items: list[Item]
    created: datetime
    uid: uuid.UUID
    active: bool
    deleted_at: None


def row(name: str, dumps_ms: float, loads_ms: float, base: float, note: str = "") -> None:
    trip = dumps_ms + loads_ms
    print(f"{name:32s} {dumps_ms:8.3f} {loads_ms:8.3f} {trip:8.3f} {trip / base:7.2f}x  {note}")


def bench_api() -> dict[str, float]:
    records = api_records()
    ratios: dict[str, float] = {}
    print("\n== 1,000 API records: ms (best of", REPEATS, "), round trip ratio to pickle 5 ==")
    print(f"{'codec':32s} {'dumps':>8s} {'loads':>8s} {'trip':>8s} {'ratio':>8s}")
    blob = pickle.dumps(records, protocol=5)
    pickle_d = best(lambda: pickle.dumps(records, protocol=5))
    pickle_l = best(lambda: pickle.loads(blob))
    base = pickle_d + pickle_l
    row("pickle protocol 5", pickle_d, pickle_l, base, "exact, unsafe")
    text = json.dumps(records, default=str)
    row(
        "json (stdlib, default=str)",
        best(lambda: json.dumps(records, default=str)),
        best(lambda: json.loads(text)),
        base,
        "not exact: datetime/UUID -> str",
    )
    raw = orjson.dumps(records)
    row(
        "orjson",
        best(lambda: orjson.dumps(records)),
        best(lambda: orjson.loads(raw)),
        base,
        "not exact: datetime/UUID -> str",
    )
    packed = msgpack.packb(records, default=str, datetime=True)
    row(
        "msgpack",
        best(lambda: msgpack.packb(records, default=str, datetime=True)),
        best(lambda: msgpack.unpackb(packed, timestamp=3)),
        base,
        "not exact: UUID -> str",
    )
    try:
        import msgspec

        mj, mm = msgspec.json.Encoder(), msgspec.msgpack.Encoder()
        mjd, mmd = msgspec.json.Decoder(), msgspec.msgpack.Decoder()
        typed = msgspec.json.Decoder(list[Record])  # type: ignore[valid-type]
        j, m = mj.encode(records), mm.encode(records)
        row(
            "msgspec json",
            best(lambda: mj.encode(records)),
            best(lambda: mjd.decode(j)),
            base,
            "not exact: datetime/UUID -> str",
        )
        row(
            "msgspec msgpack",
            best(lambda: mm.encode(records)),
            best(lambda: mmd.decode(m)),
            base,
            "not exact: UUID -> str",
        )
        del typed
    except ImportError:
        print("msgspec: not installed (pip install msgspec)")
    try:
        import ormsgpack

        o = ormsgpack.packb(records)
        row(
            "ormsgpack",
            best(lambda: ormsgpack.packb(records)),
            best(lambda: ormsgpack.unpackb(o)),
            base,
            "not exact: datetime/UUID -> str",
        )
    except ImportError:
        print("ormsgpack: not installed (pip install ormsgpack)")
    adapter = pydantic.TypeAdapter(list[Record])
    models = adapter.validate_python(records)
    pj = adapter.dump_json(models)
    row(
        "pydantic TypeAdapter json",
        best(lambda: adapter.dump_json(models)),
        best(lambda: adapter.validate_json(pj)),
        base,
        "typed models",
    )
    for fmt in ("json", "msgpack"):
        data = serialize.dumps(records, format=fmt)  # type: ignore[arg-type]
        assert serialize.loads(data, format=fmt) == records  # type: ignore[arg-type]
        d = best(lambda f=fmt: serialize.dumps(records, format=f))  # type: ignore[misc]
        l_ = best(lambda f=fmt, b=data: serialize.loads(b, format=f))  # type: ignore[misc]
        ratios[f"safeops {fmt}"] = (d + l_) / base
        target = "1.0x" if fmt == "msgpack" else "1.5x"
        row(f"safeops {fmt}", d, l_, base, f"exact; target <= {target}")
    signed_key = b"k" * 32
    data = serialize.dumps(records, format="msgpack", key=signed_key)
    row(
        "safeops msgpack signed",
        best(lambda: serialize.dumps(records, format="msgpack", key=signed_key)),
        best(lambda: serialize.loads(data, format="msgpack", key=signed_key)),
        base,
        "exact + HMAC",
    )
    return ratios


def bench_breakdown() -> None:
    """Where safeops' time goes: the C codec on already-walked data vs the Python walks."""
    from safeops.serialize import _json, _msgpack
    from safeops.serialize._limits import DEFAULT_LIMITS

    records = api_records()
    print("\n== breakdown of the safeops round trip (ms): C codec vs Python walk ==")
    walked_json = _json._encode_fast(records, DEFAULT_LIMITS.max_depth)
    data_json = orjson.dumps(walked_json)
    enc_walk = best(lambda: _json._encode_fast(records, DEFAULT_LIMITS.max_depth))
    enc_c = best(lambda: orjson.dumps(walked_json))
    dec_c = best(lambda: orjson.loads(data_json))
    dec_all = best(lambda: serialize.loads(data_json))
    print(
        f"json    encode walk {enc_walk:7.3f}  orjson.dumps {enc_c:7.3f}  "
        f"orjson.loads {dec_c:7.3f}  checks+decode walk {dec_all - dec_c:7.3f}"
    )
    walked_mp = _msgpack._encode_fast(records, DEFAULT_LIMITS.max_depth)
    data_mp = msgpack.packb(walked_mp, use_bin_type=True, datetime=True)
    enc_walk = best(lambda: _msgpack._encode_fast(records, DEFAULT_LIMITS.max_depth))
    enc_c = best(lambda: msgpack.packb(walked_mp, use_bin_type=True, datetime=True))
    hook = _msgpack._ext_hook(DEFAULT_LIMITS.max_str_len, DEFAULT_LIMITS.max_int_digits)
    dec_c = best(
        lambda: msgpack.unpackb(data_mp, ext_hook=hook, raw=False, strict_map_key=True, timestamp=3)
    )
    dec_all = best(lambda: serialize.loads(data_mp, format="msgpack"))
    print(
        f"msgpack encode walk {enc_walk:7.3f}  packb        {enc_c:7.3f}  "
        f"unpackb+hooks {dec_c:6.3f}  checks+decode walk {dec_all - dec_c:7.3f}"
    )


def json_native(count: int = 1000) -> list[dict[str, Any]]:
    return orjson.loads(orjson.dumps(api_records(count)))  # datetimes/UUIDs as strings


def bench_native() -> dict[str, float]:
    print("\n== JSON-native payload (no tags needed): loads in ms, ratio to the reference ==")
    native = json_native()
    data = orjson.dumps(native)
    assert b"$" not in data
    ref, ours = best_pair(lambda: orjson.loads(data), lambda: serialize.loads(data))
    print(f"{'orjson.loads':40s} {ref:8.3f}")
    print(f"{'safeops loads (tagless)':40s} {ours:8.3f} {ours / ref:6.2f}x  target <= 1.3x")
    adapter = pydantic.TypeAdapter(list[Record])
    pyd, typed = best_pair(
        lambda: adapter.validate_json(data), lambda: serialize.loads(data, type=list[Record])
    )
    print(f"{'pydantic validate_json':40s} {pyd:8.3f}")
    print(
        f"{'safeops loads(type=list[Record])':40s} {typed:8.3f} {typed / pyd:6.2f}x  target <= 1.2x"
    )
    return {"tagless": ours / ref, "typed": typed / pyd}


def bench_bombs() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_serialize_vectors import VECTORS, build  # the same recipes as the tests

    print(
        "\n== bomb vectors: time and peak memory until rejection "
        "(targets: < 500 ms, < 10x input) =="
    )
    print(f"{'vector':44s} {'bytes':>10s} {'ms':>8s} {'peak/input':>10s}  result")
    for vector in VECTORS:
        if vector["expect"] == "value":
            continue
        data = build(vector)
        fmt = vector["format"]
        start = time.perf_counter()
        try:
            serialize.loads(data, format=fmt)
            result = "NOT REFUSED"
        except serialize_errors() as error:
            result = type(error).__name__
        elapsed = (time.perf_counter() - start) * 1e3
        tracemalloc.start()
        try:
            serialize.loads(data, format=fmt)
        except serialize_errors():
            pass
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        ratio = peak / max(len(data), 1)
        flag = "" if elapsed < 500 and (ratio < 10 or len(data) < 4096) else "  <-- over target"
        print(f"{vector['name']:44s} {len(data):10d} {elapsed:8.2f} {ratio:10.2f}  {result}{flag}")


def serialize_errors() -> type[Exception]:
    from safeops.errors import DecodeError

    return DecodeError


def main() -> None:
    print(
        f"python {platform.python_version()} on {platform.machine()} {platform.system()}; "
        f"orjson {orjson.__version__}, msgpack {'.'.join(map(str, msgpack.version))}, "
        f"pydantic {pydantic.VERSION}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start (figures are noisy above ~1)")
    api = bench_api()
    bench_breakdown()
    native = bench_native()
    bench_bombs()
    print("\n== summary (ratio, target) ==")
    print(
        f"safeops msgpack round trip / pickle: {api['safeops msgpack']:.2f}x "
        "(target <= 1.0x, stretch 0.6x)"
    )
    print(f"safeops json round trip / pickle:    {api['safeops json']:.2f}x (target <= 1.5x)")
    print(f"tagless loads / orjson.loads:        {native['tagless']:.2f}x (target <= 1.3x)")
    print(f"typed decode / validate_json:        {native['typed']:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
