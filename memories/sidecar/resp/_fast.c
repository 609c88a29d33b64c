/*
 * The RESP server's compiled fast path: parse pipelined GET and SET commands straight from a
 * read, call the cache for each, and encode every reply into one bytes object.
 *
 * Only the commonest frames are handled here: complete, well-formed arrays of bulk strings
 * naming GET with one key or SET with a key and a value (any letter case). At the first
 * anything else (another command, options, an incomplete or malformed frame, a limit exceeded,
 * a cache answer that needs waiting) it stops *before* that command and returns how many bytes
 * it consumed; the pure-Python parser and command table then take over from there, so errors,
 * slow paths and every other command keep exactly one implementation
 * (memories/sidecar/resp/protocol.py and commands.py). tests/sidecar/test_resp_fast_path.py
 * checks that both paths answer any byte stream identically.
 *
 * `collect_sets` parses the leading run of plain SET commands the same way without calling anything:
 * a cache whose SETs wait for L3 starts them together (memories/sidecar/resp/set_batch.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <string.h>

/* The longest length line accepted ("$" + 18 digits), as in the Python parser. */
#define MAX_DIGITS 18

typedef struct {
    char *data;
    Py_ssize_t size;
    Py_ssize_t capacity;
} Output;

static int
output_reserve(Output *output, Py_ssize_t extra)
{
    if (output->size + extra <= output->capacity) {
        return 0;
    }
    Py_ssize_t capacity = output->capacity ? output->capacity : 1024;
    while (capacity < output->size + extra) {
        if (capacity > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        capacity *= 2;
    }
    char *data = PyMem_Realloc(output->data, (size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    output->data = data;
    output->capacity = capacity;
    return 0;
}

static int
output_append(Output *output, const char *bytes, Py_ssize_t length)
{
    if (output_reserve(output, length) < 0) {
        return -1;
    }
    memcpy(output->data + output->size, bytes, (size_t)length);
    output->size += length;
    return 0;
}

/* Append "$<length>\r\n<bytes>\r\n". */
static int
output_bulk(Output *output, const char *bytes, Py_ssize_t length)
{
    char header[32];
    int header_length = snprintf(header, sizeof(header), "$%zd\r\n", length);
    if (output_reserve(output, header_length + length + 2) < 0) {
        return -1;
    }
    memcpy(output->data + output->size, header, (size_t)header_length);
    output->size += header_length;
    memcpy(output->data + output->size, bytes, (size_t)length);
    output->size += length;
    memcpy(output->data + output->size, "\r\n", 2);
    output->size += 2;
    return 0;
}

#define MALFORMED (-1)
#define INCOMPLETE (-2)

/* A canonical decimal length of 1..18 digits (no leading zero) followed by CRLF, starting at `cursor`: the
 * value, MALFORMED, or INCOMPLETE when `end` comes first. `*next` is set past the CRLF. */
static Py_ssize_t
parse_length(const char *cursor, const char *end, const char **next)
{
    const char *digit = cursor;
    Py_ssize_t value = 0;
    while (digit < end && *digit >= '0' && *digit <= '9') {
        if (digit - cursor >= MAX_DIGITS) {
            return MALFORMED;
        }
        value = value * 10 + (*digit - '0');
        digit++;
    }
    if (digit == end || (digit + 1 == end && *digit == '\r')) {
        return INCOMPLETE;
    }
    if (digit == cursor || digit[0] != '\r' || digit[1] != '\n') {
        return MALFORMED;
    }
    if (*cursor == '0' && digit - cursor > 1) {
        return MALFORMED; /* a leading zero, which redis-server refuses */
    }
    *next = digit + 2;
    return value;
}

typedef struct {
    const char *start;
    Py_ssize_t length;
} Argument;

/* One complete array of 2 or 3 bulk strings at `cursor`: returns the position after it. Returns NULL
 * for anything else, setting `*incomplete` when the bytes up to `end` are a well-formed beginning
 * of such an array (more bytes may complete it). */
static const char *
parse_command(const char *cursor, const char *end, Py_ssize_t max_bulk_length, Argument arguments[3], int *count,
              int *incomplete)
{
    *incomplete = 0;
    if (cursor >= end || *cursor != '*') {
        return NULL;
    }
    Py_ssize_t items = parse_length(cursor + 1, end, &cursor);
    if (items == INCOMPLETE) {
        *incomplete = 1;
        return NULL;
    }
    if (items < 2 || items > 3) {
        return NULL;
    }
    for (Py_ssize_t index = 0; index < items; index++) {
        if (cursor >= end) {
            *incomplete = 1;
            return NULL;
        }
        if (*cursor != '$') {
            return NULL;
        }
        Py_ssize_t size = parse_length(cursor + 1, end, &cursor);
        if (size == INCOMPLETE) {
            *incomplete = 1;
            return NULL;
        }
        if (size < 0 || size > max_bulk_length) {
            return NULL;
        }
        if (end - cursor < size + 2) {
            /* The terminating CRLF is checked once it has arrived. */
            *incomplete = end - cursor <= size || cursor[size] == '\r';
            return NULL;
        }
        if (cursor[size] != '\r' || cursor[size + 1] != '\n') {
            return NULL;
        }
        arguments[index].start = cursor;
        arguments[index].length = size;
        cursor += size + 2;
    }
    *count = (int)items;
    return cursor;
}

static int
is_name(const Argument *argument, const char *lowercase)
{
    return argument->length == 3 && (argument->start[0] | 0x20) == lowercase[0] &&
           (argument->start[1] | 0x20) == lowercase[1] && (argument->start[2] | 0x20) == lowercase[2];
}

/* A cache call raised: Exceptions hand the command to the Python path (which reports them), anything
 * else (KeyboardInterrupt, SystemExit) propagates. Returns 0 to stop, -1 to propagate. */
static int
hand_over_exception(void)
{
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

PyDoc_STRVAR(run_doc,
"run(data, start, budget, output_budget, max_bulk_length, max_key_length, max_value_size, get, set, missing,\n"
"    wrong_type, null)\n"
"--\n\n"
"Answer the leading GET and SET commands of ``data[start:]``, starting no command once ``budget`` bytes\n"
"(at least 1) are consumed or ``output_budget`` bytes of replies encoded: a connection's turn on the event\n"
"loop stays short, and its replies bounded, however long its pipeline and however large its values.\n\n"
"``get(key: str)`` returns bytes, None (a miss: reply ``null``), ``missing`` (stop: the Python path\n"
"must look further) or another object (reply ``wrong_type``). ``set(key: str, value: bytes)`` returns\n"
"True when stored, False to stop. Keys are decoded as UTF-8 with surrogateescape. Lengths are bytes.\n"
"Returns ``(replies: bytes, consumed: int, gets: int, sets: int, incomplete: bool)``: the encoded replies,\n"
"the offset in ``data`` where it stopped, how many GET and SET commands it answered, and whether it\n"
"stopped at a well-formed but incomplete array of 2 or 3 bulk strings at the end of ``data``.");

/* The part of `data` a call reads: from `start` to its end, with no command starting at or after `*stop`
 * (`budget` bytes on, computed without overflowing the pointer). -1 with ValueError for a bad start or budget. */
static int
read_window(PyObject *data, Py_ssize_t start, Py_ssize_t budget, const char **cursor, const char **end,
            const char **stop)
{
    Py_ssize_t length = PyBytes_GET_SIZE(data);
    if (start < 0 || start > length) {
        PyErr_SetString(PyExc_ValueError, "start is outside data");
        return -1;
    }
    if (budget < 1) {
        PyErr_SetString(PyExc_ValueError, "budget must be at least 1 byte");
        return -1;
    }
    const char *base = PyBytes_AS_STRING(data);
    *cursor = base + start;
    *end = base + length;
    *stop = budget < *end - *cursor ? *cursor + budget : *end;
    return 0;
}

static PyObject *
run(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *data, *get, *set, *missing, *wrong_type, *null;
    Py_ssize_t start, budget, output_budget, max_bulk_length, max_key_length, max_value_size;
    if (!PyArg_ParseTuple(args, "SnnnnnnOOOSS:run", &data, &start, &budget, &output_budget, &max_bulk_length,
                          &max_key_length, &max_value_size, &get, &set, &missing, &wrong_type, &null)) {
        return NULL;
    }
    const char *cursor, *end, *stop;
    if (read_window(data, start, budget, &cursor, &end, &stop) < 0) {
        return NULL;
    }
    Output output = {NULL, 0, 0};
    Py_ssize_t gets = 0, sets = 0;
    int failed = 0, incomplete = 0;

    while (cursor < stop && output.size < output_budget) {
        Argument arguments[3];
        int count = 0;
        const char *next = parse_command(cursor, end, max_bulk_length, arguments, &count, &incomplete);
        if (next == NULL) {
            break;
        }
        if (count == 2 && is_name(&arguments[0], "get")) {
            PyObject *key = PyUnicode_DecodeUTF8(arguments[1].start, arguments[1].length, "surrogateescape");
            if (key == NULL) {
                failed = 1;
                break;
            }
            PyObject *value = PyObject_CallOneArg(get, key);
            Py_DECREF(key);
            if (value == NULL) {
                failed = hand_over_exception();
                break;
            }
            int appended;
            if (value == missing) {
                Py_DECREF(value);
                break;
            }
            if (PyBytes_CheckExact(value)) {
                appended = output_bulk(&output, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
            } else if (value == Py_None) {
                appended = output_append(&output, PyBytes_AS_STRING(null), PyBytes_GET_SIZE(null));
            } else {
                appended = output_append(&output, PyBytes_AS_STRING(wrong_type), PyBytes_GET_SIZE(wrong_type));
            }
            Py_DECREF(value);
            if (appended < 0) {
                failed = 1;
                break;
            }
            gets++;
        } else if (count == 3 && is_name(&arguments[0], "set")) {
            if (arguments[1].length > max_key_length || arguments[2].length > max_value_size) {
                break; /* the Python path replies with the limit that was exceeded */
            }
            PyObject *key = PyUnicode_DecodeUTF8(arguments[1].start, arguments[1].length, "surrogateescape");
            if (key == NULL) {
                failed = 1;
                break;
            }
            PyObject *value = PyBytes_FromStringAndSize(arguments[2].start, arguments[2].length);
            if (value == NULL) {
                Py_DECREF(key);
                failed = 1;
                break;
            }
            PyObject *call_arguments[2] = {key, value};
            PyObject *stored = PyObject_Vectorcall(set, call_arguments, 2, NULL);
            Py_DECREF(key);
            Py_DECREF(value);
            if (stored == NULL) {
                failed = hand_over_exception();
                break;
            }
            int done = stored == Py_True;
            Py_DECREF(stored);
            if (!done) {
                break;
            }
            if (output_append(&output, "+OK\r\n", 5) < 0) {
                failed = 1;
                break;
            }
            sets++;
        } else {
            break;
        }
        cursor = next;
    }

    if (failed) {
        PyMem_Free(output.data);
        return NULL;
    }
    PyObject *replies = PyBytes_FromStringAndSize(output.data, output.size);
    PyMem_Free(output.data);
    if (replies == NULL) {
        return NULL;
    }
    return Py_BuildValue("(NnnnO)", replies, (Py_ssize_t)(cursor - PyBytes_AS_STRING(data)), gets, sets,
                         incomplete ? Py_True : Py_False);
}

PyDoc_STRVAR(collect_sets_doc,
"collect_sets(data, start, budget, max_bulk_length, max_key_length, max_value_size, taken)\n"
"--\n\n"
"Parse the leading plain SET commands of ``data[start:]`` (arrays of exactly ``SET key value``, any letter\n"
"case, key and value within the limits) that ``run`` would hand to ``set``, starting none once ``budget``\n"
"bytes (at least 1) are consumed, and none whose key is in the set ``taken`` (each collected key is added to\n"
"it: a batch holds each key once). Returns ``(keys: list, values: list, consumed: int)``: the keys (str,\n"
"decoded as UTF-8 with surrogateescape), their values (bytes), and the offset in ``data`` where it stopped (at\n"
"the first anything else, a key taken, or an incomplete command). Lengths are bytes.");

static PyObject *
collect_sets(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *data, *taken;
    Py_ssize_t start, budget, max_bulk_length, max_key_length, max_value_size;
    if (!PyArg_ParseTuple(args, "SnnnnnO!:collect_sets", &data, &start, &budget, &max_bulk_length, &max_key_length,
                          &max_value_size, &PySet_Type, &taken)) {
        return NULL;
    }
    const char *cursor, *end, *stop;
    if (read_window(data, start, budget, &cursor, &end, &stop) < 0) {
        return NULL;
    }
    PyObject *keys = PyList_New(0);
    PyObject *values = keys == NULL ? NULL : PyList_New(0);
    if (values == NULL) {
        goto failed;
    }
    while (cursor < stop) {
        Argument arguments[3];
        int count = 0, incomplete = 0;
        const char *next = parse_command(cursor, end, max_bulk_length, arguments, &count, &incomplete);
        if (next == NULL || count != 3 || !is_name(&arguments[0], "set") ||
            arguments[1].length > max_key_length || arguments[2].length > max_value_size) {
            break;
        }
        PyObject *key = PyUnicode_DecodeUTF8(arguments[1].start, arguments[1].length, "surrogateescape");
        if (key == NULL) {
            goto failed;
        }
        int seen = PySet_Contains(taken, key);
        if (seen != 0) {
            Py_DECREF(key);
            if (seen < 0) {
                goto failed;
            }
            break;
        }
        int refused = PySet_Add(taken, key) < 0 || PyList_Append(keys, key) < 0;
        Py_DECREF(key);
        PyObject *value = refused ? NULL : PyBytes_FromStringAndSize(arguments[2].start, arguments[2].length);
        if (value == NULL) {
            goto failed;
        }
        refused = PyList_Append(values, value);
        Py_DECREF(value);
        if (refused) {
            goto failed;
        }
        cursor = next;
    }
    return Py_BuildValue("(NNn)", keys, values, (Py_ssize_t)(cursor - PyBytes_AS_STRING(data)));

failed:
    Py_XDECREF(keys);
    Py_XDECREF(values);
    return NULL;
}

static PyMethodDef methods[] = {
    {"run", run, METH_VARARGS, run_doc},
    {"collect_sets", collect_sets, METH_VARARGS, collect_sets_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "memories.sidecar.resp._fast",
    "The RESP server's compiled GET/SET fast path (see fast_path.py).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__fast(void)
{
    return PyModule_Create(&module);
}
