"""The API-records payload shared by the serialize and legacy benchmarks.

One definition, so the two benchmarks measure the same data (issue 3's payload: an int,
a float, a str, a list of 5 ints, a nested list of 3 small dicts, a tz-aware datetime, a
UUID, a bool and None per record).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any


def api_records(count: int = 1000) -> list[dict[str, Any]]:
    """*count* API records of the benchmark payload."""
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return [
        {
            "id": i,
            "score": i * 1.25,
            "name": f"user-{i}",
            "ratings": [i % 5, 1, 2, 3, 4],
            "items": [{"sku": f"s{i}-{j}", "qty": j, "price": 9.5 + j} for j in range(3)],
            "created": base + timedelta(seconds=i),
            "uid": uuid.UUID(int=i),
            "active": i % 2 == 0,
            "deleted_at": None,
        }
        for i in range(count)
    ]
