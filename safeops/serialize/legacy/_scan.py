"""A symbolic walk over pickle opcodes that never imports, calls or builds anything.

The walk decodes each opcode the way CPython's unpickler does and keeps a *symbolic*
stack and memo: constants as their values, globals as :class:`Global`, and every
container or call result as a :class:`Node` that records its expanded size (``weight``:
elements counted once per reference, so a shared sub-tree counts each time it is
reachable) and its nesting ``depth``. It tells a :class:`Visitor` about every global,
call and state update, and enforces the budgets that must hold *before* CPython's C
unpickler runs:

- the memo index (``LONG_BINPUT 0x10000000`` makes CPython allocate and zero gigabytes),
- the expanded size of every value (a chain of shared tuples used as a dict key makes
  CPython hash 2**40 tuples: a few hundred bytes of pickle, a hung process),
- the nesting depth.

Sizes are exact for every pickle ``pickle.dumps`` writes for acyclic data: there each
container is complete before anything refers to it. A pickle that changes a container
after it has been placed inside another (which is how pickle encodes reference cycles)
is reported to the visitor as ``late_mutation``; the strict loader refuses it, because
the budgets could not be trusted afterwards.
"""

from __future__ import annotations

import struct
from codecs import escape_decode, raw_unicode_escape_decode
from typing import Any

from safeops.serialize.legacy._allowlist import SAFE_GLOBALS
from safeops.serialize.legacy._symbolic import (
    BIG_INT,
    MAX_HASH_COLLISIONS,
    MAX_RECORDED,
    TOO_MANY,
    Global,
    Malformed,
    Node,
    OverLimit,
    Visitor,
    describe_name,
    members_of,
    predictable_hash,
    record,
)

__all__ = ["walk"]

_unpack_d = struct.Struct(">d").unpack_from
_unpack_i = struct.Struct("<i").unpack_from
_unpack_u32 = struct.Struct("<I").unpack_from
_unpack_u64 = struct.Struct("<Q").unpack_from
_unpack_u16 = struct.Struct("<H").unpack_from

# Opcodes that take no argument and build one container from the items above a MARK.
_REFUSED = {
    ord("P"): "PERSID (persistent ids need a persistent_load the legacy reader never has)",
    ord("Q"): "BINPERSID (persistent ids need a persistent_load the legacy reader never has)",
    0x82: "EXT1 (the copyreg extension registry)",
    0x83: "EXT2 (the copyreg extension registry)",
    0x84: "EXT4 (the copyreg extension registry)",
    0x97: "NEXT_BUFFER (out-of-band buffers)",
    0x98: "READONLY_BUFFER (out-of-band buffers)",
}


# A dict whose weight (>= 1 + twice its entries) stays at or below this has at most
# MAX_HASH_COLLISIONS entries, so its keys need no collision count (a cheap skip for the
# many small dicts; sets use 1 + MAX_HASH_COLLISIONS). Once past it every further key is
# counted, so at most 2 * MAX_HASH_COLLISIONS members of one container share a hash.
_UNCHECKED = 2 * MAX_HASH_COLLISIONS + 1


def _weigh(values: list[Any] | tuple[Any, ...]) -> tuple[int, int]:
    weight = 0
    depth = 0
    for value in values:
        if type(value) is Node:
            weight += value.weight
            depth = max(depth, value.depth)
            value.placed = True
        else:
            weight += 1
    return weight, depth


def walk(
    data: bytes | bytearray | memoryview,
    visitor: Visitor,
    *,
    max_elements: int,
    max_depth: int,
    max_memo: int,
    max_str_len: int,
    max_int_digits: int,
) -> int:
    """Walk the pickle in *data* up to its STOP opcode; return the offset after STOP.

    Raises :class:`Malformed` for bytes CPython would reject (or for features the
    legacy reader never allows: persistent ids, the extension registry, out-of-band
    buffers) and :class:`OverLimit` when a budget is exceeded. Visitor methods may
    raise to stop the walk.

    Besides the value budgets, the walk bounds its own work: at most
    ``4 * max_elements + 4096`` opcodes (a real pickle needs about three per element),
    at most ``min(max_elements, len(data) // 2 + 4096)`` values waiting on the stack
    when a container is pushed, constructor calls may copy at
    most as many bytes of text/bytes constants as the pickle holds (a memoised 1 MB
    string passed to ``bytearray`` a thousand times would not), and at most
    ``MAX_HASH_COLLISIONS`` members of one set (keys of one dict) may share a
    predictable hash value.
    """
    data = bytes(data)
    n = len(data)
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}
    want_constants = visitor.wants_constants
    i = 0
    start = 0
    max_ops = 4 * max_elements + 4096
    # Containers waiting on the stack (not yet inside another value) are not counted by
    # the element budget; each costs ~170 bytes here. A real pickle spends at least two
    # bytes per container (opcode + memo), so half the input bounds them.
    max_stack = min(max_elements, n // 2 + 4096)
    copied = 0  # bytes of str/bytes constants handed to constructors (see call())

    def check(node: Node) -> None:
        if node.weight > max_elements:
            raise OverLimit(start, "max_elements", max_elements)
        if node.depth > max_depth:
            raise OverLimit(start, "max_depth", max_depth)

    def since_mark() -> list[Any]:
        if not marks:
            raise Malformed(start, "an opcode needs a MARK that is not there")
        at = marks.pop()
        items = stack[at:]
        del stack[at:]
        return items

    def collide(target: Node, keys: list[Any]) -> None:
        # CPython's set/dict insertion is linear per colliding member: quadratic overall.
        counts = getattr(target, "hashes", None)
        for key in keys:
            if type(key) is str:
                continue  # randomized hash
            value = predictable_hash(key)
            if value is None:
                continue
            if counts is None:
                counts = target.hashes = {}
            seen = counts.get(value, 0) + 1
            counts[value] = seen
            if seen > MAX_HASH_COLLISIONS:
                raise OverLimit(start, "hash_collisions", MAX_HASH_COLLISIONS)

    def fill(target: Any, items: list[Any], opname: str, kind: str) -> None:
        if type(target) is not Node or target.kind != kind:
            visitor.mutate(start, opname, target)
            if type(target) is not Node:
                return
        if target.placed:
            visitor.late_mutation(start, opname)
        if target.kind == "list" and kind == "list":
            _remember(target, items)
        elif target.kind == "dict" and kind == "dict":
            record(target, items)
            if target.weight + len(items) > _UNCHECKED:
                collide(target, items[::2])
        elif target.kind == "obj" and kind in ("dict", "set"):
            # An OrderedDict, Counter or defaultdict built by a call and filled by
            # SETITEMS (or a set by ADDITEMS) hashes its keys too: always counted.
            collide(target, items[::2] if kind == "dict" else items)
        elif (
            target.kind == "set"
            and kind == "set"
            and target.weight + len(items) > MAX_HASH_COLLISIONS + 1
        ):
            collide(target, items)
        weight, depth = _weigh(items)
        if target.placed:  # it was among its own items: a direct self-reference
            visitor.late_mutation(start, opname)
        target.weight += weight
        target.depth = max(target.depth, depth + 1)
        check(target)

    def line() -> bytes:
        nonlocal i
        end = data.find(b"\n", i)
        if end < 0:
            raise Malformed(start, "a text opcode's line is not terminated")
        text = data[i:end]
        i = end + 1
        return text

    def take(size: int) -> bytes:
        nonlocal i
        if size > n - i:
            raise Malformed(start, "pickle data was truncated")
        chunk = data[i : i + size]
        i += size
        return chunk

    def memo_index(text: bytes) -> int:
        if not text.isdigit() or len(text) > 12:
            raise Malformed(start, "a memo index is not a plain decimal number")
        return int(text)

    def put(index: int) -> None:
        if index >= max_memo:
            raise OverLimit(start, "max_memo", max_memo)
        if len(stack) <= (marks[-1] if marks else 0):
            raise Malformed(start, "memo put with nothing to put")
        memo[index] = stack[-1]

    def get(index: int) -> None:
        try:
            stack.append(memo[index])
        except KeyError:
            raise Malformed(start, f"memo key {index} is not defined") from None

    max_long_bytes = max_int_digits * 5 // 12 + 1  # 8 bits are 2.41 decimal digits
    short_strings_checked = max_str_len < 256

    def push_const(value: str | bytes) -> None:
        if len(value) > max_str_len:
            raise OverLimit(start, "max_str_len", max_str_len)
        stack.append(value)
        if want_constants:
            visitor.constant(start, value)

    def call(opname: str, func: Any, args: Any, kwargs: Node | None = None) -> None:
        nonlocal copied
        if type(args) is not Node or args.kind != "tuple":
            raise Malformed(start, f"{opname} needs a tuple of arguments")
        visitor.call(start, opname, func, args.items, kwargs)
        copies = type(func) is Global and (func.module, func.name) in SAFE_GLOBALS
        for arg in args.items if copies else ():
            if type(arg) is str or type(arg) is bytes:
                # Each call makes a new object from the constant (bytearray(b), str(b),
                # Decimal(s)...): a memoised constant reused N times costs N copies.
                copied += len(arg)
                if copied > n:
                    raise OverLimit(start, "max_copy", n)
        node = Node("obj", start)
        if type(func) is Global and not func.computed:
            hashed = _hashed_by(func.module, func.name, args.items)
            if hashed:
                collide(node, hashed)
        node.callable = func
        node.args = args.items
        args.placed = True
        # The argument tuple stands for the object: a datetime built from (bytes, tz)
        # is as deep and as large as its arguments.
        node.weight = args.weight
        node.depth = args.depth
        if type(func) is Node:
            func.placed = True
        check(node)
        stack.append(node)

    def tuple_of(items: list[Any] | tuple[Any, ...], kind: str = "tuple") -> Node:
        node = Node(kind, start, tuple(items))
        if kind == "frozenset" and len(items) > MAX_HASH_COLLISIONS:
            collide(node, list(items))
        weight, depth = _weigh(items)
        node.weight = 1 + weight
        node.depth = depth + 1
        check(node)
        return node

    def unicode_text(raw: bytes) -> str:
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise Malformed(start, "a unicode string is not valid UTF-8") from None

    def pop() -> Any:
        # CPython never pops below the innermost MARK (its "fence"); neither do we.
        if len(stack) <= (marks[-1] if marks else 0):
            raise Malformed(start, "the pickle pops more than it pushed")
        return stack.pop()

    try:
        for _ in range(max_ops):
            start = i
            op = data[i]  # IndexError past the end: truncated (handled below)
            i += 1
            # The hot opcodes are inlined: this loop runs once per opcode, in Python.
            if op == 0x68:  # BINGET
                try:
                    stack.append(memo[data[i]])
                except KeyError:
                    raise Malformed(start, f"memo key {data[i]} is not defined") from None
                i += 1
            elif op == 0x94:  # MEMOIZE
                index = len(memo)
                if index >= max_memo:
                    raise OverLimit(start, "max_memo", max_memo)
                # (CPython also refuses a MEMOIZE right after MARK; it then stops, so
                # not modelling that cannot let anything through.)
                memo[index] = stack[-1]
            elif op == 0x28:  # MARK
                if len(marks) > 2 * max_depth + 8:
                    # CPython nests at most as deep as the marks: the depth budget applies.
                    raise OverLimit(start, "max_depth", max_depth)
                marks.append(len(stack))
            elif op == 0x7D:  # EMPTY_DICT
                if len(stack) > max_stack:
                    raise OverLimit(start, "max_elements", max_stack)
                node = Node("dict", start)
                stack.append(node)
                if data[i] == 0x94:  # MEMOIZE
                    index = len(memo)
                    if index >= max_memo:
                        raise OverLimit(i, "max_memo", max_memo)
                    memo[index] = node
                    i += 1
            elif op == 0x4B:  # BININT1
                stack.append(data[i])
                i += 1
            elif op == 0x4D:  # BININT2
                stack.append(data[i] | (data[i + 1] << 8))
                i += 2
            elif op == 0x8C:  # SHORT_BINUNICODE
                end = i + 1 + data[i]
                if end > n:
                    raise Malformed(start, "pickle data was truncated")
                try:
                    decoded = data[i + 1 : end].decode("utf-8", "surrogatepass")
                except UnicodeDecodeError:
                    raise Malformed(start, "a unicode string is not valid UTF-8") from None
                i = end
                if short_strings_checked and len(decoded) > max_str_len:
                    raise OverLimit(start, "max_str_len", max_str_len)
                stack.append(decoded)
                if want_constants:
                    visitor.constant(start, decoded)
                if data[i] == 0x94:  # MEMOIZE, which the pickler writes after most pushes
                    index = len(memo)
                    if index >= max_memo:
                        raise OverLimit(i, "max_memo", max_memo)
                    memo[index] = decoded
                    i += 1
            elif op == 0x75 or op == 0x65:  # SETITEMS, APPENDS  # noqa: PLR1714
                if not marks:
                    raise Malformed(start, "an opcode needs a MARK that is not there")
                at = marks.pop()
                if at == 0:
                    raise Malformed(start, "the pickle pops more than it pushed")
                items = stack[at:]
                del stack[at:]
                target = stack[-1]
                kind = "dict" if op == 0x75 else "list"
                if op == 0x75 and len(items) % 2:
                    raise Malformed(start, "SETITEMS with an odd number of items")
                if type(target) is Node and target.kind == kind and not target.placed:
                    if op == 0x65:
                        _remember(target, items)
                    else:
                        # Inlined record(): the dicts pickle writes are filled by one
                        # SETITEMS batch; anything else is simply not vetted as state.
                        target.pairs = (
                            items if target.weight == 1 and len(items) <= MAX_RECORDED else TOO_MANY
                        )
                        if target.weight + len(items) > _UNCHECKED:
                            keys = items[::2]
                            for key in keys:
                                if type(key) is not str:  # str hashes are randomized
                                    collide(target, keys)
                                    break
                    weight = 0
                    depth = 0
                    for value in items:
                        if type(value) is Node:
                            weight += value.weight
                            depth = max(depth, value.depth)
                            value.placed = True
                            if value is target:  # a direct self-reference (a cycle)
                                visitor.late_mutation(start, "SETITEMS/APPENDS")
                        else:
                            weight += 1
                    target.weight += weight
                    if depth >= target.depth:
                        target.depth = depth + 1
                    if target.weight > max_elements or target.depth > max_depth:
                        check(target)
                else:
                    fill(target, items, "SETITEMS" if op == 0x75 else "APPENDS", kind)
            elif op == 0x88:  # NEWTRUE
                stack.append(True)
            elif op == 0x89:  # NEWFALSE
                stack.append(False)
            elif op == 0x5D:  # EMPTY_LIST
                if len(stack) > max_stack:
                    raise OverLimit(start, "max_elements", max_stack)
                stack.append(Node("list", start))
            elif op == 0x4E:  # NONE
                stack.append(None)
            elif op == 0x47:  # BINFLOAT
                stack.append(_unpack_d(data, i)[0])
                i += 8
            elif op == 0x4A:  # BININT
                stack.append(_unpack_i(data, i)[0])
                i += 4
            elif op == 0x71:  # BINPUT
                put(data[i])
                i += 1
            elif op == 0x29:  # EMPTY_TUPLE
                if len(stack) > max_stack:
                    raise OverLimit(start, "max_elements", max_stack)
                stack.append(tuple_of(()))
            elif op == 0x85 or op == 0x86 or op == 0x87:  # TUPLE1-3  # noqa: PLR1714
                size = op - 0x84
                if len(stack) - size < (marks[-1] if marks else 0):
                    raise Malformed(start, "the pickle pops more than it pushed")
                items = stack[-size:]
                del stack[-size:]
                stack.append(tuple_of(items))
            elif op == 0x74:  # TUPLE
                stack.append(tuple_of(since_mark()))
            elif op == 0x43:  # SHORT_BINBYTES
                push_const(take(take(1)[0]))
            elif op == 0x8A:  # LONG1
                raw = take(take(1)[0])
                if len(raw) > max_long_bytes:
                    raise OverLimit(start, "max_int_digits", max_int_digits)
                stack.append(int.from_bytes(raw, "little", signed=True))
            elif op == 0x52:  # REDUCE
                args = pop()
                func = pop()
                call("REDUCE", func, args)
            elif op == 0x81:  # NEWOBJ
                args = pop()
                cls = pop()
                call("NEWOBJ", cls, args)
            elif op == 0x92:  # NEWOBJ_EX
                kwargs = pop()
                args = pop()
                cls = pop()
                if type(kwargs) is not Node or kwargs.kind != "dict":
                    raise Malformed(start, "NEWOBJ_EX needs a dict of keyword arguments")
                kwargs.placed = True
                call("NEWOBJ_EX", cls, args, kwargs)
                stack[-1].weight += kwargs.weight
                check(stack[-1])
            elif op == 0x62:  # BUILD
                state = pop()
                target = stack[-1]
                visitor.build(start, target, state)
                if type(target) is Node:
                    fill(target, [state], "BUILD", target.kind)
                    target.built = True
                    target.state = state  # a UUID's hash is its state's int
            elif op == 0x73:  # SETITEM
                value = pop()
                key = pop()
                fill(stack[-1], [key, value], "SETITEM", "dict")
            elif op == 0x61:  # APPEND
                value = pop()
                fill(stack[-1], [value], "APPEND", "list")
            elif op == 0x8F:  # EMPTY_SET
                if len(stack) > max_stack:
                    raise OverLimit(start, "max_elements", max_stack)
                stack.append(Node("set", start))
            elif op == 0x90:  # ADDITEMS
                items = since_mark()
                fill(stack[-1], items, "ADDITEMS", "set")
            elif op == 0x91:  # FROZENSET
                stack.append(tuple_of(since_mark(), "frozenset"))
            elif op == 0x93:  # STACK_GLOBAL
                name = pop()
                module = pop()
                # Python 2 strings that are not ASCII stay bytes here: what CPython makes
                # of them depends on encoding=, so they count as computed names.
                if type(module) is str and type(name) is str:
                    ref = Global(module, name, start)
                elif type(module) in (str, bytes, Node) and type(name) in (str, bytes, Node):
                    # Folding decodes text (and may import a stdlib codec): reports only.
                    ref = Global(
                        describe_name(module, fold=want_constants),
                        describe_name(name, fold=want_constants),
                        start,
                        computed=True,
                    )
                else:
                    raise Malformed(start, "STACK_GLOBAL requires str module and name")
                visitor.global_(start, "STACK_GLOBAL", ref)
                stack.append(ref)
            elif op in (0x63, 0x69):  # GLOBAL, INST
                module_text = unicode_text(line())
                name_text = unicode_text(line())
                ref = Global(module_text, name_text, start)
                opname = "GLOBAL" if op == 0x63 else "INST"
                visitor.global_(start, opname, ref)
                if op == 0x63:
                    stack.append(ref)
                else:
                    call("INST", ref, tuple_of(since_mark()))
            elif op == 0x6F:  # OBJ
                items = since_mark()
                if not items:
                    raise Malformed(start, "OBJ needs a class")
                call("OBJ", items[0], tuple_of(items[1:]))
            elif op == 0x58:  # BINUNICODE
                push_const(unicode_text(take(_unpack_u32(take(4))[0])))
            elif op == 0x8D:  # BINUNICODE8
                push_const(unicode_text(take(_unpack_u64(take(8))[0])))
            elif op == 0x42:  # BINBYTES
                push_const(take(_unpack_u32(take(4))[0]))
            elif op in (0x8E, 0x96):  # BINBYTES8, BYTEARRAY8
                push_const(take(_unpack_u64(take(8))[0]))
            elif op == 0x54:  # BINSTRING
                size = _unpack_i(take(4))[0]
                if size < 0:
                    raise Malformed(start, "BINSTRING with a negative length")
                push_const(_ascii_or_bytes(take(size)))
            elif op == 0x55:  # SHORT_BINSTRING
                push_const(_ascii_or_bytes(take(take(1)[0])))
            elif op == 0x8B:  # LONG4
                size = _unpack_i(take(4))[0]
                if size < 0:
                    raise Malformed(start, "LONG4 with a negative length")
                if size > max_long_bytes:
                    raise OverLimit(start, "max_int_digits", max_int_digits)
                stack.append(int.from_bytes(take(size), "little", signed=True))
            elif op == 0x6A:  # LONG_BINGET
                get(_unpack_u32(take(4))[0])
            elif op == 0x72:  # LONG_BINPUT
                put(_unpack_u32(take(4))[0])
            elif op == 0x67:  # GET
                get(memo_index(line()))
            elif op == 0x70:  # PUT
                put(memo_index(line()))
            elif op == 0x32:  # DUP
                value = pop()
                stack.append(value)
                stack.append(value)
            elif op == 0x30:  # POP: the innermost MARK if nothing was pushed after it
                if marks and marks[-1] == len(stack):
                    marks.pop()
                else:
                    pop()
            elif op == 0x31:  # POP_MARK
                since_mark()
            elif op == 0x6C:  # LIST
                node = Node("list", start)
                fill(node, since_mark(), "LIST", "list")
                stack.append(node)
            elif op == 0x64:  # DICT
                items = since_mark()
                if len(items) % 2:
                    raise Malformed(start, "DICT with an odd number of items")
                node = Node("dict", start)
                fill(node, items, "DICT", "dict")
                stack.append(node)
            elif op == 0x49:  # INT (protocol 0; "00"/"01" are the booleans)
                text = line()
                if len(text) > max_int_digits + 1:
                    raise OverLimit(start, "max_int_digits", max_int_digits)
                stack.append(_text_int(text, start))
            elif op == 0x4C:  # LONG (protocol 0)
                text = line()
                if len(text) > max_int_digits + 2:
                    raise OverLimit(start, "max_int_digits", max_int_digits)
                stack.append(_text_int(text[:-1] if text.endswith(b"L") else text, start))
            elif op == 0x46:  # FLOAT (protocol 0)
                try:
                    stack.append(float(line()))
                except ValueError:
                    raise Malformed(start, "FLOAT argument is not a number") from None
            elif op == 0x53:  # STRING (protocol 0, quoted)
                push_const(_quoted(line(), start))
            elif op == 0x56:  # UNICODE (protocol 0, raw-unicode-escape)
                try:
                    # The C codec function: a codec lookup by name would import a module.
                    push_const(raw_unicode_escape_decode(line())[0])
                except UnicodeDecodeError:
                    raise Malformed(start, "UNICODE argument is not decodable") from None
            elif op == 0x80:  # PROTO
                version = take(1)[0]
                if version > 5:
                    raise Malformed(start, f"unsupported pickle protocol {version}")
            elif op == 0x95:  # FRAME
                size = _unpack_u64(take(8))[0]
                if size > n - i:
                    raise Malformed(start, "pickle data was truncated (frame)")
            elif op == 0x2E:  # STOP
                if len(stack) != 1 or marks:
                    raise Malformed(start, "STOP with an unbalanced stack")
                visitor.finish(start)
                return i
            elif op in _REFUSED:
                raise Malformed(
                    start,
                    f"the pickle uses {_REFUSED[op]}, which is not supported",
                    feature=_REFUSED[op].split(" ", 1)[0],
                )
            else:
                raise Malformed(start, f"invalid pickle opcode 0x{op:02x}")
        raise OverLimit(start, "max_opcodes", max_ops)
    except (IndexError, struct.error):
        # Reading past the end of the data, or popping an empty stack.
        raise Malformed(start, "the pickle is truncated or pops more than it pushed") from None


#: Constructors that hash what they are given, and how: a set of an iterable's members, a
#: mapping of an iterable of (key, value) pairs (after defaultdict's factory).
HASHING_CONSTRUCTORS = {
    ("builtins", "set"): 0,
    ("builtins", "frozenset"): 0,
    ("collections", "Counter"): 0,
    ("builtins", "dict"): 1,
    ("collections", "OrderedDict"): 1,
    ("collections", "defaultdict"): 2,
}


def _remember(target: Node, items: list[Any]) -> None:
    """Keep a list's members for a hashing constructor that may receive it (see call).

    What such a constructor cannot hash (a dict, a set, a list other than a two-item
    one, which dict() takes as a (key, value) pair) is kept as :data:`_UNHASHABLE`, so
    lengths stay right (``[k, []]`` is a pair) without keeping every nested container
    alive: that had tripled the walk's memory on a pickle of a million empty lists.
    """
    kept = [
        item
        if type(item) is not Node
        or item.kind in _HASHABLE_KINDS
        or (item.kind == "list" and len(item.members) == 2)
        else _UNHASHABLE
        for item in items
    ]
    members = target.members
    if type(members) is list:
        members.extend(kept)
    else:
        target.members = kept


_HASHABLE_KINDS = frozenset({"tuple", "frozenset", "obj"})
#: Stands for a list member no constructor can hash (predictable_hash gives None).
_UNHASHABLE = object()


def _hashed_by(module: str, name: str, args: tuple[Any, ...]) -> list[Any]:
    """The values a constructor call will hash, as far as the walk knows them.

    Protocols 0-3 write a set as ``set([...])``, and a crafted pickle can build a dict
    from ``dict([(k, v), ...])``: the members are hashed inside the call, so they are
    counted here like ADDITEMS/SETITEMS members (a dict or set node argument was already
    counted when it was filled; a value built by a call was counted by that call).
    """
    how = HASHING_CONSTRUCTORS.get((module, name))
    position = 1 if how == 2 else 0
    if how is None or len(args) <= position:
        return []
    members = members_of(args[position])
    if members is None:
        return []
    if how == 0:
        return list(members)
    keys = []
    for pair in members:
        inner = members_of(pair)
        if inner is not None and len(inner) == 2:
            keys.append(inner[0])
    return keys


def _text_int(text: bytes, offset: int) -> int:
    body = text[1:] if text[:1] in (b"-", b"+") else text
    if not body.isdigit():
        raise Malformed(offset, "an integer argument is not a decimal number")
    if text == b"00":
        return False
    if text == b"01":
        return True
    if len(body) > 40:
        # Converting is quadratic; the caller's digit budget is checked by the loader.
        return BIG_INT
    return int(text)


def _quoted(text: bytes, offset: int) -> bytes | str:
    if len(text) >= 2 and text[:1] == text[-1:] and text[:1] in (b"'", b'"'):
        try:
            raw = escape_decode(text[1:-1])[0]  # what CPython's STRING opcode uses
        except (UnicodeDecodeError, UnicodeEncodeError, ValueError):
            raise Malformed(offset, "STRING argument is not a valid escaped string") from None
        return _ascii_or_bytes(raw)
    raise Malformed(offset, "STRING argument is not quoted")


def _ascii_or_bytes(raw: bytes) -> bytes | str:
    # Python 2 str values: CPython decodes them (encoding="ASCII" by default) to str.
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return raw
