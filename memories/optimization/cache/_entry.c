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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *value;      /* strong reference, never NULL */
    Py_ssize_t size;      /* accounted cost in bytes */
    PyObject *expires_at; /* strong reference: a float (clock seconds) or None, never NULL */
    Py_ssize_t reads;     /* reads since the entry was stored */
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
    self->reads = 0;
    return (PyObject *)self;
}

static void
entry_dealloc(MemoryEntry *self)
{
    PyTypeObject *type = Py_TYPE(self);
    /* No finalizer can reach this entry any more (no reference is left, and the type takes no weak references). */
    Py_DECREF(self->value);
    Py_DECREF(self->expires_at);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

/* value and expires_at: any object, never deleted (the Python class has no way to be without them either). */
static int
set_reference(PyObject **slot, PyObject *value, const char *name)
{
    if (value == NULL) {
        PyErr_Format(PyExc_AttributeError, "MemoryEntry.%s cannot be deleted", name);
        return -1;
    }
    PyObject *old = *slot;
    *slot = Py_NewRef(value);
    Py_DECREF(old); /* last: its finalizer sees the entry already updated */
    return 0;
}

static PyObject *
get_value(MemoryEntry *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->value);
}

static int
set_value(MemoryEntry *self, PyObject *value, void *Py_UNUSED(closure))
{
    return set_reference(&self->value, value, "value");
}

static PyObject *
get_expires_at(MemoryEntry *self, void *Py_UNUSED(closure))
{
    return Py_NewRef(self->expires_at);
}

static int
set_expires_at(MemoryEntry *self, PyObject *value, void *Py_UNUSED(closure))
{
    return set_reference(&self->expires_at, value, "expires_at");
}

static PyGetSetDef entry_getset[] = {
    {"value", (getter)get_value, (setter)set_value, "the stored object", NULL},
    {"expires_at", (getter)get_expires_at, (setter)set_expires_at, "clock seconds, or None: never expires", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef entry_members[] = {
    {"size", T_PYSSIZET, offsetof(MemoryEntry, size), 0, "accounted cost in bytes"},
    {"reads", T_PYSSIZET, offsetof(MemoryEntry, reads), 0, "reads since the entry was stored"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot entry_slots[] = {
    {Py_tp_doc, "One resident value: ``size`` is its accounted cost in bytes, ``expires_at`` clock seconds or None;"
                " not tracked by the cyclic garbage collector."},
    {Py_tp_new, entry_new},
    {Py_tp_dealloc, entry_dealloc},
    {Py_tp_getset, entry_getset},
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
    .m_doc = "The in-memory tier's entries, without a garbage-collector header (see memory_tier.py).",
    .m_size = 0,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit__entry(void)
{
    return PyModuleDef_Init(&entry_module);
}
