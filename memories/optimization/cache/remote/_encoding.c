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

/* The UTF-8 (surrogateescape) of `key`: its data when it is ASCII, else in `*encoded` (a new reference the caller
 * releases). NULL with an exception set on failure. */
static const char *
key_utf8(PyObject *key, Py_ssize_t *length, PyObject **encoded)
{
    *encoded = NULL;
    if (PyUnicode_IS_ASCII(key)) {
        *length = PyUnicode_GET_LENGTH(key);
        return (const char *)PyUnicode_DATA(key);
    }
    *encoded = PyUnicode_AsEncodedString(key, "utf-8", "surrogateescape");
    if (*encoded == NULL) {
        return NULL;
    }
    *length = PyBytes_GET_SIZE(*encoded);
    return PyBytes_AS_STRING(*encoded);
}

/* The bytes of the SET command of a `name_length`-byte name and a `value_length`-byte value, or -1 when that is
 * past what a bytes object holds. */
static Py_ssize_t
set_command_length(Py_ssize_t name_length, Py_ssize_t value_length)
{
    if (name_length > PY_SSIZE_T_MAX / 2 - 64 || value_length > PY_SSIZE_T_MAX / 2 - 64) {
        return -1;
    }
    return SET_HEADER_LENGTH + 1 + digits_of(name_length) + 2 + name_length + 2 + 1 + digits_of(value_length) + 2 +
           value_length + 2;
}

/* Write "*3\r\n$3\r\nSET\r\n$<len(name)>\r\n<name>\r\n$<len(value)>\r\n<value>\r\n" at `cursor`, the name being
 * `prefix` then `key`; returns the position after it (set_command_length bytes on). */
static char *
put_set_command(char *cursor, const char *prefix, Py_ssize_t prefix_length, const char *key, Py_ssize_t key_length,
                const char *value, Py_ssize_t value_length)
{
    memcpy(cursor, SET_HEADER, (size_t)SET_HEADER_LENGTH);
    cursor = put_length(cursor + SET_HEADER_LENGTH, '$', prefix_length + key_length);
    memcpy(cursor, prefix, (size_t)prefix_length);
    memcpy(cursor + prefix_length, key, (size_t)key_length);
    cursor += prefix_length + key_length;
    *cursor++ = '\r';
    *cursor++ = '\n';
    cursor = put_length(cursor, '$', value_length);
    memcpy(cursor, value, (size_t)value_length);
    cursor += value_length;
    *cursor++ = '\r';
    *cursor++ = '\n';
    return cursor;
}

/* How many (key, value) pairs the arguments (prefix: bytes, keys: list, values: list) of `function` hold, or -1
 * with a TypeError or ValueError set when they are not that. */
static Py_ssize_t
pairs_of(PyObject *const *args, Py_ssize_t count, const char *function)
{
    if (count != 3) {
        PyErr_Format(PyExc_TypeError, "%s takes 3 arguments", function);
        return -1;
    }
    if (!PyBytes_CheckExact(args[0]) || !PyList_CheckExact(args[1]) || !PyList_CheckExact(args[2])) {
        PyErr_Format(PyExc_TypeError, "%s takes bytes and two lists", function);
        return -1;
    }
    if (PyList_GET_SIZE(args[2]) != PyList_GET_SIZE(args[1])) {
        PyErr_Format(PyExc_ValueError, "%s takes as many values as keys", function);
        return -1;
    }
    return PyList_GET_SIZE(args[1]);
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
    Py_ssize_t length = pairs_of(args, count, "set_commands");
    if (length < 0) {
        return NULL;
    }
    PyObject *prefix = args[0], *keys = args[1], *values = args[2];
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
        Py_ssize_t key_length, value_length = PyBytes_GET_SIZE(value);
        PyObject *encoded;
        const char *key_bytes = key_utf8(key, &key_length, &encoded);
        if (key_bytes == NULL) {
            goto failed;
        }
        Py_ssize_t command_length = set_command_length(prefix_length + key_length, value_length);
        PyObject *name = command_length < 0 ? PyErr_NoMemory()
                                            : PyBytes_FromStringAndSize(NULL, prefix_length + key_length);
        PyObject *command = name == NULL ? NULL : PyBytes_FromStringAndSize(NULL, command_length);
        if (command == NULL) {
            Py_XDECREF(name);
            Py_XDECREF(encoded);
            goto failed;
        }
        memcpy(PyBytes_AS_STRING(name), prefix_bytes, (size_t)prefix_length);
        memcpy(PyBytes_AS_STRING(name) + prefix_length, key_bytes, (size_t)key_length);
        put_set_command(PyBytes_AS_STRING(command), prefix_bytes, prefix_length, key_bytes, key_length,
                        PyBytes_AS_STRING(value), value_length);
        Py_XDECREF(encoded);
        PyList_SET_ITEM(names, index, name);
        PyList_SET_ITEM(commands, index, command);
    }
    return Py_BuildValue("(NN)", names, commands);

failed:
    /* Slots not reached yet are NULL, which list deallocation skips. */
    Py_DECREF(names);
    Py_DECREF(commands);
    return NULL;
}

PyDoc_STRVAR(joined_set_commands_doc,
"joined_set_commands(prefix, keys, values)\n"
"--\n\n"
"The ``commands`` of ``set_commands(prefix, keys, values)`` back to back in one bytes object.");

static PyObject *
joined_set_commands(PyObject *module, PyObject *const *args, Py_ssize_t count)
{
    (void)module;
    Py_ssize_t length = pairs_of(args, count, "joined_set_commands");
    if (length < 0) {
        return NULL;
    }
    PyObject *prefix = args[0], *keys = args[1], *values = args[2];
    const char *prefix_bytes = PyBytes_AS_STRING(prefix);
    Py_ssize_t prefix_length = PyBytes_GET_SIZE(prefix), total = 0;
    /* First the size of the whole (a key that is not ASCII is encoded here and again below: rare). */
    for (Py_ssize_t index = 0; index < length; index++) {
        PyObject *key = PyList_GET_ITEM(keys, index), *value = PyList_GET_ITEM(values, index), *encoded;
        if (!PyUnicode_Check(key) || !PyBytes_Check(value)) {
            PyErr_SetString(PyExc_TypeError, "joined_set_commands takes str keys and bytes values");
            return NULL;
        }
        Py_ssize_t key_length;
        if (key_utf8(key, &key_length, &encoded) == NULL) {
            return NULL;
        }
        Py_XDECREF(encoded);
        Py_ssize_t command_length = set_command_length(prefix_length + key_length, PyBytes_GET_SIZE(value));
        if (command_length < 0 || command_length > PY_SSIZE_T_MAX - total) {
            return PyErr_NoMemory();
        }
        total += command_length;
    }
    PyObject *joined = PyBytes_FromStringAndSize(NULL, total);
    if (joined == NULL) {
        return NULL;
    }
    char *cursor = PyBytes_AS_STRING(joined);
    for (Py_ssize_t index = 0; index < length; index++) {
        PyObject *value = PyList_GET_ITEM(values, index), *encoded;
        Py_ssize_t key_length, value_length = PyBytes_GET_SIZE(value);
        const char *key_bytes = key_utf8(PyList_GET_ITEM(keys, index), &key_length, &encoded);
        if (key_bytes == NULL) { /* it encoded above: out of memory */
            Py_DECREF(joined);
            return NULL;
        }
        cursor = put_set_command(cursor, prefix_bytes, prefix_length, key_bytes, key_length, PyBytes_AS_STRING(value),
                                 value_length);
        Py_XDECREF(encoded);
    }
    assert(cursor == PyBytes_AS_STRING(joined) + total);
    return joined;
}

static PyMethodDef methods[] = {
    {"count_with_prefix", (PyCFunction)(void (*)(void))count_with_prefix, METH_FASTCALL, count_with_prefix_doc},
    {"set_commands", (PyCFunction)(void (*)(void))set_commands, METH_FASTCALL, set_commands_doc},
    {"joined_set_commands", (PyCFunction)(void (*)(void))joined_set_commands, METH_FASTCALL,
     joined_set_commands_doc},
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
