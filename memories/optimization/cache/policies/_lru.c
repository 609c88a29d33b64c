/*
 * LruOrder: the recency order of the LRU eviction policy, in compact arrays.
 *
 * The pure-Python PythonLruPolicy (lru.py) keeps its order in an OrderedDict: every read moves a linked
 * node that lives in its own heap object, next to a second hash table, so a read of a random key
 * touches about six unrelated cache lines. Here the nodes are one array of 32-byte structs linked by
 * 32-bit indices and the hash table is an array of 32-bit node indices: a read touches the table
 * slot, the node and its two neighbours, all inside a few MB for a million keys.
 *
 * Behaviour is exactly the Python class's (tests/unit/optimization/cache/test_lru_order.py replays
 * random operation sequences through both): keys are any hashable objects; ``record_access`` and
 * ``record_replace`` of an absent key raise KeyError like OrderedDict.move_to_end.
 *
 * Each key also carries a payload behind a dict-like interface (get, [], del, pop, items, iteration),
 * so the in-memory tier can keep its entries here and probe one hash table per read instead of two.
 * ``pop_many(keys)`` and ``add_absent(keys, payloads)`` are ``pop`` and ``setdefault`` of a batch of keys in one
 * call (a write-through batch's removal of the old entries and addition of the new ones).
 * ``warm_lookups(keys)`` changes nothing: before a batch's lookups (a write-through batch's deletes and inserts)
 * it starts loading their slots, nodes, keys and payloads into the CPU's caches, so that the misses of random
 * keys overlap instead of coming one after another (about a fifth of the batch's time with a million keys).
 *
 * Re-entry: Python code can run inside a call (a key's __hash__ and __eq__, the __del__ of a released key or
 * payload, finalizers run by a garbage collection that an allocation starts) and may use this same order.
 * Every entry point stays sound: a key comparison detects a change through `version` and raises RuntimeError,
 * references are released only once the order is consistent again, and listings copy the order before
 * allocating anything (tests/unit/optimization/cache/test_lru_order_reentry.py, run under ASan as well).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define NONE (-1)
#define EMPTY (-1)
#define DELETED (-2)
#define MIN_CAPACITY 8
/* Node indices are int32: the order holds at most this many keys. */
#define MAX_CAPACITY (1 << 30)

typedef struct {
    PyObject *key;     /* strong reference; NULL for a free node */
    PyObject *payload; /* strong reference (None unless set through the mapping interface) */
    Py_hash_t hash;
    int32_t prev; /* towards the least recently used end */
    int32_t next; /* towards the most recently used end; the free list's link for a free node */
} Node;

typedef struct {
    PyObject_HEAD
    Node *nodes;
    Py_ssize_t capacity; /* nodes allocated */
    Py_ssize_t used;     /* nodes ever handed out (high-water mark); the rest are untouched */
    int32_t free_list;   /* first free node below `used`, linked through `next` */
    int32_t *table;      /* node index, EMPTY or DELETED; size 2 * capacity (a power of two) */
    Py_ssize_t table_mask;
    Py_ssize_t deleted;  /* DELETED slots in the table */
    int32_t head;        /* least recently used: the next victim */
    int32_t tail;        /* most recently used */
    Py_ssize_t length;
    uint64_t version;    /* changes on every mutation: detects mutation during a key comparison */
    Py_ssize_t collectable; /* keys and payloads held that the cyclic GC knows (PyObject_IS_GC) */
} LruOrder;

/* 1 when the cyclic garbage collector knows `object` (constant for an object's lifetime), else 0. The order
 * counts the keys and payloads it holds that it knows: when none (str keys, the in-memory tier's entries, None),
 * traverse() has nothing to visit and a full collection does not walk the arrays (a million keys: ~0.1 s). */
static inline Py_ssize_t
collectable(PyObject *object)
{
    return PyObject_IS_GC(object) ? 1 : 0;
}

/* --- the hash table -------------------------------------------------------------------------- */

/* The table slot holding `key`, or -1 when absent (then `*insert_at` is the slot to insert into).
 * Returns -2 with an exception set when comparing keys failed or mutated the order. */
static Py_ssize_t
find_slot(LruOrder *self, PyObject *key, Py_hash_t hash, Py_ssize_t *insert_at)
{
    size_t mask = (size_t)self->table_mask;
    size_t slot = (size_t)hash & mask;
    size_t perturb = (size_t)hash;
    Py_ssize_t first_deleted = -1;
    for (;;) {
        int32_t index = self->table[slot];
        if (index == EMPTY) {
            if (insert_at != NULL) {
                *insert_at = first_deleted >= 0 ? first_deleted : (Py_ssize_t)slot;
            }
            return -1;
        }
        if (index == DELETED) {
            if (first_deleted < 0) {
                first_deleted = (Py_ssize_t)slot;
            }
        } else {
            Node *node = &self->nodes[index];
            if (node->key == key) {
                return (Py_ssize_t)slot;
            }
            if (node->hash == hash) {
                int equal;
                if (PyUnicode_CheckExact(key) && PyUnicode_CheckExact(node->key)) {
                    equal = PyUnicode_Compare(key, node->key) == 0;
                } else {
                    uint64_t version = self->version;
                    PyObject *stored = node->key;
                    Py_INCREF(stored);
                    equal = PyObject_RichCompareBool(stored, key, Py_EQ);
                    Py_DECREF(stored);
                    if (equal < 0) {
                        return -2;
                    }
                    if (version != self->version) {
                        PyErr_SetString(PyExc_RuntimeError, "LRU order changed while comparing keys");
                        return -2;
                    }
                }
                if (equal) {
                    return (Py_ssize_t)slot;
                }
            }
        }
        perturb >>= 5;
        slot = (slot * 5 + perturb + 1) & mask;
    }
}

/* The table slot of `key` (>= 0), -1 when absent, -2 with an exception set; `*hash` receives its hash and, when
 * the key is absent and `insert_at` is not NULL, `*insert_at` the slot insert() may put it in. */
static Py_ssize_t
lookup_for_insert(LruOrder *self, PyObject *key, Py_hash_t *hash, Py_ssize_t *insert_at)
{
    *hash = PyObject_Hash(key);
    if (*hash == -1) {
        return -2;
    }
    return find_slot(self, key, *hash, insert_at);
}

/* lookup_for_insert() without an insert slot. */
static Py_ssize_t
lookup(LruOrder *self, PyObject *key, Py_hash_t *hash)
{
    return lookup_for_insert(self, key, hash, NULL);
}

/* --- the recency list ------------------------------------------------------------------------- */

static void
unlink_node(LruOrder *self, int32_t index)
{
    Node *node = &self->nodes[index];
    if (node->prev != NONE) {
        self->nodes[node->prev].next = node->next;
    } else {
        self->head = node->next;
    }
    if (node->next != NONE) {
        self->nodes[node->next].prev = node->prev;
    } else {
        self->tail = node->prev;
    }
    node->prev = node->next = NONE;
}

/* Link at the most recently used end (`most_recent`) or at the least recently used end. */
static void
link_node(LruOrder *self, int32_t index, int most_recent)
{
    Node *node = &self->nodes[index];
    if (most_recent) {
        node->prev = self->tail;
        node->next = NONE;
        if (self->tail != NONE) {
            self->nodes[self->tail].next = index;
        } else {
            self->head = index;
        }
        self->tail = index;
    } else {
        node->next = self->head;
        node->prev = NONE;
        if (self->head != NONE) {
            self->nodes[self->head].prev = index;
        } else {
            self->tail = index;
        }
        self->head = index;
    }
}

/* --- storage ---------------------------------------------------------------------------------- */

/* Rebuild nodes and table for `capacity` nodes, keeping the order; drops DELETED slots. */
static int
rebuild(LruOrder *self, Py_ssize_t capacity)
{
    if (capacity < MIN_CAPACITY) {
        capacity = MIN_CAPACITY;
    }
    if (capacity > MAX_CAPACITY || capacity < self->length) {
        PyErr_SetString(PyExc_OverflowError, "too many keys for the LRU order");
        return -1;
    }
    Py_ssize_t table_size = 1;
    while (table_size < 2 * capacity) {
        table_size <<= 1;
    }
    Node *nodes = PyMem_Malloc(sizeof(Node) * (size_t)capacity);
    int32_t *table = PyMem_Malloc(sizeof(int32_t) * (size_t)table_size);
    if (nodes == NULL || table == NULL) {
        PyMem_Free(nodes);
        PyMem_Free(table);
        PyErr_NoMemory();
        return -1;
    }
    memset(table, 0xff, sizeof(int32_t) * (size_t)table_size); /* every slot EMPTY (-1) */
    int32_t count = 0;
    for (int32_t index = self->head; index != NONE; index = self->nodes[index].next) {
        Node *old = &self->nodes[index];
        nodes[count].key = old->key;
        nodes[count].payload = old->payload;
        nodes[count].hash = old->hash;
        nodes[count].prev = count - 1;
        nodes[count].next = NONE;
        if (count > 0) {
            nodes[count - 1].next = count;
        }
        size_t mask = (size_t)table_size - 1;
        size_t slot = (size_t)old->hash & mask;
        size_t perturb = (size_t)old->hash;
        while (table[slot] != EMPTY) {
            perturb >>= 5;
            slot = (slot * 5 + perturb + 1) & mask;
        }
        table[slot] = count;
        count++;
    }
    PyMem_Free(self->nodes);
    PyMem_Free(self->table);
    self->nodes = nodes;
    self->table = table;
    self->capacity = capacity;
    self->used = count;
    self->free_list = NONE;
    self->table_mask = table_size - 1;
    self->deleted = 0;
    self->head = count ? 0 : NONE;
    self->tail = count ? count - 1 : NONE;
    return 0;
}

/* A node for a new key: from the free list or the untouched tail of the array. */
static int32_t
take_node(LruOrder *self)
{
    if (self->free_list != NONE) {
        int32_t index = self->free_list;
        self->free_list = self->nodes[index].next;
        return index;
    }
    if (self->used == self->capacity) { /* insert() rebuilds before this can happen */
        PyErr_SetString(PyExc_RuntimeError, "LRU order has no free node");
        return NONE;
    }
    return (int32_t)self->used++;
}

/* Add the absent `key`; `insert_at` is the slot lookup_for_insert() just gave for it (nothing ran since). */
static int
insert(LruOrder *self, PyObject *key, Py_hash_t hash, int most_recent, PyObject *payload, Py_ssize_t insert_at)
{
    /* Keep at least a quarter of the table EMPTY so that probes end quickly. */
    if (self->used == self->capacity || (self->length + self->deleted + 1) * 4 > (self->table_mask + 1) * 3) {
        Py_ssize_t capacity = self->length + 1 > self->capacity / 2 ? self->capacity * 2 : self->capacity;
        if (rebuild(self, capacity) < 0) {
            return -1;
        }
        Py_ssize_t found = find_slot(self, key, hash, &insert_at); /* a new table: a new slot */
        if (found == -2) {
            return -1;
        }
        if (found >= 0) { /* only reachable if a key's __eq__ lies */
            PyErr_SetString(PyExc_RuntimeError, "key already in the LRU order");
            return -1;
        }
    }
    int32_t index = take_node(self);
    if (index == NONE) {
        return -1;
    }
    if (self->table[insert_at] == DELETED) {
        self->deleted--;
    }
    self->table[insert_at] = index;
    Py_INCREF(key);
    Py_INCREF(payload);
    self->nodes[index].key = key;
    self->nodes[index].payload = payload;
    self->collectable += collectable(key) + collectable(payload);
    self->nodes[index].hash = hash;
    link_node(self, index, most_recent);
    self->length++;
    self->version++;
    return 0;
}

/* Remove the key at table `slot`; returns its payload (a new reference the caller owns). */
static PyObject *
remove_at(LruOrder *self, Py_ssize_t slot)
{
    int32_t index = self->table[slot];
    unlink_node(self, index);
    self->table[slot] = DELETED;
    self->deleted++;
    PyObject *key = self->nodes[index].key;
    PyObject *payload = self->nodes[index].payload;
    self->collectable -= collectable(key) + collectable(payload);
    self->nodes[index].key = NULL;
    self->nodes[index].payload = NULL;
    self->nodes[index].next = self->free_list;
    self->free_list = index;
    self->length--;
    self->version++;
    Py_DECREF(key);
    return payload;
}

/* Give memory back after most keys left (e.g. a cleared tier). Errors are ignored: the order stays valid. */
static void
maybe_shrink(LruOrder *self)
{
    if (self->capacity > 1024 && self->length * 8 < self->capacity) {
        if (rebuild(self, self->length * 2) < 0) {
            PyErr_Clear();
        }
    }
}

/* --- the Python methods ---------------------------------------------------------------------- */

static int
parse_flag(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, Py_ssize_t positional_max,
           const char *name, int *flag)
{
    if (nargs < 1 || nargs > positional_max) {
        PyErr_Format(PyExc_TypeError, "expected 1 to %zd positional arguments, got %zd", positional_max, nargs);
        return -1;
    }
    *flag = 0;
    if (kwnames == NULL) {
        return 0;
    }
    for (Py_ssize_t index = 0; index < PyTuple_GET_SIZE(kwnames); index++) {
        PyObject *keyword = PyTuple_GET_ITEM(kwnames, index);
        PyObject *value = args[nargs + index];
        if (PyUnicode_CompareWithASCIIString(keyword, name) == 0) {
            int truth = PyObject_IsTrue(value);
            if (truth < 0) {
                return -1;
            }
            *flag = truth;
        } else if (PyUnicode_CompareWithASCIIString(keyword, "size") == 0 && nargs == 1 && positional_max >= 2) {
            /* size is accepted and, like in the Python policy, not used for LRU order */
        } else {
            PyErr_Format(PyExc_TypeError, "unexpected keyword argument '%U'", keyword);
            return -1;
        }
    }
    return 0;
}

/* Parse `(key, ...)` with one keyword flag, then look the key up: the slot as lookup() returns it (-2 on any error). */
static Py_ssize_t
parse_and_lookup(LruOrder *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, Py_ssize_t positional_max,
                 const char *flag_name, int *flag, Py_hash_t *hash, Py_ssize_t *insert_at)
{
    if (parse_flag(args, nargs, kwnames, positional_max, flag_name, flag) < 0) {
        return -2;
    }
    return lookup_for_insert(self, args[0], hash, insert_at);
}

/* The node of a present key, or NONE with an exception set (KeyError when absent). */
static int32_t
find_present(LruOrder *self, PyObject *key)
{
    Py_hash_t hash;
    Py_ssize_t slot = lookup(self, key, &hash);
    if (slot == -1) {
        PyErr_SetObject(PyExc_KeyError, key);
    }
    return slot < 0 ? NONE : self->table[slot];
}

/* Move an existing key to the most recently used end; KeyError when absent. */
static PyObject *
move_to_most_recent(LruOrder *self, PyObject *key)
{
    int32_t index = find_present(self, key);
    if (index == NONE) {
        return NULL;
    }
    if (index != self->tail) {
        unlink_node(self, index);
        link_node(self, index, 1);
        self->version++;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(record_insert_doc, "record_insert(key, size=1, *, low_priority=False)\n--\n\n"
                                "Track ``key`` as most recently used (a low-priority key as least recently used).");

static PyObject *
record_insert(LruOrder *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int low_priority;
    Py_hash_t hash;
    Py_ssize_t insert_at = -1;
    Py_ssize_t slot = parse_and_lookup(self, args, nargs, kwnames, 2, "low_priority", &low_priority, &hash, &insert_at);
    if (slot == -2) {
        return NULL;
    }
    if (slot >= 0) { /* already tracked: moved like OrderedDict.move_to_end */
        int32_t index = self->table[slot];
        unlink_node(self, index);
        link_node(self, index, !low_priority);
        self->version++;
        Py_RETURN_NONE;
    }
    if (insert(self, args[0], hash, !low_priority, Py_None, insert_at) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(record_access_doc, "record_access(key)\n--\n\nNote a read: ``key`` becomes the most recently used.");

static PyObject *
record_access(LruOrder *self, PyObject *key)
{
    return move_to_most_recent(self, key);
}

PyDoc_STRVAR(record_replace_doc, "record_replace(key, size=1)\n--\n\n"
                                 "A resident key got a new value: it becomes the most recently used.");

static PyObject *
record_replace(LruOrder *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int unused;
    if (parse_flag(args, nargs, kwnames, 2, "size", &unused) < 0) {
        return NULL;
    }
    return move_to_most_recent(self, args[0]);
}

PyDoc_STRVAR(remove_doc, "remove(key, *, evicted=False)\n--\n\nForget ``key`` (nothing happens when absent).");

static PyObject *
remove_key(LruOrder *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int evicted;
    Py_hash_t hash;
    Py_ssize_t slot = parse_and_lookup(self, args, nargs, kwnames, 1, "evicted", &evicted, &hash, NULL);
    if (slot == -2) {
        return NULL;
    }
    if (slot >= 0) {
        Py_DECREF(remove_at(self, slot));
        maybe_shrink(self);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(choose_victim_doc, "choose_victim()\n--\n\nThe least recently used key, or None when empty.");

static PyObject *
choose_victim(LruOrder *self, PyObject *Py_UNUSED(ignored))
{
    if (self->head == NONE) {
        Py_RETURN_NONE;
    }
    PyObject *key = self->nodes[self->head].key;
    Py_INCREF(key);
    return key;
}

/* The keys (or `(key, payload)` pairs) from least to most recently used, as a new list.
 *
 * Allocating the list and the tuples can start a garbage collection, whose finalizers may change this
 * order (insert, which can move the arrays; remove). So the walk first copies strong references into a
 * private array, calling no Python code, and the Python objects are built from that copy only: the result is
 * the order as it was when called, whatever the finalizers do meanwhile. */
static PyObject *
listing(LruOrder *self, int with_payloads)
{
    Py_ssize_t count = self->length;
    Py_ssize_t width = with_payloads ? 2 : 1;
    PyObject **snapshot = PyMem_Malloc(sizeof(PyObject *) * (size_t)(count * width + 1));
    if (snapshot == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t taken = 0;
    for (int32_t index = self->head; index != NONE; index = self->nodes[index].next) {
        snapshot[taken++] = Py_NewRef(self->nodes[index].key);
        if (with_payloads) {
            snapshot[taken++] = Py_NewRef(self->nodes[index].payload);
        }
    }
    PyObject *result = PyList_New(count);
    for (Py_ssize_t position = 0; result != NULL && position < count; position++) {
        PyObject *item = snapshot[position * width];
        if (with_payloads) {
            item = PyTuple_Pack(2, snapshot[position * 2], snapshot[position * 2 + 1]);
            if (item == NULL) {
                Py_CLEAR(result);
                break;
            }
        } else {
            Py_INCREF(item);
        }
        PyList_SET_ITEM(result, position, item);
    }
    for (Py_ssize_t index = 0; index < taken; index++) {
        Py_DECREF(snapshot[index]);
    }
    PyMem_Free(snapshot);
    return result;
}

PyDoc_STRVAR(keys_doc, "keys()\n--\n\nThe keys from least to most recently used (a list).");

static PyObject *
keys(LruOrder *self, PyObject *Py_UNUSED(ignored))
{
    return listing(self, 0);
}

static Py_ssize_t
length(LruOrder *self)
{
    return self->length;
}

static int
contains(LruOrder *self, PyObject *key)
{
    Py_hash_t hash;
    Py_ssize_t slot = lookup(self, key, &hash);
    return slot == -2 ? -1 : slot >= 0;
}

/* --- the mapping interface: a payload per key, so that a tier can use the order as its index ---- */

/* Like a dict: reading, replacing or adding a payload never changes the order of a present key, and an
 * added key becomes the most recently used (as assigning a new key to an OrderedDict appends it). */

static PyObject *
subscript(LruOrder *self, PyObject *key)
{
    int32_t index = find_present(self, key);
    if (index == NONE) {
        return NULL;
    }
    PyObject *payload = self->nodes[index].payload;
    Py_INCREF(payload);
    return payload;
}

static int
assign_subscript(LruOrder *self, PyObject *key, PyObject *payload)
{
    Py_hash_t hash;
    Py_ssize_t insert_at = -1;
    Py_ssize_t slot = lookup_for_insert(self, key, &hash, &insert_at);
    if (slot == -2) {
        return -1;
    }
    if (payload == NULL) { /* del order[key] */
        if (slot < 0) {
            PyErr_SetObject(PyExc_KeyError, key);
            return -1;
        }
        Py_DECREF(remove_at(self, slot));
        maybe_shrink(self);
        return 0;
    }
    if (slot >= 0) {
        Node *node = &self->nodes[self->table[slot]];
        PyObject *old = node->payload;
        Py_INCREF(payload);
        node->payload = payload;
        self->collectable += collectable(payload) - collectable(old);
        self->version++;
        Py_DECREF(old);
        return 0;
    }
    return insert(self, key, hash, 1, payload, insert_at);
}

/* `name(key[, default])`: the slot of the key as lookup() returns it (-2 with an exception on bad arguments). */
static Py_ssize_t
lookup_argument(LruOrder *self, const char *name, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "%s expected 1 or 2 arguments, got %zd", name, nargs);
        return -2;
    }
    Py_hash_t hash;
    return lookup(self, args[0], &hash);
}

PyDoc_STRVAR(get_doc, "get(key, default=None)\n--\n\nThe payload of ``key``, or ``default`` when absent; the order is unchanged.");

static PyObject *
get(LruOrder *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t slot = lookup_argument(self, "get", args, nargs);
    if (slot == -2) {
        return NULL;
    }
    PyObject *result = slot >= 0 ? self->nodes[self->table[slot]].payload : (nargs == 2 ? args[1] : Py_None);
    Py_INCREF(result);
    return result;
}

PyDoc_STRVAR(pop_doc, "pop(key[, default])\n--\n\nRemove ``key`` and return its payload; ``default`` (or KeyError) when absent.");

static PyObject *
pop(LruOrder *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t slot = lookup_argument(self, "pop", args, nargs);
    if (slot == -2) {
        return NULL;
    }
    if (slot < 0) {
        if (nargs == 2) {
            Py_INCREF(args[1]);
            return args[1];
        }
        PyErr_SetObject(PyExc_KeyError, args[0]);
        return NULL;
    }
    PyObject *payload = remove_at(self, slot);
    maybe_shrink(self);
    return payload;
}

PyDoc_STRVAR(setdefault_doc, "setdefault(key, default=None, /)\n--\n\n"
                              "The payload of ``key``; when absent, ``default`` becomes its payload (the key the most "
                              "recently used, as in assigning it) and is returned. One probe of the table.");

static PyObject *
setdefault(LruOrder *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "setdefault expected 1 or 2 arguments, got %zd", nargs);
        return NULL;
    }
    Py_hash_t hash;
    Py_ssize_t insert_at = -1;
    Py_ssize_t slot = lookup_for_insert(self, args[0], &hash, &insert_at);
    if (slot == -2) {
        return NULL;
    }
    PyObject *payload;
    if (slot >= 0) {
        payload = self->nodes[self->table[slot]].payload;
    } else {
        payload = nargs == 2 ? args[1] : Py_None; /* borrowed from the caller, who holds it during the call */
        if (insert(self, args[0], hash, 1, payload, insert_at) < 0) {
            return NULL;
        }
    }
    Py_INCREF(payload);
    return payload;
}

PyDoc_STRVAR(pop_many_doc, "pop_many(keys, /)\n--\n\n"
                            "Remove each key of the list ``keys`` that is present; returns their payloads, in the "
                            "order of ``keys`` (absent keys add nothing). ``pop(key, None)`` of each, in one call.");

static PyObject *
pop_many(LruOrder *self, PyObject *keys)
{
    if (!PyList_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "pop_many takes a list of keys");
        return NULL;
    }
    PyObject *payloads = PyList_New(0);
    if (payloads == NULL) {
        return NULL;
    }
    /* The list's length is read again on each step: a released key's __del__ may change it. */
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(keys); index++) {
        PyObject *key = Py_NewRef(PyList_GET_ITEM(keys, index));
        Py_hash_t hash;
        Py_ssize_t slot = lookup(self, key, &hash);
        PyObject *payload = slot >= 0 ? remove_at(self, slot) : NULL; /* consistent again before anything runs */
        Py_DECREF(key);
        if (slot == -2) {
            Py_DECREF(payloads);
            return NULL;
        }
        if (payload != NULL) {
            int appended = PyList_Append(payloads, payload);
            Py_DECREF(payload);
            if (appended < 0) {
                Py_DECREF(payloads);
                return NULL;
            }
        }
    }
    maybe_shrink(self);
    return payloads;
}

PyDoc_STRVAR(add_absent_doc, "add_absent(keys, payloads, /)\n--\n\n"
                              "Add ``keys[i]`` with ``payloads[i]`` (two lists of one length), in order, each the most "
                              "recently used, up to the first key already present, which stops it (its payload is "
                              "unchanged). Returns how many were added: ``setdefault`` of each while it adds.");

static PyObject *
add_absent(LruOrder *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "add_absent takes a list of keys and a list of payloads");
        return NULL;
    }
    PyObject *keys = args[0], *payloads = args[1];
    if (PyList_GET_SIZE(keys) != PyList_GET_SIZE(payloads)) {
        PyErr_SetString(PyExc_ValueError, "add_absent takes as many payloads as keys");
        return NULL;
    }
    Py_ssize_t added = 0;
    /* Lengths are read again on each step: a key's __hash__ or __eq__, or a collection, may change the lists. */
    for (; added < PyList_GET_SIZE(keys) && added < PyList_GET_SIZE(payloads); added++) {
        PyObject *key = Py_NewRef(PyList_GET_ITEM(keys, added));
        PyObject *payload = Py_NewRef(PyList_GET_ITEM(payloads, added));
        Py_hash_t hash;
        Py_ssize_t insert_at = -1;
        Py_ssize_t slot = lookup_for_insert(self, key, &hash, &insert_at);
        int failed = slot == -2 || (slot == -1 && insert(self, key, hash, 1, payload, insert_at) < 0);
        Py_DECREF(key);
        Py_DECREF(payload);
        if (failed) {
            return NULL;
        }
        if (slot >= 0) {
            break;
        }
    }
    return PyLong_FromSsize_t(added);
}

PyDoc_STRVAR(items_doc, "items()\n--\n\n``(key, payload)`` pairs from least to most recently used (a list).");

static PyObject *
items(LruOrder *self, PyObject *Py_UNUSED(ignored))
{
    return listing(self, 1);
}

static PyObject *
iterate(LruOrder *self)
{
    PyObject *snapshot = keys(self, NULL);
    if (snapshot == NULL) {
        return NULL;
    }
    PyObject *iterator = PyObject_GetIter(snapshot);
    Py_DECREF(snapshot);
    return iterator;
}

/* --- the type --------------------------------------------------------------------------------- */

/* Release every key and payload, leaving an empty, usable order. A released object's finalizer may call
 * back into this order: the arrays are detached (and an empty order put in place) before the first release. */
static int
clear_keys(LruOrder *self)
{
    Node *nodes = self->nodes;
    Py_ssize_t used = self->used;
    PyMem_Free(self->table);
    self->nodes = NULL;
    self->table = NULL;
    self->capacity = self->used = self->length = self->deleted = self->collectable = 0;
    self->head = self->tail = self->free_list = NONE;
    self->version++;
    int rebuilt = rebuild(self, MIN_CAPACITY);
    if (rebuilt < 0) {
        PyErr_Clear();
    }
    for (Py_ssize_t index = 0; index < used; index++) {
        Py_CLEAR(nodes[index].key);
        Py_CLEAR(nodes[index].payload);
    }
    PyMem_Free(nodes);
    return rebuilt;
}

static int
traverse(LruOrder *self, visitproc visit, void *arg)
{
    for (Py_ssize_t index = 0; self->collectable > 0 && index < self->used; index++) {
        Py_VISIT(self->nodes[index].key);
        Py_VISIT(self->nodes[index].payload);
    }
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int
tp_clear(LruOrder *self)
{
    clear_keys(self);
    return 0;
}

static void
dealloc(LruOrder *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    for (Py_ssize_t index = 0; index < self->used; index++) {
        Py_CLEAR(self->nodes[index].key);
        Py_CLEAR(self->nodes[index].payload);
    }
    PyMem_Free(self->nodes);
    PyMem_Free(self->table);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *
new_order(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "LruOrder() takes no arguments");
        return NULL;
    }
    LruOrder *self = (LruOrder *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->head = self->tail = self->free_list = NONE;
    if (rebuild(self, MIN_CAPACITY) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

PyDoc_STRVAR(warm_lookups_doc,
"warm_lookups(keys, /)\n"
"--\n\n"
"A hint, changing nothing: start loading into the CPU's caches the table slots, nodes and stored keys that\n"
"looking up each of ``keys`` (a list) will read, so that a batch's lookups that follow (a write-through batch's\n"
"deletes and inserts) do not each wait for memory in turn. Only keys that are exactly str are looked at (their\n"
"hash is cached and computing it runs no Python code); the others are skipped.");

/* The first table slot of a str key, or -1 for any other key. */
static inline Py_ssize_t
first_slot(LruOrder *self, PyObject *key)
{
    if (!PyUnicode_CheckExact(key)) {
        return -1;
    }
    Py_hash_t hash = PyObject_Hash(key); /* an exact str: cached after the first time, never fails */
    if (hash == -1) {
        PyErr_Clear();
        return -1;
    }
    return (Py_ssize_t)((size_t)hash & (size_t)self->table_mask);
}

static PyObject *
warm_lookups(LruOrder *self, PyObject *keys)
{
    if (!PyList_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "warm_lookups takes a list of keys");
        return NULL;
    }
    if (self->table == NULL) {
        Py_RETURN_NONE;
    }
    Py_ssize_t count = PyList_GET_SIZE(keys);
    /* Three passes, each issuing all its loads before the next needs them: the slots, then the nodes they name,
     * then the keys those nodes hold (compared when the lookup's hash matches) and their payloads. Only the first
     * slot of each probe sequence: with the table at most half full, most lookups end there. */
    for (Py_ssize_t index = 0; index < count; index++) {
        Py_ssize_t slot = first_slot(self, PyList_GET_ITEM(keys, index));
        if (slot >= 0) {
            __builtin_prefetch(&self->table[slot], 0, 1);
        }
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        Py_ssize_t slot = first_slot(self, PyList_GET_ITEM(keys, index));
        if (slot >= 0 && self->table[slot] >= 0) {
            __builtin_prefetch(&self->nodes[self->table[slot]], 0, 1);
        }
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        Py_ssize_t slot = first_slot(self, PyList_GET_ITEM(keys, index));
        if (slot >= 0 && self->table[slot] >= 0) {
            Node *node = &self->nodes[self->table[slot]];
            if (node->key != NULL) {
                __builtin_prefetch(node->key, 0, 1);
                __builtin_prefetch(node->payload, 0, 1); /* a pop reads its header (is it known to the GC?) */
            }
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"record_insert", (PyCFunction)(void (*)(void))record_insert, METH_FASTCALL | METH_KEYWORDS, record_insert_doc},
    {"record_access", (PyCFunction)record_access, METH_O, record_access_doc},
    {"record_replace", (PyCFunction)(void (*)(void))record_replace, METH_FASTCALL | METH_KEYWORDS, record_replace_doc},
    {"remove", (PyCFunction)(void (*)(void))remove_key, METH_FASTCALL | METH_KEYWORDS, remove_doc},
    {"choose_victim", (PyCFunction)choose_victim, METH_NOARGS, choose_victim_doc},
    {"keys", (PyCFunction)keys, METH_NOARGS, keys_doc},
    {"get", (PyCFunction)(void (*)(void))get, METH_FASTCALL, get_doc},
    {"pop", (PyCFunction)(void (*)(void))pop, METH_FASTCALL, pop_doc},
    {"setdefault", (PyCFunction)(void (*)(void))setdefault, METH_FASTCALL, setdefault_doc},
    {"pop_many", (PyCFunction)pop_many, METH_O, pop_many_doc},
    {"add_absent", (PyCFunction)(void (*)(void))add_absent, METH_FASTCALL, add_absent_doc},
    {"warm_lookups", (PyCFunction)warm_lookups, METH_O, warm_lookups_doc},
    {"items", (PyCFunction)items, METH_NOARGS, items_doc},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot slots[] = {
    {Py_tp_doc, "The recency order of keys for LRU eviction, in compact arrays (see _lru.c)."},
    {Py_tp_new, new_order},
    {Py_tp_dealloc, dealloc},
    {Py_tp_traverse, traverse},
    {Py_tp_clear, tp_clear},
    {Py_tp_methods, methods},
    {Py_sq_length, length},
    {Py_sq_contains, contains},
    {Py_mp_length, length},
    {Py_mp_subscript, subscript},
    {Py_mp_ass_subscript, assign_subscript},
    {Py_tp_iter, iterate},
    {0, NULL},
};

static PyType_Spec spec = {
    "memories.optimization.cache.policies._lru.LruOrder",
    sizeof(LruOrder),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    slots,
};

static int
exec_module(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int added = PyModule_AddObjectRef(module, "LruOrder", type);
    Py_DECREF(type);
    return added;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "memories.optimization.cache.policies._lru",
    "The LRU policy's recency order in compact arrays (lru.py falls back to an OrderedDict without it).",
    0,
    NULL,
    module_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__lru(void)
{
    return PyModuleDef_Init(&module);
}
