# The C fast path's one function; see _fastscan.c and _fastpath.py.
def scan(
    data: bytes,
    table: dict[tuple[str, str], int],
    max_elements: int,
    max_depth: int,
    max_memo: int,
    max_str_len: int,
    max_int_digits: int,
    max_hash_collisions: int,
    /,
) -> int: ...
