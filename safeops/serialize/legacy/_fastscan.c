/*
 * The legacy reader's fast path: the opcode walk of _scan.py for the pickles CPython's
 * (and Python 2's) pickler writes for plain data, in C.
 *
 * This scan can only ACCEPT. It answers the end offset when the pickle is one it fully
 * understands and the Python walk (_scan.walk with _unpickler._StrictVisitor) would
 * accept too, and -1 ("undecided") for everything else: an opcode outside its subset, a
 * call or state update its few policy cases do not cover, a budget exceeded, malformed
 * bytes. Undecided input goes through the Python walk, which alone produces errors. So
 * a gap here costs speed, never safety; only a wrong "accept" matters, and the rules
 * below mirror the Python walk's, rule by rule (tests/test_legacy_fastpath.py checks the
 * implication on generated and mutated pickles). They model the walk, not CPython: like
 * the walk, this accepts a few byte sequences CPython's unpickler then rejects (an
 * APPEND below the MARK, a MEMOIZE right after one), which legacy.loads reports as a
 * failed load.
 *
 * Nothing here imports, calls or builds anything the data names: the only Python calls
 * are decoding non-ASCII text (to count code points and validate UTF-8 exactly as the
 * walk does) and looking up (module, name) pairs of exact str in the caller's dict.
 *
 * Memory: an opcode makes at most one 32-byte Value (none for NONE, bools, floats and
 * the ints 0-255, which share theirs) and one 4-byte stack entry, and a counted key one
 * 16-byte slot of the collision table; the opcode count is bounded by the same max_ops
 * as the Python walk, and all arrays grow by doubling with overflow checks.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Value kinds. Containers and call results ("nodes") come last. */
enum {
    K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_BYTES, K_GLOBAL,
    K_LIST, K_DICT, K_SET, K_TUPLE, K_FROZENSET, K_OBJ
};
#define IS_NODE(kind) ((kind) >= K_LIST)

/* Value flags. */
#define F_PLACED 0x01     /* node: inside another value (changing it now is a cycle) */
#define F_BUILT 0x02      /* obj: BUILD gave it state */
#define F_UUID_INT 0x04   /* int: 0 <= value < 2**128 */
#define F_UUID_STATE 0x08 /* dict: its whole content is {'int': F_UUID_INT int} */
#define F_BARE 0x10       /* obj: a uuid.UUID made by NEWOBJ (), waiting for BUILD */
#define F_SAFE_FLAG 0x20  /* int: 0 or -1 (a SafeUUID value UUID.__getstate__ writes) */
#define F_ALL_STR 0x40    /* list: every member is a str (len counts the members) */
#define F_HASH 0x80       /* int: its hash (as CPython computes it) is in `hash` */
/* obj: len counts the non-str keys or members the walk has counted for it. */

/* Categories of allow-listed globals, computed by _fastpath.table() from the policy. */
#define CAT_MASK 0x0f
#define CAT_NOCALL 1 /* resolvable; calling it or giving it state is left to Python */
#define CAT_PLAIN 2  /* a default class vet_call accepts with any arguments */
#define CAT_UUID 3   /* uuid.UUID: NEWOBJ () then BUILD {'int': n} */
#define CAT_CALLER 4 /* a class the caller allowed: any call, any state (once) */
#define CAT_ENCODE 5 /* _codecs.encode: (text, codec[, 'strict']), pickle's bytes (protocols 0-2) */
#define CAT_CONTAINER 6 /* list, tuple, deque, ChainMap: no text argument (vet_call) */
#define CAT_MEMBERS 7   /* set, frozenset, Counter: also hash the members of a list/tuple */
#define CAT_PAIRS 8     /* dict, OrderedDict: a list/tuple of pairs is left to the walk */
#define CAT_DECIMAL 9   /* Decimal (and allowed subclasses): plain text, int, float only */
#define CAT_TEMPORAL 10 /* the datetime types: PLAIN, and their hash needs no count */
#define CAT_SAFE 0x10 /* in SAFE_GLOBALS: str/bytes arguments count against max_copy */

typedef struct {
    uint8_t kind;
    uint8_t flags;
    uint8_t cat;     /* global, obj: the category of the (callable) global */
    uint32_t len;    /* str: code points; bytes: bytes; tuple/frozenset: items; list: members;
                      * obj: non-str keys/members counted for collisions */
    uint32_t blen;   /* str: bytes of UTF-8 */
    uint32_t at;     /* str/bytes: offset in the data; tuple: first index in items */
    uint32_t depth;
    union {
        uint64_t weight; /* nodes (constants weigh 1 wherever they are placed) */
        int64_t hash;    /* ints with F_HASH */
    };
} Value;

/* One count of the walk's hash-collision rule: how many keys or members of one
 * container (owner, a value index + 1; 0 marks a free slot) have this hash. */
typedef struct {
    uint32_t owner;
    uint32_t count;
    int64_t hash;
} Slot;

typedef struct {
    uint32_t *data;
    size_t len, cap;
} Vec;

static int
vec_grow(Vec *vec)
{
    size_t cap = vec->cap ? vec->cap * 2 : 256;
    if (cap > SIZE_MAX / sizeof(uint32_t) / 2) {
        return -1;
    }
    uint32_t *grown = PyMem_Realloc(vec->data, cap * sizeof(uint32_t));
    if (grown == NULL) {
        return -1;
    }
    vec->data = grown;
    vec->cap = cap;
    return 0;
}

static int
vec_push(Vec *vec, uint32_t item)
{
    if (vec->len == vec->cap && vec_grow(vec) < 0) {
        return -1;
    }
    vec->data[vec->len++] = item;
    return 0;
}

typedef struct {
    const unsigned char *data;
    size_t n;
    Value *values;
    size_t nvalues, capvalues;
    Vec stack, marks, memo, items;
    PyObject *table;
    Slot *slots; /* open addressing, a power of two long */
    size_t nslots, usedslots;
    uint64_t max_elements, max_depth, max_memo, max_str_len, max_long_bytes, max_stack;
    uint64_t max_int_digits;
    uint64_t collisions, copied;
    uint64_t bare; /* UUIDs waiting for their BUILD */
} Scan;

/* Constants other than text carry nothing but their kind and flags, and nothing ever
 * changes them (only nodes get flags after creation), so every NONE, bool, float and
 * int shares one of these values instead of taking 32 bytes per opcode. */
enum {
    V_NONE, V_BOOL, V_FLOAT,
    V_INT, /* an int of unknown hash: + F_UUID_INT ? 1 : 0, + F_SAFE_FLAG ? 2 : 0 */
    V_SMALL = V_INT + 4, /* + n: the int n, 0 <= n < 256 (BININT1) */
    SHARED_VALUES = V_SMALL + 256
};

/* Index of a new value, or UINT32_MAX when out of memory. */
static uint32_t
new_value(Scan *s, uint8_t kind)
{
    if (s->nvalues == s->capvalues) {
        size_t cap = s->capvalues ? s->capvalues * 2 : 1024;
        if (cap >= UINT32_MAX || cap > SIZE_MAX / sizeof(Value) / 2) {
            return UINT32_MAX;
        }
        Value *grown = PyMem_Realloc(s->values, cap * sizeof(Value));
        if (grown == NULL) {
            return UINT32_MAX;
        }
        s->values = grown;
        s->capvalues = cap;
    }
    uint32_t index = (uint32_t)s->nvalues++;
    Value *v = &s->values[index];
    memset(v, 0, sizeof(Value));
    v->kind = kind;
    v->weight = 1;
    v->depth = IS_NODE(kind) ? 1 : 0;
    if (kind == K_LIST) {
        v->flags = F_ALL_STR; /* no member yet */
    }
    return index;
}

/* The innermost MARK's stack position: CPython never pops below it ("the fence"). */
static size_t
fence(Scan *s)
{
    return s->marks.len ? s->marks.data[s->marks.len - 1] : 0;
}

/* Pop above the fence into *out; -1 when the walk would call it malformed. */
static int
pop(Scan *s, uint32_t *out)
{
    if (s->stack.len <= fence(s)) {
        return -1;
    }
    *out = s->stack.data[--s->stack.len];
    return 0;
}

static int
over(Scan *s, Value *v)
{
    return v->weight > s->max_elements || v->depth > s->max_depth;
}

/* Weigh items[0:count] into target like _weigh()/fill(): -1 on a self-reference. */
static int
weigh_into(Scan *s, uint32_t target, const uint32_t *items, size_t count)
{
    uint64_t weight = 0;
    uint32_t depth = 0;
    for (size_t k = 0; k < count; k++) {
        if (items[k] == target) {
            return -1; /* a container inside itself: a cycle, refused by the walk */
        }
        Value *item = &s->values[items[k]];
        if (IS_NODE(item->kind)) {
            weight += item->weight; /* each <= max_elements: no overflow in 64 bits */
            if (item->depth > depth) {
                depth = item->depth;
            }
            item->flags |= F_PLACED;
        }
        else {
            weight += 1;
        }
        if (weight > s->max_elements) {
            return -1;
        }
    }
    Value *t = &s->values[target];
    t->weight += weight;
    if (depth + 1 > t->depth) {
        t->depth = depth + 1;
    }
    return over(s, t) ? -1 : 0;
}

/* hash(n) as CPython computes it for an int: sign(n) * (|n| mod (2**61 - 1)), and -2
 * for -1 (which is the error value of the C hash functions). */
static int64_t
int_hash(int64_t n)
{
    const uint64_t modulus = ((uint64_t)1 << 61) - 1;
    uint64_t magnitude = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    int64_t hash = (int64_t)(magnitude % modulus);
    if (n < 0) {
        hash = -hash;
    }
    return hash == -1 ? -2 : hash;
}

/* An int that fits in 64 bits, with its hash (what the collision count needs). */
static int
push_int64(Scan *s, int64_t n)
{
    if (n >= 0 && n < 256) {
        return vec_push(&s->stack, (uint32_t)(V_SMALL + n));
    }
    uint32_t index = new_value(s, K_INT);
    if (index == UINT32_MAX) {
        return -1;
    }
    Value *v = &s->values[index];
    v->flags = (uint8_t)(F_HASH | (n >= 0 ? F_UUID_INT : 0) | (n == -1 ? F_SAFE_FLAG : 0));
    v->hash = int_hash(n);
    return vec_push(&s->stack, index);
}

/* Count one hash for owner: -1 once more than `collisions` share it (the walk refuses
 * that), or when out of memory. */
static int
count_hash(Scan *s, uint32_t owner, int64_t hash)
{
    if (s->usedslots * 2 >= s->nslots) {
        size_t size = s->nslots ? s->nslots * 2 : 1024;
        if (size > SIZE_MAX / sizeof(Slot) / 2) {
            return -1;
        }
        Slot *grown = PyMem_Calloc(size, sizeof(Slot));
        if (grown == NULL) {
            return -1;
        }
        for (size_t k = 0; k < s->nslots; k++) { /* rehash the old slots */
            Slot old = s->slots[k];
            if (old.owner) {
                uint64_t mix = ((uint64_t)old.hash ^ ((uint64_t)old.owner << 32))
                               * 0x9E3779B97F4A7C15ull;
                size_t at = (size_t)(mix >> 17) & (size - 1);
                while (grown[at].owner) {
                    at = (at + 1) & (size - 1);
                }
                grown[at] = old;
            }
        }
        PyMem_Free(s->slots);
        s->slots = grown;
        s->nslots = size;
    }
    uint32_t key = owner + 1;
    uint64_t mix = ((uint64_t)hash ^ ((uint64_t)key << 32)) * 0x9E3779B97F4A7C15ull;
    size_t at = (size_t)(mix >> 17) & (s->nslots - 1);
    while (s->slots[at].owner && (s->slots[at].owner != key || s->slots[at].hash != hash)) {
        at = (at + 1) & (s->nslots - 1);
    }
    Slot *slot = &s->slots[at];
    if (!slot->owner) {
        slot->owner = key;
        slot->hash = hash;
        s->usedslots++;
    }
    return ++slot->count > s->collisions ? -1 : 0;
}

/* The walk's collide(): every key (each step-th item) whose hash an attacker can
 * choose is counted for owner. str and bytes hashes are randomized, and the walk has no
 * hash for globals and lists, dicts or sets (unhashable): those are skipped. Anything
 * else whose hash is not known here (floats, bools, None, long ints, tuples, call
 * results) is left to the walk. */
static int
count_keys(Scan *s, uint32_t owner, const uint32_t *items, size_t count, size_t step)
{
    if (owner >= UINT32_MAX - 1) {
        return -1;
    }
    for (size_t k = 0; k < count; k += step) {
        const Value *v = &s->values[items[k]];
        switch (v->kind) {
        case K_STR: case K_BYTES: case K_GLOBAL: case K_LIST: case K_DICT: case K_SET:
            continue;
        case K_INT:
            if ((v->flags & F_HASH) && count_hash(s, owner, v->hash) == 0) {
                continue;
            }
            return -1;
        case K_OBJ:
            /* date, datetime and time hash their randomized byte state; timedelta and
             * timezone a tuple of bounded fields (the walk's _call_hash skips them). */
            if ((v->cat & CAT_MASK) == CAT_TEMPORAL) {
                continue;
            }
            return -1;
        default:
            return -1;
        }
    }
    return 0;
}

/* Whether every item is a str: only then can the hash-collision count be skipped (str
 * hashes are randomized); the walk counts the others, which is left to it. */
static int
all_str(Scan *s, const uint32_t *items, size_t count, size_t step)
{
    for (size_t k = 0; k < count; k += step) {
        if (s->values[items[k]].kind != K_STR) {
            return 0;
        }
    }
    return 1;
}

/* Push a new tuple or frozenset of the stack's items above position at. */
static int
push_tuple(Scan *s, size_t at, uint8_t kind)
{
    size_t count = s->stack.len - at;
    uint32_t index = new_value(s, kind);
    if (index == UINT32_MAX || s->items.len > UINT32_MAX - count) {
        return -1;
    }
    if (kind == K_FROZENSET && count > s->collisions
        && count_keys(s, index, s->stack.data + at, count, 1) < 0) {
        return -1;
    }
    uint32_t first = (uint32_t)s->items.len;
    for (size_t k = at; k < s->stack.len; k++) {
        if (vec_push(&s->items, s->stack.data[k]) < 0) {
            return -1;
        }
    }
    Value *v = &s->values[index];
    v->len = (uint32_t)count;
    v->at = first;
    v->weight = 0;
    v->depth = 0;
    if (weigh_into(s, index, s->items.data + first, count) < 0) {
        return -1;
    }
    v = &s->values[index];
    v->weight += 1; /* tuple_of: 1 + the items' weight, depth + 1 (weigh_into's +1) */
    if (over(s, v)) {
        return -1;
    }
    s->stack.len = at;
    return vec_push(&s->stack, index);
}

static int
is_str(Scan *s, uint32_t index, const char *text, uint32_t size)
{
    const Value *v = &s->values[index];
    return v->kind == K_STR && v->blen == size && memcmp(s->data + v->at, text, size) == 0;
}

/* Whether items (a dict's flattened key/value pairs) are {'int': 0 <= n < 2**128} and
 * maybe 'is_safe': None, 0 or -1: UUID.__getstate__'s forms. */
static int
uuid_state(Scan *s, const uint32_t *items, size_t count)
{
    if (count != 2 && count != 4) {
        return 0;
    }
    int number = 0, flag = 0;
    for (size_t k = 0; k < count; k += 2) {
        const Value *value = &s->values[items[k + 1]];
        if (is_str(s, items[k], "int", 3) && !number) {
            number = value->kind == K_INT && (value->flags & F_UUID_INT);
            if (!number) {
                return 0;
            }
        }
        else if (is_str(s, items[k], "is_safe", 7) && !flag) {
            flag = value->kind == K_NONE || (value->kind == K_INT && (value->flags & F_SAFE_FLAG));
            if (!flag) {
                return 0;
            }
        }
        else {
            return 0;
        }
    }
    return number;
}

/* Fill a list, dict or set with items (APPEND(S), SETITEM(S), ADDITEMS). */
static int
fill(Scan *s, uint8_t kind, const uint32_t *items, size_t count)
{
    if (s->stack.len == 0) {
        return -1;
    }
    uint32_t target = s->stack.data[s->stack.len - 1];
    Value *t = &s->values[target];
    if (t->kind == K_OBJ && !(t->flags & (F_BUILT | F_PLACED))) {
        /* A value built by a call and filled the way pickle fills an OrderedDict or a
         * deque (vet_mutate accepts it until BUILD). The walk counts the keys of SETITEMS
         * and the members of ADDITEMS on it: accepted while at most `collisions` of
         * them, the call's own included (len), are not str. */
        if (kind != K_LIST) {
            size_t step = kind == K_DICT ? 2 : 1;
            uint64_t others = 0;
            for (size_t k = 0; k < count; k += step) {
                others += s->values[items[k]].kind != K_STR;
            }
            if (others > s->collisions - t->len) {
                return -1;
            }
            t->len += (uint32_t)others;
        }
        return weigh_into(s, target, items, count);
    }
    if (t->kind != kind || (t->flags & F_PLACED)) {
        return -1; /* a method call on another type, or a late mutation: the walk's */
    }
    if (kind == K_DICT) {
        if (t->weight + count > 2 * s->collisions + 1
            && count_keys(s, target, items, count, 2) < 0) {
            return -1;
        }
        /* The state _vet_default_state() accepts for a UUID, filled in one batch while
         * the dict is empty (later batches only clear the flag: the walk decides). */
        if (t->weight == 1 && uuid_state(s, items, count)) {
            t->flags |= F_UUID_STATE;
        }
        else {
            t->flags &= (uint8_t)~F_UUID_STATE;
        }
    }
    else if (kind == K_SET && t->weight + count > s->collisions + 1
             && count_keys(s, target, items, count, 1) < 0) {
        return -1;
    }
    else if (kind == K_LIST) {
        /* What set(list) would hash (the walk keeps the members themselves). */
        if (count > UINT32_MAX - t->len) {
            return -1;
        }
        t->len += (uint32_t)count;
        if (!all_str(s, items, count, 1)) {
            t->flags &= (uint8_t)~F_ALL_STR;
        }
    }
    return weigh_into(s, target, items, count);
}

/* Look up an allow-listed global: its category, or -1 when the walk must judge it. */
static int
lookup(Scan *s, const unsigned char *module, size_t mlen, const unsigned char *name,
       size_t nlen)
{
    int category = -1;
    PyObject *m = PyUnicode_DecodeUTF8((const char *)module, (Py_ssize_t)mlen, "surrogatepass");
    PyObject *q = PyUnicode_DecodeUTF8((const char *)name, (Py_ssize_t)nlen, "surrogatepass");
    PyObject *key = (m && q) ? PyTuple_Pack(2, m, q) : NULL;
    if (key != NULL) {
        /* Exact str keys: hashing and comparing them runs no Python code. */
        PyObject *found = PyDict_GetItemWithError(s->table, key);
        if (found != NULL && PyLong_CheckExact(found)) {
            long value = PyLong_AsLong(found);
            if (value > 0 && value < 256) {
                category = (int)value;
            }
        }
    }
    Py_XDECREF(key);
    Py_XDECREF(m);
    Py_XDECREF(q);
    PyErr_Clear();
    return category;
}

static int
push_global(Scan *s, int category)
{
    if (category < 0) {
        return -1;
    }
    uint32_t index = new_value(s, K_GLOBAL);
    if (index == UINT32_MAX) {
        return -1;
    }
    s->values[index].cat = (uint8_t)category;
    return vec_push(&s->stack, index);
}

/* A str or bytes constant of size bytes at offset at (size already bounds-checked). */
static int
push_text(Scan *s, uint8_t kind, size_t at, size_t size)
{
    uint64_t chars = size;
    if (kind == K_STR) {
        const unsigned char *p = s->data + at;
        size_t k = 0;
        while (k < size && p[k] < 0x80) {
            k++;
        }
        if (k < size) {
            /* Not ASCII: decode as the walk does (surrogatepass) to validate and count. */
            PyObject *text = PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)size,
                                                  "surrogatepass");
            if (text == NULL) {
                PyErr_Clear();
                return -1;
            }
            chars = (uint64_t)PyUnicode_GET_LENGTH(text);
            Py_DECREF(text);
        }
    }
    if (chars > s->max_str_len) {
        return -1;
    }
    uint32_t index = new_value(s, kind);
    if (index == UINT32_MAX) {
        return -1;
    }
    Value *v = &s->values[index];
    v->len = (uint32_t)chars;
    v->blen = (uint32_t)size;
    v->at = (uint32_t)at;
    return vec_push(&s->stack, index);
}

/* An int too long to hash here; uuid_ok: 0 <= n < 2**128; safe_flag: n is 0 or -1. */
static int
push_int(Scan *s, int uuid_ok, int safe_flag)
{
    return vec_push(&s->stack, (uint32_t)(V_INT + (uuid_ok ? 1 : 0) + (safe_flag ? 2 : 0)));
}


static int
push_new(Scan *s, uint8_t kind)
{
    uint32_t index = new_value(s, kind);
    return index == UINT32_MAX ? -1 : vec_push(&s->stack, index);
}

/* Set up the shared constants and the first blocks of every array (so no pointer
 * arithmetic is ever done on a NULL array). */
static int
start(Scan *s)
{
    for (int k = 0; k < SHARED_VALUES; k++) {
        uint8_t kind = k == V_NONE ? K_NONE : k == V_BOOL ? K_BOOL : k == V_FLOAT ? K_FLOAT : K_INT;
        uint32_t index = new_value(s, kind);
        if (index != (uint32_t)k) {
            return -1;
        }
    }
    s->values[V_INT + 1].flags = F_UUID_INT;
    s->values[V_INT + 2].flags = F_SAFE_FLAG;
    s->values[V_INT + 3].flags = F_UUID_INT | F_SAFE_FLAG;
    for (int n = 0; n < 256; n++) {
        Value *v = &s->values[V_SMALL + n];
        v->flags = (uint8_t)(F_HASH | F_UUID_INT | (n == 0 ? F_SAFE_FLAG : 0));
        v->hash = n;
    }
    if (vec_grow(&s->stack) < 0 || vec_grow(&s->marks) < 0 || vec_grow(&s->memo) < 0
        || vec_grow(&s->items) < 0) {
        return -1;
    }
    return 0;
}

/* Whether value is ASCII str/bytes equal to one of the names (NUL-separated, ending in
 * an empty name) ignoring ASCII case: _policy._text(value) in names, for ASCII text. */
static int
is_name(Scan *s, uint32_t index, const char *names)
{
    const Value *v = &s->values[index];
    if ((v->kind != K_STR && v->kind != K_BYTES) || (v->kind == K_STR && v->blen != v->len)) {
        return 0; /* non-ASCII text: str.lower() is Unicode's; left to the walk */
    }
    const unsigned char *text = s->data + v->at;
    for (const char *name = names; *name; name += strlen(name) + 1) {
        size_t size = strlen(name);
        if (size != v->blen) {
            continue;
        }
        size_t k = 0;
        while (k < size && text[k] < 0x80
               && (text[k] >= 'A' && text[k] <= 'Z' ? text[k] + 32 : text[k]) == name[k]) {
            k++;
        }
        if (k == size) {
            return 1;
        }
    }
    return 0;
}

/* vet_call's rule for _codecs.encode: REDUCE (text, codec[, errors]) with a codec in
 * _policy.ENCODINGS and errors 'strict'. */
static int
encode_ok(Scan *s, const Value *args)
{
    const uint32_t *item = s->items.data + args->at;
    if (args->len < 1 || args->len > 3) {
        return 0;
    }
    uint8_t text = s->values[item[0]].kind;
    if (text != K_STR && text != K_BYTES) {
        return 0;
    }
    if (args->len >= 2 && !is_name(s, item[1], "latin1\0latin-1\0utf-8\0utf8\0ascii\0")) {
        return 0;
    }
    return args->len < 3 || is_name(s, item[2], "strict\0");
}

/* vet_call's rule for the container types (no str/bytes argument: pickle writes items,
 * never an iterable to expand) and the walk's hash-collision count of what a hashing
 * constructor is given (_scan._hashed_by): accepted when that cannot exceed the count,
 * i.e. at most `collisions` members or str members only (their hashes are randomized). */
static int
container_ok(Scan *s, const Value *args, int category, uint32_t *hashed)
{
    const uint32_t *item = s->items.data + args->at;
    for (uint32_t k = 0; k < args->len; k++) {
        uint8_t kind = s->values[item[k]].kind;
        if (kind == K_STR || kind == K_BYTES) {
            return 0;
        }
    }
    if (category == CAT_CONTAINER || args->len == 0) {
        return 1;
    }
    const Value *first = &s->values[item[0]];
    if (first->kind == K_OBJ) {
        return 0; /* set(list(...)): the walk looks through the inner call; so no fast path */
    }
    if (first->kind == K_LIST || first->kind == K_TUPLE || first->kind == K_FROZENSET) {
        if (category == CAT_PAIRS) {
            return 0; /* dict([(k, v), ...]): pickle never writes it; the walk counts keys */
        }
        int strings = first->kind == K_LIST
                          ? (first->flags & F_ALL_STR) != 0
                          : all_str(s, s->items.data + first->at, first->len, 1); /* tuple, frozenset */
        if (strings) {
            return 1;
        }
        *hashed = first->len; /* an upper bound of the members the walk counted */
        return first->len <= s->collisions;
    }
    return 1;
}

/* The walk's vet_decimal for what it surely accepts: no argument, an int, a float, a
 * bool, or decimal text [+-]digits[.digits][(e|E)[+-]digits] (ASCII, what str(Decimal)
 * writes for finite values) whose value has at most max_int_digits digits before and
 * after the point: exponent >= -max_int_digits and adjusted() < max_int_digits, as
 * _tags.check_decimal_size. Any other text (NaN, Infinity, spaces, underscores, longer
 * than the walk's bound) is left to the walk. */
static int
decimal_ok(Scan *s, const Value *args)
{
    if (args->len == 0) {
        return 1;
    }
    if (args->len > 1) {
        return 0;
    }
    const Value *v = &s->values[s->items.data[args->at]];
    if (v->kind == K_INT || v->kind == K_FLOAT || v->kind == K_BOOL) {
        return 1;
    }
    if (v->kind != K_STR || v->blen != v->len || v->blen > 2 * s->max_int_digits + 32) {
        return 0;
    }
    const unsigned char *text = s->data + v->at;
    size_t n = v->blen, k = 0;
    if (k < n && (text[k] == '+' || text[k] == '-')) {
        k++;
    }
    int64_t digits = 0, significant = 0, fraction = 0;
    int point = 0;
    for (; k < n; k++) {
        unsigned char c = text[k];
        if (c >= '0' && c <= '9') {
            digits++;
            fraction += point;
            if (c != '0' || significant) {
                significant++; /* digits from the first non-zero one on */
            }
        }
        else if (c == '.' && !point) {
            point = 1;
        }
        else {
            break;
        }
    }
    if (digits == 0) {
        return 0;
    }
    int64_t exponent = 0;
    if (k < n) {
        if (text[k] != 'e' && text[k] != 'E') {
            return 0;
        }
        k++;
        int negative = k < n && text[k] == '-';
        if (k < n && (text[k] == '+' || text[k] == '-')) {
            k++;
        }
        if (k == n || n - k > 9) {
            return 0; /* no digits, or an exponent this scan does not compute */
        }
        for (; k < n; k++) {
            if (text[k] < '0' || text[k] > '9') {
                return 0;
            }
            exponent = exponent * 10 + (text[k] - '0');
        }
        if (negative) {
            exponent = -exponent;
        }
    }
    exponent -= fraction;
    int64_t adjusted = exponent + (significant ? significant : 1) - 1;
    int64_t limit = (int64_t)s->max_int_digits;
    return exponent >= -limit && adjusted < limit;
}

/* REDUCE and NEWOBJ: call(); only the policy cases the categories describe. */
static int
call(Scan *s, int newobj)
{
    uint32_t args, func;
    if (pop(s, &args) < 0 || pop(s, &func) < 0) {
        return -1;
    }
    Value *f = &s->values[func];
    Value *a = &s->values[args];
    if (f->kind != K_GLOBAL || a->kind != K_TUPLE) {
        return -1;
    }
    int category = f->cat & CAT_MASK;
    int bare = 0;
    uint32_t hashed = 0;
    if (category == CAT_UUID) {
        if (!newobj || a->len != 0) {
            return -1; /* vet_call's UUID rules and makes_bare_uuid: left to the walk */
        }
        bare = 1;
    }
    else if (category == CAT_ENCODE) {
        if (newobj || !encode_ok(s, a)) {
            return -1;
        }
    }
    else if (category == CAT_DECIMAL) {
        if (!decimal_ok(s, a)) {
            return -1;
        }
    }
    else if (category == CAT_CONTAINER || category == CAT_MEMBERS || category == CAT_PAIRS) {
        if (!container_ok(s, a, category, &hashed)) {
            return -1;
        }
    }
    else if (category != CAT_PLAIN && category != CAT_CALLER && category != CAT_TEMPORAL) {
        return -1;
    }
    if (f->cat & CAT_SAFE) {
        for (uint32_t k = 0; k < a->len; k++) {
            const Value *arg = &s->values[s->items.data[a->at + k]];
            if (arg->kind == K_STR || arg->kind == K_BYTES) {
                s->copied += arg->len;
                if (s->copied > s->n) {
                    return -1;
                }
            }
        }
    }
    uint8_t cat = f->cat;
    uint32_t index = new_value(s, K_OBJ);
    if (index == UINT32_MAX) {
        return -1;
    }
    Value *v = &s->values[index];
    a = &s->values[args];
    a->flags |= F_PLACED;
    v->cat = cat;
    v->len = hashed; /* what the walk counted for this call (see container_ok) */
    v->weight = a->weight;
    v->depth = a->depth;
    if (bare) {
        v->flags |= F_BARE;
        s->bare++;
    }
    return over(s, v) ? -1 : vec_push(&s->stack, index);
}

/* BUILD: state for a caller's class, or a UUID's {'int': n}. */
static int
build(Scan *s)
{
    uint32_t state;
    if (pop(s, &state) < 0 || s->stack.len == 0) {
        return -1;
    }
    uint32_t target = s->stack.data[s->stack.len - 1];
    Value *t = &s->values[target];
    if (t->kind != K_OBJ || (t->flags & (F_BUILT | F_PLACED))) {
        return -1;
    }
    int category = t->cat & CAT_MASK;
    if (category == CAT_UUID) {
        const Value *st = &s->values[state];
        if (!(t->flags & F_BARE) || st->kind != K_DICT || !(st->flags & F_UUID_STATE)) {
            return -1;
        }
        t->flags &= (uint8_t)~F_BARE;
        s->bare--;
    }
    else if (category != CAT_CALLER) {
        return -1;
    }
    t->flags |= F_BUILT;
    return weigh_into(s, target, &state, 1);
}

static uint32_t
u32le(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16)
           | ((uint32_t)p[3] << 24);
}

static int
memo_put(Scan *s, uint64_t index)
{
    /* The pickler numbers the memo densely; a sparse index is left to the walk. */
    if (index >= s->max_memo || index > s->memo.len || s->stack.len <= fence(s)) {
        return -1;
    }
    uint32_t top = s->stack.data[s->stack.len - 1];
    if (index == s->memo.len) {
        return vec_push(&s->memo, top);
    }
    s->memo.data[index] = top;
    return 0;
}

static int
memo_get(Scan *s, uint64_t index)
{
    return index < s->memo.len ? vec_push(&s->stack, s->memo.data[index]) : -1;
}

/* The walk; returns the offset after STOP, or -1 (undecided). */
static Py_ssize_t
run(Scan *s, uint64_t max_ops)
{
    const unsigned char *d = s->data;
    size_t n = s->n, i = 0;
    for (uint64_t ops = 0; ops < max_ops; ops++) {
        if (i >= n) {
            return -1;
        }
        unsigned char op = d[i++];
        size_t size;
        switch (op) {
        case 0x80: /* PROTO */
            if (i >= n || d[i] > 5) {
                return -1;
            }
            i++;
            break;
        case 0x95: /* FRAME */
            if (n - i < 8) {
                return -1;
            }
            {
                uint64_t frame = (uint64_t)u32le(d + i) | ((uint64_t)u32le(d + i + 4) << 32);
                i += 8;
                if (frame > n - i) {
                    return -1;
                }
            }
            break;
        case 0x94: /* MEMOIZE */
            if (s->stack.len == 0 || s->memo.len >= s->max_memo
                || vec_push(&s->memo, s->stack.data[s->stack.len - 1]) < 0) {
                return -1;
            }
            break;
        case 0x71: /* BINPUT */
            if (i >= n || memo_put(s, d[i]) < 0) {
                return -1;
            }
            i++;
            break;
        case 0x72: /* LONG_BINPUT */
            if (n - i < 4 || memo_put(s, u32le(d + i)) < 0) {
                return -1;
            }
            i += 4;
            break;
        case 0x68: /* BINGET */
            if (i >= n || memo_get(s, d[i]) < 0) {
                return -1;
            }
            i++;
            break;
        case 0x6a: /* LONG_BINGET */
            if (n - i < 4 || memo_get(s, u32le(d + i)) < 0) {
                return -1;
            }
            i += 4;
            break;
        case 0x28: /* MARK */
            if (s->marks.len > 2 * s->max_depth + 8
                || vec_push(&s->marks, (uint32_t)s->stack.len) < 0) {
                return -1;
            }
            break;
        case 0x7d: /* EMPTY_DICT */
        case 0x5d: /* EMPTY_LIST */
        case 0x8f: /* EMPTY_SET */
        case 0x29: /* EMPTY_TUPLE */
            if (s->stack.len > s->max_stack) {
                return -1;
            }
            if (op == 0x29) {
                if (push_tuple(s, s->stack.len, K_TUPLE) < 0) {
                    return -1;
                }
            }
            else if (push_new(s, op == 0x7d ? K_DICT : op == 0x5d ? K_LIST : K_SET) < 0) {
                return -1;
            }
            break;
        case 0x4e: /* NONE */
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
        case 0x47: /* BINFLOAT */
            if (op == 0x47) {
                if (n - i < 8) {
                    return -1;
                }
                i += 8;
            }
            if (vec_push(&s->stack, op == 0x4e ? V_NONE : op == 0x47 ? V_FLOAT : V_BOOL) < 0) {
                return -1;
            }
            break;
        case 0x4b: /* BININT1 */
        case 0x4d: /* BININT2 */
            size = op == 0x4b ? 1 : 2;
            if (n - i < size
                || push_int64(s, (int64_t)d[i] | (size == 2 ? (int64_t)d[i + 1] << 8 : 0)) < 0) {
                return -1;
            }
            i += size;
            break;
        case 0x4a: /* BININT */
            if (n - i < 4 || push_int64(s, (int64_t)(int32_t)u32le(d + i)) < 0) {
                return -1;
            }
            i += 4;
            break;
        case 0x8a: /* LONG1 */
            if (i >= n) {
                return -1;
            }
            size = d[i++];
            if (size > n - i || size > s->max_long_bytes) {
                return -1;
            }
            {
                /* Non-negative (top bit clear) and no set byte from the 17th on. */
                int uuid_ok = size == 0 || !(d[i + size - 1] & 0x80);
                for (size_t k = 16; k < size && uuid_ok; k++) {
                    uuid_ok = d[i + k] == 0;
                }
                if (size <= 8) {
                    /* Fits in 64 bits: little-endian two's complement, sign-extended. */
                    uint64_t raw = 0;
                    for (size_t k = 0; k < size; k++) {
                        raw |= (uint64_t)d[i + k] << (8 * k);
                    }
                    if (size > 0 && size < 8 && (d[i + size - 1] & 0x80)) {
                        raw |= ~(uint64_t)0 << (8 * size);
                    }
                    if (push_int64(s, (int64_t)raw) < 0) {
                        return -1;
                    }
                }
                else if (push_int(s, uuid_ok, 0) < 0) { /* -1 and 0 fit in 64 bits */
                    return -1;
                }
            }
            i += size;
            break;
        case 0x8c: /* SHORT_BINUNICODE */
        case 0x43: /* SHORT_BINBYTES */
            if (i >= n) {
                return -1;
            }
            size = d[i++];
            if (size > n - i || push_text(s, op == 0x8c ? K_STR : K_BYTES, i, size) < 0) {
                return -1;
            }
            i += size;
            break;
        case 0x58: /* BINUNICODE */
        case 0x42: /* BINBYTES */
            if (n - i < 4) {
                return -1;
            }
            size = u32le(d + i);
            i += 4;
            if (size > n - i || push_text(s, op == 0x58 ? K_STR : K_BYTES, i, size) < 0) {
                return -1;
            }
            i += size;
            break;
        case 0x55: /* SHORT_BINSTRING (a Python 2 str) */
        case 0x54: /* BINSTRING */
            if (op == 0x55) {
                if (i >= n) {
                    return -1;
                }
                size = d[i++];
            }
            else {
                if (n - i < 4 || (d[i + 3] & 0x80)) {
                    return -1; /* truncated, or a negative length */
                }
                size = u32le(d + i);
                i += 4;
            }
            if (size > n - i) {
                return -1;
            }
            {
                /* As the walk (_ascii_or_bytes): ASCII text is a str, anything else bytes. */
                size_t k = 0;
                while (k < size && d[i + k] < 0x80) {
                    k++;
                }
                if (push_text(s, k == size ? K_STR : K_BYTES, i, size) < 0) {
                    return -1;
                }
            }
            i += size;
            break;
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: /* TUPLE3 */
            size = (size_t)(op - 0x84);
            if (s->stack.len < size || s->stack.len - size < fence(s)
                || push_tuple(s, s->stack.len - size, K_TUPLE) < 0) {
                return -1;
            }
            break;
        case 0x74: /* TUPLE */
        case 0x91: /* FROZENSET */
            if (s->marks.len == 0 || s->marks.data[s->marks.len - 1] > s->stack.len) {
                return -1;
            }
            if (push_tuple(s, s->marks.data[--s->marks.len], op == 0x74 ? K_TUPLE : K_FROZENSET)
                < 0) {
                return -1;
            }
            break;
        case 0x65: /* APPENDS */
        case 0x75: /* SETITEMS */
        case 0x90: /* ADDITEMS */
            if (s->marks.len == 0) {
                return -1;
            }
            {
                size_t at = s->marks.data[--s->marks.len];
                if (at == 0 || at > s->stack.len) {
                    return -1;
                }
                size_t count = s->stack.len - at;
                if (op == 0x75 && count % 2) {
                    return -1;
                }
                s->stack.len = at; /* the items stay readable just above the new top */
                if (fill(s, op == 0x65 ? K_LIST : op == 0x75 ? K_DICT : K_SET,
                         s->stack.data + at, count)
                    < 0) {
                    return -1;
                }
            }
            break;
        case 0x61: /* APPEND */
        case 0x73: /* SETITEM */
            size = op == 0x61 ? 1 : 2;
            {
                uint32_t pair[2];
                if (pop(s, &pair[size - 1]) < 0 || (size == 2 && pop(s, &pair[0]) < 0)) {
                    return -1;
                }
                if (fill(s, op == 0x61 ? K_LIST : K_DICT, pair, size) < 0) {
                    return -1;
                }
            }
            break;
        case 0x63: /* GLOBAL: "module\nname\n" */
            {
                const unsigned char *module = d + i;
                const unsigned char *end = memchr(module, '\n', n - i);
                if (end == NULL) {
                    return -1;
                }
                const unsigned char *name = end + 1;
                size_t rest = n - (size_t)(name - d);
                const unsigned char *stop = memchr(name, '\n', rest);
                if (stop == NULL) {
                    return -1;
                }
                if (push_global(s, lookup(s, module, (size_t)(end - module), name,
                                          (size_t)(stop - name)))
                    < 0) {
                    return -1;
                }
                i = (size_t)(stop - d) + 1;
            }
            break;
        case 0x93: /* STACK_GLOBAL */
            {
                uint32_t name, module;
                if (pop(s, &name) < 0 || pop(s, &module) < 0) {
                    return -1;
                }
                const Value *m = &s->values[module];
                const Value *q = &s->values[name];
                if (m->kind != K_STR || q->kind != K_STR
                    || push_global(s, lookup(s, d + m->at, m->blen, d + q->at, q->blen)) < 0) {
                    return -1;
                }
            }
            break;
        case 0x52: /* REDUCE */
        case 0x81: /* NEWOBJ */
            if (call(s, op == 0x81) < 0) {
                return -1;
            }
            break;
        case 0x62: /* BUILD */
            if (build(s) < 0) {
                return -1;
            }
            break;
        case 0x2e: /* STOP */
            if (s->stack.len != 1 || s->marks.len != 0 || s->bare != 0) {
                return -1;
            }
            return (Py_ssize_t)i;
        default:
            return -1; /* every other opcode is the walk's to judge */
        }
    }
    return -1;
}

PyDoc_STRVAR(scan_doc,
"scan(data, table, max_elements, max_depth, max_memo, max_str_len, max_int_digits,\n"
"     max_hash_collisions, /)\n--\n\n"
"The offset after STOP when the pickle is accepted; -1 when undecided.");

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 8 || !PyBytes_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "scan(bytes, dict, max_elements, max_depth, max_memo, max_str_len, "
                        "max_int_digits, max_hash_collisions)");
        return NULL;
    }
    uint64_t limits[6];
    for (int k = 0; k < 6; k++) {
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(args[2 + k], &overflow);
        if (value == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (overflow < 0 || (overflow == 0 && value < 0)) {
            return PyLong_FromLong(-1);
        }
        /* A budget above 2**62 is lowered to it: a lower budget only makes this scan
         * stricter (it can then leave more to the walk), and sums of two weights below
         * it cannot overflow 64 bits. */
        limits[k] = overflow > 0 || value > ((long long)1 << 62) ? (uint64_t)1 << 62
                                                                  : (uint64_t)value;
    }
    Scan s;
    memset(&s, 0, sizeof(s));
    s.data = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    s.n = (size_t)PyBytes_GET_SIZE(args[0]);
    if (s.n >= UINT32_MAX / 2) {
        return PyLong_FromLong(-1); /* offsets are kept in 32 bits */
    }
    if (limits[1] > UINT32_MAX / 4) {
        limits[1] = UINT32_MAX / 4; /* depths are kept in 32 bits; lower is stricter */
    }
    s.table = args[1];
    s.max_elements = limits[0];
    s.max_depth = limits[1];
    s.max_memo = limits[2];
    s.max_str_len = limits[3];
    /* As the walk: 8 bits are 2.41 decimal digits. */
    s.max_long_bytes = limits[4] > UINT64_MAX / 5 ? UINT64_MAX : limits[4] * 5 / 12 + 1;
    s.max_int_digits = limits[4];
    s.collisions = limits[5];
    /* As the walk: containers waiting on the stack are bounded by half the input. */
    s.max_stack = s.n / 2 + 4096 < s.max_elements ? s.n / 2 + 4096 : s.max_elements;
    uint64_t max_ops = s.max_elements > (UINT64_MAX - 4096) / 4 ? UINT64_MAX
                                                                : 4 * s.max_elements + 4096;
    /* The data is an immutable bytes object held by the caller for the whole call; the
     * lookups decode names into new objects and cannot reach it. */
    Py_ssize_t end = start(&s) < 0 ? -1 : run(&s, max_ops);
    PyMem_Free(s.values);
    PyMem_Free(s.stack.data);
    PyMem_Free(s.marks.data);
    PyMem_Free(s.memo.data);
    PyMem_Free(s.items.data);
    PyMem_Free(s.slots);
    return PyLong_FromSsize_t(end);
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL, scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot slots[] = {
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "safeops.serialize.legacy._fastscan",
    .m_doc = "The legacy reader's C fast path (see _fastpath.py).",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__fastscan(void)
{
    return PyModuleDef_Init(&moduledef);
}
