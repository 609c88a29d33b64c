/*
 * FastCDC cut points in C: the same chunks as memories/optimization/dedup/chunking.py's numpy version.
 *
 * The numpy version computes the windowed 32-bit gear hash h[i] = sum(GEAR[b[i - j]] << j, j = 0..31) at every
 * byte and then picks cut points chunk by chunk. Here one pass per chunk rolls h = (h << 1) + GEAR[byte] from 32
 * bytes before the first allowed cut (earlier bytes are shifted out of a 32-bit word, so from there on h equals
 * the windowed hash) and stops at the first cut: the bytes of a chunk's first quarter are not hashed at all.
 *
 * Rules (chunking.py's module docstring): a chunk starting at `start` ends at the first position
 * `end` in [start + minimum, normal_end) whose hash (of the byte before `end`) has the hard mask's bits all
 * zero, else the first in [normal_end, limit) with the easy mask's bits zero, else at `limit`;
 * normal_end = min(start + average, size), limit = min(start + maximum, size). A remainder of at most
 * `minimum` bytes is the last chunk.
 *
 * cut_points(data, gear, minimum, average, maximum, hard_mask, easy_mask, final) returns the chunk end offsets
 * as a bytes object of native int64s. With final=False (more input will follow) only the chunks whose decision
 * cannot depend on later bytes are returned: those with start + maximum <= len(data). The GIL is released while
 * scanning.
 *
 * find_runs(data, minimum) returns the (start, end) offsets of the maximal runs of one repeated byte at least
 * `minimum` (>= 2) bytes long, in order, as a bytes object of native int64 pairs (runs.py cuts them out of the
 * FastCDC stream). A run of at least `minimum` bytes holds a whole aligned window of minimum / 2 bytes, so the
 * probe compares the first and last byte of each such window and looks further only where they match: on data
 * without runs it reads two bytes per window. The GIL is released while scanning.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Roll the hash over bytes [position, stop) and return the first byte whose hash has no bit of `mask` set, or
 * `stop`. Four bytes per step: h + 4 = 16 h + (8 g0 + 4 g1 + 2 g2 + g3), so the chain from one step to the next is
 * one shift and one add, and the four intermediate hashes are tested with one branch. */
static inline Py_ssize_t scan(const uint8_t *data, Py_ssize_t position, Py_ssize_t stop, const uint32_t *gear,
                              uint32_t *hash_io, uint32_t mask) {
    uint32_t hash = *hash_io;
    while (position + 4 <= stop) {
        uint32_t g0 = gear[data[position]], g1 = gear[data[position + 1]];
        uint32_t g2 = gear[data[position + 2]], g3 = gear[data[position + 3]];
        uint32_t h0 = (hash << 1) + g0;
        uint32_t h1 = (hash << 2) + (g0 << 1) + g1;
        uint32_t h2 = (hash << 3) + (g0 << 2) + (g1 << 1) + g2;
        uint32_t h3 = (hash << 4) + (((g0 << 3) + (g1 << 2)) + ((g2 << 1) + g3));
        if (((h0 & mask) == 0) | ((h1 & mask) == 0) | ((h2 & mask) == 0) | ((h3 & mask) == 0)) {
            uint32_t found[4] = {h0, h1, h2, h3};
            for (int k = 0;; k++) {
                if ((found[k] & mask) == 0) {
                    *hash_io = found[k];
                    return position + k;
                }
            }
        }
        hash = h3;
        position += 4;
    }
    for (; position < stop; position++) {
        hash = (hash << 1) + gear[data[position]];
        if ((hash & mask) == 0) {
            break;
        }
    }
    *hash_io = hash;
    return position;
}

static Py_ssize_t next_cut(const uint8_t *data, Py_ssize_t start, Py_ssize_t size, const uint32_t *gear,
                           Py_ssize_t minimum, Py_ssize_t average, Py_ssize_t maximum, uint32_t hard_mask,
                           uint32_t easy_mask) {
    Py_ssize_t normal_end = start + average < size ? start + average : size;
    Py_ssize_t limit = start + maximum < size ? start + maximum : size;
    /* The first candidate end is start + minimum: the hash of byte start + minimum - 1, which needs the 31
     * bytes before it. minimum >= 64, so this never reads before `start`. */
    Py_ssize_t position = start + minimum - 32;
    uint32_t hash = 0;
    for (; position < start + minimum - 1; position++) {
        hash = (hash << 1) + gear[data[position]];
    }
    /* `position` is the byte whose hash decides a cut at position + 1. */
    position = scan(data, position, normal_end - 1, gear, &hash, hard_mask);
    if (position < normal_end - 1) {
        return position + 1;
    }
    position = scan(data, position, limit - 1, gear, &hash, easy_mask);
    return position + 1;
}

static PyObject *cut_points(PyObject *self, PyObject *args) {
    Py_buffer data, gear;
    Py_ssize_t minimum, average, maximum;
    unsigned long hard_mask, easy_mask;
    int final;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*nnnkkp", &data, &gear, &minimum, &average, &maximum, &hard_mask, &easy_mask,
                          &final)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (gear.len != 256 * (Py_ssize_t)sizeof(uint32_t)) {
        PyErr_SetString(PyExc_ValueError, "gear: expected 256 uint32 values (1024 bytes)");
        goto done;
    }
    if (minimum < 64 || average <= minimum || maximum <= average) {
        PyErr_SetString(PyExc_ValueError, "sizes: expected 64 <= minimum < average < maximum");
        goto done;
    }
    const uint8_t *bytes = data.buf;
    Py_ssize_t size = data.len;
    /* At most one chunk per `minimum` bytes, plus the remainder. */
    Py_ssize_t capacity = size / minimum + 1;
    int64_t *ends = PyMem_RawMalloc((size_t)capacity * sizeof(int64_t));
    if (ends == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    uint32_t table[256];
    memcpy(table, gear.buf, sizeof(table));
    Py_ssize_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t start = 0;
    while (size - start > minimum) {
        if (!final && start + maximum > size) {
            break;
        }
        Py_ssize_t end = next_cut(bytes, start, size, table, minimum, average, maximum, (uint32_t)hard_mask,
                                  (uint32_t)easy_mask);
        ends[count++] = end;
        start = end;
    }
    if (final && start < size) {
        ends[count++] = size;
    }
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize((const char *)ends, count * (Py_ssize_t)sizeof(int64_t));
    PyMem_RawFree(ends);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&gear);
    return result;
}

/* True when bytes [position, position + length) all equal data[position] (length >= 1). */
static inline int uniform(const uint8_t *data, Py_ssize_t position, Py_ssize_t length) {
    return memcmp(data + position, data + position + 1, (size_t)(length - 1)) == 0;
}

/* The first offset from `position` on (up to `size`) whose byte is not `value`. */
static Py_ssize_t run_end(const uint8_t *data, Py_ssize_t position, Py_ssize_t size, uint8_t value) {
    const Py_ssize_t block = 4096;
    while (position + block <= size && data[position] == value && uniform(data, position, block)) {
        position += block;
    }
    while (position < size && data[position] == value) {
        position++;
    }
    return position;
}

static PyObject *find_runs(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t minimum;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n", &data, &minimum)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (minimum < 2) {
        PyErr_SetString(PyExc_ValueError, "minimum: expected a run length of at least 2 bytes");
        goto done;
    }
    const uint8_t *bytes = data.buf;
    Py_ssize_t size = data.len, window = minimum / 2;
    /* Runs are disjoint and at least `minimum` long. */
    Py_ssize_t capacity = 2 * (size / minimum + 1);
    int64_t *runs = PyMem_RawMalloc((size_t)capacity * sizeof(int64_t));
    if (runs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t count = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t previous_end = 0;
    for (Py_ssize_t position = 0; position + window <= size; position += window) {
        if (position < previous_end || bytes[position] != bytes[position + window - 1] ||
            !uniform(bytes, position, window)) {
            continue;
        }
        uint8_t value = bytes[position];
        Py_ssize_t start = position;
        while (start > previous_end && bytes[start - 1] == value) {
            start--;
        }
        Py_ssize_t end = run_end(bytes, position + window, size, value);
        if (end - start >= minimum) {
            runs[count++] = start;
            runs[count++] = end;
        }
        previous_end = end;
    }
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize((const char *)runs, count * (Py_ssize_t)sizeof(int64_t));
    PyMem_RawFree(runs);
done:
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"cut_points", cut_points, METH_VARARGS,
     "cut_points(data, gear, minimum, average, maximum, hard_mask, easy_mask, final) -> bytes of int64 chunk ends"},
    {"find_runs", find_runs, METH_VARARGS,
     "find_runs(data, minimum) -> bytes of int64 (start, end) pairs of the runs of one byte of >= minimum bytes"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastcdc", "FastCDC cut points (see chunking.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__fastcdc(void) { return PyModule_Create(&module); }
