/*
 * The fences' state in C, and the batch forms of opening and closing write fences (memories/optimization/cache/
 * fences.py holds their rules, and the pure-Python reference of everything here).
 *
 * `FenceState` is the base of fences.py's Fence and WriteFence: the three attributes every fence has (`_fences`,
 * the Fences it belongs to; `key`; `superseded`), so that `open_writes` can make a batch's fences without running
 * a Python __init__ per key. `open_writes` and `close_writes` do what Fences.open_writes and Fences.close_writes do
 * in Python, key by key, in one call: the sidecar's write-through SET opens and closes one fence per key
 * (docs/benchmarks/coherence.md measured 380 ns per key for the pair in Python). Anything but the usual case (a
 * key some other operation waits on when its write is answered) is handed to the fence's own Python methods
 * (`earliest`, `close`), so each rule has one implementation. A key's fence stands alone in the dict of open fences
 * (no list of one: that was two more allocations and one more object for the collector per write). tests/unit/optimization/cache/test_batch_steps.py
 * checks both builds against the key-by-key steps; test_fences_sanitized.py runs them under ASan/UBSan.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *fences; /* the Fences this fence belongs to */
    PyObject *key;    /* str: the key the operation waits on */
    char superseded;  /* the key changed after the fence was opened */
} FenceState;

typedef struct {
    PyTypeObject *state_type;
    PyObject *earliest_name; /* "earliest" */
    PyObject *close_name;    /* "close" */
} ModuleState;

static ModuleState *
module_state(PyObject *module)
{
    return (ModuleState *)PyModule_GetState(module);
}

static int
state_init(FenceState *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"fences", "key", NULL};
    PyObject *fences, *key;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:FenceState", keywords, &fences, &key)) {
        return -1;
    }
    Py_XSETREF(self->fences, Py_NewRef(fences));
    Py_XSETREF(self->key, Py_NewRef(key));
    self->superseded = 0;
    return 0;
}

static int
state_traverse(FenceState *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->fences);
    Py_VISIT(self->key);
    return 0;
}

static int
state_clear(FenceState *self)
{
    Py_CLEAR(self->fences);
    Py_CLEAR(self->key);
    return 0;
}

static void
state_dealloc(FenceState *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    state_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyMemberDef state_members[] = {
    {"_fences", T_OBJECT_EX, offsetof(FenceState, fences), READONLY, "the Fences this fence belongs to"},
    {"key", T_OBJECT_EX, offsetof(FenceState, key), READONLY, "the key the operation waits on"},
    {"superseded", T_BOOL, offsetof(FenceState, superseded), 0, "the key changed after the fence was opened"},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot state_slots[] = {
    {Py_tp_doc, "FenceState(fences, key): the attributes of a fence (see fences.py)."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, state_init},
    {Py_tp_traverse, state_traverse},
    {Py_tp_clear, state_clear},
    {Py_tp_dealloc, state_dealloc},
    {Py_tp_members, state_members},
    {0, NULL},
};

static PyType_Spec state_spec = {
    .name = "memories.optimization.cache._fences.FenceState",
    .basicsize = sizeof(FenceState),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = state_slots,
};

/* `fence_type` is a subclass of FenceState (else TypeError). */
static int
check_fence_type(ModuleState *state, PyObject *fence_type)
{
    if (!PyType_Check(fence_type) || !PyType_IsSubtype((PyTypeObject *)fence_type, state->state_type)) {
        PyErr_SetString(PyExc_TypeError, "the fence type must be a subclass of FenceState");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(open_writes_doc,
"open_writes(open, keys, fence_type, fences)\n"
"--\n\n"
"Fences.open_writes: a new ``fence_type(fences, key)`` for each of ``keys`` (a list of str), in order, put\n"
"in the dict ``open`` under its key: alone when nothing waits there, else after what waits (a fence, or a list\n"
"of them), each of which is marked superseded. Returns the new fences, in order. When it raises, none of them\n"
"stays in ``open`` (those it marked superseded stay so).");

/* Take `fence` out of `open` if it is there (alone on its key, or in its key's list, where one fence left stands
 * alone again), for an open_writes that failed part-way. Best effort, with the caller's error set aside: an error
 * here is cleared. */
static void
withdraw(PyObject *open, FenceState *fence)
{
    PyObject *waiting = PyDict_GetItemWithError(open, fence->key); /* borrowed */
    if (waiting == (PyObject *)fence) {
        if (PyDict_DelItem(open, fence->key) < 0) {
            PyErr_Clear();
        }
        return;
    }
    if (waiting == NULL || !PyList_CheckExact(waiting)) {
        PyErr_Clear();
        return;
    }
    for (Py_ssize_t position = PyList_GET_SIZE(waiting) - 1; position >= 0; position--) {
        if (PyList_GET_ITEM(waiting, position) != (PyObject *)fence) {
            continue;
        }
        if (PyList_SetSlice(waiting, position, position + 1, NULL) < 0) { /* the caller's list keeps `fence` */
            PyErr_Clear();
            return;
        }
        if (PyList_GET_SIZE(waiting) == 1) {
            PyObject *lone = Py_NewRef(PyList_GET_ITEM(waiting, 0)); /* the dict lets go of `waiting` */
            if (PyDict_SetItem(open, fence->key, lone) < 0) {
                PyErr_Clear();
            }
            Py_DECREF(lone);
        }
        return;
    }
}

static PyObject *
open_writes(PyObject *module, PyObject *const *args, Py_ssize_t count)
{
    if (count != 4) {
        PyErr_SetString(PyExc_TypeError, "open_writes takes 4 arguments");
        return NULL;
    }
    ModuleState *state = module_state(module);
    PyObject *open = args[0], *keys = args[1], *fence_type = args[2], *owner = args[3];
    if (!PyDict_CheckExact(open) || !PyList_CheckExact(keys)) {
        PyErr_SetString(PyExc_TypeError, "open_writes takes a dict and a list of keys");
        return NULL;
    }
    if (check_fence_type(state, fence_type) < 0) {
        return NULL;
    }
    PyTypeObject *type = (PyTypeObject *)fence_type;
    Py_ssize_t length = PyList_GET_SIZE(keys);
    PyObject *opened = PyList_New(length);
    if (opened == NULL) {
        return NULL;
    }
    Py_ssize_t index;
    for (index = 0; index < length; index++) {
        PyObject *key = PyList_GET_ITEM(keys, index);
        FenceState *fence = (FenceState *)type->tp_alloc(type, 0);
        if (fence == NULL) {
            goto failed;
        }
        fence->fences = Py_NewRef(owner);
        fence->key = Py_NewRef(key);
        fence->superseded = 0;
        PyList_SET_ITEM(opened, index, (PyObject *)fence); /* `opened` owns it (and frees it on failure) */
        PyObject *waiting = PyDict_GetItemWithError(open, key); /* borrowed */
        if (waiting == NULL) { /* nearly always: the fence stands alone */
            if (PyErr_Occurred() || PyDict_SetItem(open, key, (PyObject *)fence) < 0) {
                goto failed;
            }
            continue;
        }
        if (PyList_CheckExact(waiting)) {
            for (Py_ssize_t earlier = 0; earlier < PyList_GET_SIZE(waiting); earlier++) {
                PyObject *other = PyList_GET_ITEM(waiting, earlier);
                if (!PyObject_TypeCheck(other, state->state_type)) {
                    PyErr_SetString(PyExc_TypeError, "an open fence is not a FenceState");
                    goto failed;
                }
                ((FenceState *)other)->superseded = 1;
            }
            if (PyList_Append(waiting, (PyObject *)fence) < 0) {
                goto failed;
            }
            continue;
        }
        if (!PyObject_TypeCheck(waiting, state->state_type)) {
            PyErr_SetString(PyExc_TypeError, "what waits on a key must be a fence or a list of them");
            goto failed;
        }
        ((FenceState *)waiting)->superseded = 1;
        PyObject *both = PyList_New(2);
        if (both == NULL) {
            goto failed;
        }
        PyList_SET_ITEM(both, 0, Py_NewRef(waiting)); /* before the dict lets go of it */
        PyList_SET_ITEM(both, 1, Py_NewRef(fence));
        int replaced = PyDict_SetItem(open, key, both);
        Py_DECREF(both);
        if (replaced < 0) {
            goto failed;
        }
    }
    return opened;

failed:
    /* Withdraw the fences opened so far (the one being opened included, in case it got in), latest first, so that
     * no key keeps a fence that no write will close. Slots not reached yet are NULL. */
    {
        PyObject *error_type, *error_value, *error_traceback;
        PyErr_Fetch(&error_type, &error_value, &error_traceback);
        for (Py_ssize_t back = index; back >= 0; back--) {
            PyObject *fence = PyList_GET_ITEM(opened, back);
            if (fence != NULL) {
                withdraw(open, (FenceState *)fence);
            }
        }
        PyErr_Restore(error_type, error_value, error_traceback);
    }
    Py_DECREF(opened);
    return NULL;
}

PyDoc_STRVAR(close_writes_doc,
"close_writes(open, fences)\n"
"--\n\n"
"Fences.close_writes: close each of ``fences`` (a list of write fences in ``open``), in order. Returns, for\n"
"each, whether it was not superseded and ``earliest`` just before it closed (a list of bool). A fence alone\n"
"on its key is removed here; any other is closed by its own ``close``, after its ``earliest`` is read.");

static PyObject *
close_writes(PyObject *module, PyObject *const *args, Py_ssize_t count)
{
    if (count != 2) {
        PyErr_SetString(PyExc_TypeError, "close_writes takes 2 arguments");
        return NULL;
    }
    ModuleState *state = module_state(module);
    PyObject *open = args[0], *fences = args[1];
    if (!PyDict_CheckExact(open) || !PyList_CheckExact(fences)) {
        PyErr_SetString(PyExc_TypeError, "close_writes takes a dict and a list of fences");
        return NULL;
    }
    Py_ssize_t length = PyList_GET_SIZE(fences);
    PyObject *unchanged = PyList_New(length);
    if (unchanged == NULL) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < length; index++) {
        PyObject *item = PyList_GET_ITEM(fences, index);
        if (!PyObject_TypeCheck(item, state->state_type)) {
            PyErr_SetString(PyExc_TypeError, "close_writes takes fences");
            goto failed;
        }
        FenceState *fence = (FenceState *)item;
        PyObject *key = fence->key;
        PyObject *waiting = key == NULL ? NULL : PyDict_GetItemWithError(open, key); /* borrowed */
        if (waiting == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, key == NULL ? Py_None : key);
            }
            goto failed;
        }
        if (waiting == item) { /* nearly always: nothing else waits on the key */
            int superseded = fence->superseded;
            Py_INCREF(fence); /* `open` may hold the last other reference */
            int removed = PyDict_DelItem(open, key);
            Py_DECREF(fence);
            if (removed < 0) {
                goto failed;
            }
            PyList_SET_ITEM(unchanged, index, Py_NewRef(superseded ? Py_False : Py_True));
            continue;
        }
        int kept = 0;
        if (!fence->superseded) {
            PyObject *earliest = PyObject_GetAttr(item, state->earliest_name);
            if (earliest == NULL) {
                goto failed;
            }
            kept = PyObject_IsTrue(earliest);
            Py_DECREF(earliest);
            if (kept < 0) {
                goto failed;
            }
        }
        PyObject *closed = PyObject_CallMethodNoArgs(item, state->close_name);
        if (closed == NULL) {
            goto failed;
        }
        Py_DECREF(closed);
        PyList_SET_ITEM(unchanged, index, Py_NewRef(kept ? Py_True : Py_False));
    }
    return unchanged;

failed:
    /* Slots not reached yet are NULL, which list deallocation skips. */
    Py_DECREF(unchanged);
    return NULL;
}

static PyMethodDef methods[] = {
    {"open_writes", (PyCFunction)(void (*)(void))open_writes, METH_FASTCALL, open_writes_doc},
    {"close_writes", (PyCFunction)(void (*)(void))close_writes, METH_FASTCALL, close_writes_doc},
    {NULL, NULL, 0, NULL},
};

static int
module_exec(PyObject *module)
{
    ModuleState *state = module_state(module);
    state->earliest_name = PyUnicode_InternFromString("earliest");
    state->close_name = PyUnicode_InternFromString("close");
    if (state->earliest_name == NULL || state->close_name == NULL) {
        return -1;
    }
    state->state_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &state_spec, NULL);
    if (state->state_type == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "FenceState", (PyObject *)state->state_type);
}

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    ModuleState *state = module_state(module);
    Py_VISIT(state->state_type);
    return 0;
}

static int
module_clear(PyObject *module)
{
    ModuleState *state = module_state(module);
    Py_CLEAR(state->state_type);
    Py_CLEAR(state->earliest_name);
    Py_CLEAR(state->close_name);
    return 0;
}

static void
module_free(void *module)
{
    module_clear((PyObject *)module);
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef fences_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "memories.optimization.cache._fences",
    .m_doc = "The fences' state and the batch forms of opening and closing write fences (see fences.py).",
    .m_size = sizeof(ModuleState),
    .m_methods = methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__fences(void)
{
    return PyModuleDef_Init(&fences_module);
}
