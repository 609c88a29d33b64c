/*
 * MemoryEntry: one resident L1 value, as an object the cyclic garbage collector never sees.
 *
 * The pure-Python MemoryEntry (memory_tier.py) is a __slots__ class, so every resident entry carries a GC header
 * and sits in the collector's oldest generation. A full collection, which CPython starts whenever the objects
 * promoted since the last one reach a quarter of the old generation, walks all of them: with a million entries
 * that is a pause of about half a second on the event loop (docs/benchmarks/cache.md), and it comes back every
 * 250 000 new keys. This type has the same four attributes but no GC header (no Py_TPFLAGS_HAVE_GC), so entries
 * cost the collector nothing.
 *
 * What that gives up: the collector cannot see the reference an entry holds to its value, so a value that
 * refers back to the cache holding it (a cycle through the cache) is kept until the entry is deleted or evicted,
 * as any object referenced from outside the collector's view. Values that are bytes, str or numbers (everything
 * the agent stores) have no references at all.
 *
 * Calling the type positionally (as L1 does for each entry it stores) takes no argument tuple (entry_vectorcall).
 * `costs` is MemoryTier.costs for a batch of bytes values (the sidecar's write-through SET): the same sums of
 * sys.getsizeof, without a Python call per key and value.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* The fields read and written on every hit (value, expires_at, reads) are object members (T_OBJECT_EX), as a
 * __slots__ attribute is: CPython's specializing interpreter reads and writes such members as fast as slots, and
 * `del entry.value` then reading it raises AttributeError. The size is a C integer (T_PYSSIZET): an int object of
 * its own would be one more allocation per stored entry (28 bytes: sizes above 256 are not cached small ints) and
 * one more cache miss when a write-through batch frees the entries it replaces. Reading `entry.size` from Python
 * makes an int each time; the hot paths read it once per entry at most. */
typedef struct {
    PyObject_HEAD
    PyObject *value;      /* the stored object */
    Py_ssize_t size;      /* accounted cost in bytes */
    PyObject *expires_at; /* float (clock seconds) or None */
    PyObject *reads;      /* int: reads since the entry was stored */
} MemoryEntry;

static PyObject *
entry_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"value", "size", "expires_at", NULL};
    PyObject *value, *expires_at;
    Py_ssize_t size;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OnO:MemoryEntry", keywords, &value, &size, &expires_at)) {
        return NULL;
    }
    MemoryEntry *self = (MemoryEntry *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->value = Py_NewRef(value);
    self->size = size;
    self->expires_at = Py_NewRef(expires_at);
    self->reads = PyLong_FromLong(0); /* a cached small int: cannot fail */
    return (PyObject *)self;
}

/* MemoryEntry(value, size, expires_at) called positionally, as L1 does for every entry it stores, without building
 * an argument tuple; any other call goes through entry_new's argument parsing. */
static PyObject *
entry_vectorcall(PyObject *type, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t count = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && count == 3 && PyLong_CheckExact(args[1])) {
        Py_ssize_t size = PyLong_AsSsize_t(args[1]);
        if (size == -1 && PyErr_Occurred()) {
            return NULL;
        }
        MemoryEntry *self = (MemoryEntry *)((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 0);
        if (self == NULL) {
            return NULL;
        }
        self->value = Py_NewRef(args[0]);
        self->size = size;
        self->expires_at = Py_NewRef(args[2]);
        self->reads = PyLong_FromLong(0);
        return (PyObject *)self;
    }
    PyObject *positional = PyTuple_New(count);
    if (positional == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        PyTuple_SET_ITEM(positional, index, Py_NewRef(args[index]));
    }
    PyObject *keywords = NULL;
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        keywords = PyDict_New();
        for (Py_ssize_t index = 0; keywords != NULL && index < PyTuple_GET_SIZE(kwnames); index++) {
            if (PyDict_SetItem(keywords, PyTuple_GET_ITEM(kwnames, index), args[count + index]) < 0) {
                Py_CLEAR(keywords);
            }
        }
        if (keywords == NULL) {
            Py_DECREF(positional);
            return NULL;
        }
    }
    PyObject *entry = entry_new((PyTypeObject *)type, positional, keywords);
    Py_DECREF(positional);
    Py_XDECREF(keywords);
    return entry;
}

static void
entry_dealloc(MemoryEntry *self)
{
    PyTypeObject *type = Py_TYPE(self);
    /* No finalizer can reach this entry any more (no reference is left, and the type takes no weak references). */
    Py_XDECREF(self->value);
    Py_XDECREF(self->expires_at);
    Py_XDECREF(self->reads);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* What sys.getsizeof() says of `object`, a str or bytes (neither has a GC header); -1 with an exception set. */
static Py_ssize_t
object_size(PyObject *object)
{
#if PY_VERSION_HEX < 0x030D0000
    size_t size = _PySys_GetSizeOf(object);
    return size == (size_t)-1 ? -1 : (Py_ssize_t)size;
#else
    PyObject *size = PyObject_CallMethod(object, "__sizeof__", NULL);
    if (size == NULL) {
        return -1;
    }
    Py_ssize_t bytes = PyLong_AsSsize_t(size);
    Py_DECREF(size);
    return bytes;
#endif
}

PyDoc_STRVAR(costs_doc,
"costs(keys, values, overhead)\n"
"--\n\n"
"MemoryTier.costs of bytes values: ``sys.getsizeof(key) + sys.getsizeof(value) + overhead`` for each pair of\n"
"the lists ``keys`` (str) and ``values`` (bytes), in bytes. Returns None, computing nothing, when some key is\n"
"not exactly a str or some value not exactly bytes (other values are sized by sizing.estimate_size).");

static PyObject *
costs(PyObject *module, PyObject *const *args, Py_ssize_t count)
{
    (void)module;
    if (count != 3) {
        PyErr_SetString(PyExc_TypeError, "costs takes 3 arguments");
        return NULL;
    }
    PyObject *keys = args[0], *values = args[1];
    if (!PyList_CheckExact(keys) || !PyList_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "costs takes two lists");
        return NULL;
    }
    Py_ssize_t overhead = PyLong_AsSsize_t(args[2]);
    if (overhead == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t length = PyList_GET_SIZE(keys);
    if (PyList_GET_SIZE(values) != length) {
        PyErr_SetString(PyExc_ValueError, "costs takes as many values as keys");
        return NULL;
    }
    for (Py_ssize_t index = 0; index < length; index++) {
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(keys, index)) || !PyBytes_CheckExact(PyList_GET_ITEM(values, index))) {
            Py_RETURN_NONE;
        }
    }
    PyObject *sizes = PyList_New(length);
    if (sizes == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < length; index++) {
        Py_ssize_t key_size = object_size(PyList_GET_ITEM(keys, index));
        Py_ssize_t value_size = key_size < 0 ? -1 : object_size(PyList_GET_ITEM(values, index));
        PyObject *size = value_size < 0 ? NULL : PyLong_FromSsize_t(key_size + value_size + overhead);
        if (size == NULL) {
            Py_DECREF(sizes); /* slots not reached yet are NULL, which list deallocation skips */
            return NULL;
        }
        PyList_SET_ITEM(sizes, index, size);
    }
    return sizes;
}

static PyMethodDef module_methods[] = {
    {"costs", (PyCFunction)(void (*)(void))costs, METH_FASTCALL, costs_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef entry_members[] = {
    {"value", T_OBJECT_EX, offsetof(MemoryEntry, value), 0, "the stored object"},
    {"size", T_PYSSIZET, offsetof(MemoryEntry, size), 0, "accounted cost in bytes"},
    {"expires_at", T_OBJECT_EX, offsetof(MemoryEntry, expires_at), 0, "clock seconds, or None: never expires"},
    {"reads", T_OBJECT_EX, offsetof(MemoryEntry, reads), 0, "reads since the entry was stored"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot entry_slots[] = {
    {Py_tp_doc, "One resident value: ``size`` is its accounted cost in bytes, ``expires_at`` clock seconds or None;"
                " not tracked by the cyclic garbage collector."},
    {Py_tp_new, entry_new},
    {Py_tp_dealloc, entry_dealloc},
    {Py_tp_members, entry_members},
    {0, NULL},
};

static PyType_Spec entry_spec = {
    .name = "memories.optimization.cache._entry.MemoryEntry",
    .basicsize = sizeof(MemoryEntry),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = entry_slots,
};

static int
module_exec(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &entry_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    /* Calls of the type itself (no slot sets this before Python 3.14; the type is immutable, so it stays). */
    ((PyTypeObject *)type)->tp_vectorcall = entry_vectorcall;
    int added = PyModule_AddObjectRef(module, "MemoryEntry", type);
    Py_DECREF(type);
    return added;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef entry_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "memories.optimization.cache._entry",
    .m_doc = "The in-memory tier's entries, without a garbage-collector header, and their costs (see memory_tier.py).",
    .m_size = 0,
    .m_methods = module_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit__entry(void)
{
    return PyModuleDef_Init(&entry_module);
}
