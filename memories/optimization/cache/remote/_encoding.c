/*
 * A batch of plain SETs encoded for L3 in C (the sidecar's write-through SET, one call per batch instead of Python
 * steps per key): `count_with_prefix` is values.bytes_to_remote's check for the marker, `set_commands` the names
 * and commands of RemoteTier.set_many_then. values.py and protocol.py hold the pure-Python reference of each;
 * tests/unit/optimization/cache/test_remote_encoding.py compares the two on random input, and
 * test_remote_encoding_sanitized.py runs that under ASan/UBSan.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

PyDoc_STRVAR(count_with_prefix_doc,
"count_with_prefix(values, prefix)\n"
"--\n\n"
"How many of ``values`` (a list of bytes) start with ``prefix`` (bytes).");

static PyObject *
count_with_prefix(PyObject *module, PyObject *const *args, Py_ssize_t count)
{
    (void)module;
    if (count != 2) {
        PyErr_SetString(PyExc_TypeError, "count_with_prefix takes 2 arguments");
        return NULL;
    }
    PyObject *values = args[0], *prefix = args[1];
    if (!PyList_CheckExact(values) || !PyBytes_CheckExact(prefix)) {
        PyErr_SetString(PyExc_TypeError, "count_with_prefix takes a list and bytes");
        return NULL;
    }
    const char *wanted = PyBytes_AS_STRING(prefix);
    Py_ssize_t wanted_length = PyBytes_GET_SIZE(prefix), found = 0;
    for (Py_ssize_t index = 0; index < PyList_GET_SIZE(values); index++) {
        PyObject *value = PyList_GET_ITEM(values, index);
        if (!PyBytes_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "count_with_prefix takes a list of bytes");
            return NULL;
        }
        found += PyBytes_GET_SIZE(value) >= wanted_length &&
                 memcmp(PyBytes_AS_STRING(value), wanted, (size_t)wanted_length) == 0;
    }
    return PyLong_FromSsize_t(found);
}

/* Write "$<length>\r\n" at `cursor`; returns the position after it. */
static char *
put_length(char *cursor, char type, Py_ssize_t length)
{
    char digits[24];
    int count = 0;
    do {
        digits[count++] = (char)('0' + length % 10);
        length /= 10;
    } while (length > 0);
    *cursor++ = type;
    while (count > 0) {
        *cursor++ = digits[--count];
    }
    *cursor++ = '\r';
    *cursor++ = '\n';
    return cursor;
}

/* Decimal digits of a non-negative length. */
static Py_ssize_t
digits_of(Py_ssize_t length)
{
    Py_ssize_t digits = 1;
    while (length >= 10) {
        length /= 10;
        digits++;
    }
    return digits;
}

static const char SET_HEADER[] = "*3\r\n$3\r\nSET\r\n";
#define SET_HEADER_LENGTH ((Py_ssize_t)(sizeof(SET_HEADER) - 1))

/* "*3\r\n$3\r\nSET\r\n$<len(name)>\r\n<name>\r\n$<len(value)>\r\n<value>\r\n" as a new bytes object. */
static PyObject *
set_command(const char *name, Py_ssize_t name_length, const char *value, Py_ssize_t value_length)
{
    Py_ssize_t name_part = 1 + digits_of(name_length) + 2 + name_length + 2;
    Py_ssize_t value_part = 1 + digits_of(value_length) + 2 + value_length + 2;
    if (value_part > PY_SSIZE_T_MAX - SET_HEADER_LENGTH - name_part) {
        return PyErr_NoMemory();
    }
    PyObject *command = PyBytes_FromStringAndSize(NULL, SET_HEADER_LENGTH + name_part + value_part);
    if (command == NULL) {
        return NULL;
    }
    char *cursor = PyBytes_AS_STRING(command);
    memcpy(cursor, SET_HEADER, (size_t)SET_HEADER_LENGTH);
    cursor = put_length(cursor + SET_HEADER_LENGTH, '$', name_length);
    memcpy(cursor, name, (size_t)name_length);
    cursor += name_length;
    *cursor++ = '\r';
    *cursor++ = '\n';
    cursor = put_length(cursor, '$', value_length);
    memcpy(cursor, value, (size_t)value_length);
    cursor += value_length;
    *cursor++ = '\r';
    *cursor++ = '\n';
    return command;
}

PyDoc_STRVAR(set_commands_doc,
"set_commands(prefix, keys, values)\n"
"--\n\n"
"The Redis names (``prefix`` + the key in UTF-8 with surrogateescape) of ``keys`` (a list of str) and the\n"
"``SET name value`` command of each pair with ``values`` (a list of bytes), as RESP arrays of bulk strings:\n"
"``(names: list[bytes], commands: list[bytes])``.");

static PyObject *
set_commands(PyObject *module, PyObject *const *args, Py_ssize_t count)
{
    (void)module;
    if (count != 3) {
        PyErr_SetString(PyExc_TypeError, "set_commands takes 3 arguments");
        return NULL;
    }
    PyObject *prefix = args[0], *keys = args[1], *values = args[2];
    if (!PyBytes_CheckExact(prefix) || !PyList_CheckExact(keys) || !PyList_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "set_commands takes bytes and two lists");
        return NULL;
    }
    Py_ssize_t length = PyList_GET_SIZE(keys);
    if (PyList_GET_SIZE(values) != length) {
        PyErr_SetString(PyExc_ValueError, "set_commands takes as many values as keys");
        return NULL;
    }
    PyObject *names = PyList_New(length);
    PyObject *commands = names == NULL ? NULL : PyList_New(length);
    if (commands == NULL) {
        Py_XDECREF(names);
        return NULL;
    }
    const char *prefix_bytes = PyBytes_AS_STRING(prefix);
    Py_ssize_t prefix_length = PyBytes_GET_SIZE(prefix);
    for (Py_ssize_t index = 0; index < length; index++) {
        PyObject *key = PyList_GET_ITEM(keys, index), *value = PyList_GET_ITEM(values, index);
        if (!PyUnicode_Check(key) || !PyBytes_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "set_commands takes str keys and bytes values");
            goto failed;
        }
        Py_ssize_t key_length;
        const char *key_bytes = NULL;
        PyObject *encoded = NULL;
        if (PyUnicode_IS_ASCII(key)) { /* its UTF-8 is its data */
            key_bytes = (const char *)PyUnicode_DATA(key);
            key_length = PyUnicode_GET_LENGTH(key);
        } else {
            encoded = PyUnicode_AsEncodedString(key, "utf-8", "surrogateescape");
            if (encoded == NULL) {
                goto failed;
            }
            key_bytes = PyBytes_AS_STRING(encoded);
            key_length = PyBytes_GET_SIZE(encoded);
        }
        if (key_length > PY_SSIZE_T_MAX - prefix_length) {
            Py_XDECREF(encoded);
            PyErr_NoMemory();
            goto failed;
        }
        PyObject *name = PyBytes_FromStringAndSize(NULL, prefix_length + key_length);
        if (name == NULL) {
            Py_XDECREF(encoded);
            goto failed;
        }
        memcpy(PyBytes_AS_STRING(name), prefix_bytes, (size_t)prefix_length);
        memcpy(PyBytes_AS_STRING(name) + prefix_length, key_bytes, (size_t)key_length);
        Py_XDECREF(encoded);
        PyList_SET_ITEM(names, index, name);
        PyObject *command = set_command(PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name), PyBytes_AS_STRING(value),
                                        PyBytes_GET_SIZE(value));
        if (command == NULL) {
            goto failed;
        }
        PyList_SET_ITEM(commands, index, command);
    }
    return Py_BuildValue("(NN)", names, commands);

failed:
    /* Slots not reached yet are NULL, which list deallocation skips. */
    Py_DECREF(names);
    Py_DECREF(commands);
    return NULL;
}

static PyMethodDef methods[] = {
    {"count_with_prefix", (PyCFunction)(void (*)(void))count_with_prefix, METH_FASTCALL, count_with_prefix_doc},
    {"set_commands", (PyCFunction)(void (*)(void))set_commands, METH_FASTCALL, set_commands_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef encoding_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "memories.optimization.cache.remote._encoding",
    .m_doc = "A batch of plain SETs encoded for L3 (see values.py and protocol.py).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__encoding(void)
{
    return PyModuleDef_Init(&encoding_module);
}
