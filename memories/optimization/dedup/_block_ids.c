/*
 * Block ids in C: the XXH3-128 of every block of a buffer in one call, the ids hashing.py's "xxhash" hasher gives
 * one block at a time (xxhash.xxh3_128_digest: seed 0, the canonical big-endian 16 bytes).
 *
 * Why: one Python call per block (slicing a memoryview, calling the hash, building the list) costs more than the
 * hashing itself at 4 KiB blocks; here the hashing runs without the GIL and only the 16-byte results become objects.
 *
 * xxh3_128_blocks(data, ends, start) returns a list of 16-byte bytes objects: block k runs from ends[k - 1] (from
 * `start` for k = 0) to ends[k]. `ends` is a buffer of native int64 end offsets, strictly increasing, above
 * `start` and at most len(data); anything else raises ValueError.
 *
 * xxhash/xxhash.h is xxHash 0.8.4 (BSD 2-Clause, xxhash/LICENSE), the version python-xxhash 4.1.0 bundles; XXH3's
 * output has been stable since 0.8.0.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#include "xxhash/xxhash.h"

#define ID_BYTES 16

static PyObject *xxh3_128_blocks(PyObject *self, PyObject *args) {
    Py_buffer data, ends_buffer;
    Py_ssize_t start;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*n", &data, &ends_buffer, &start)) {
        return NULL;
    }
    PyObject *result = NULL;
    unsigned char *digests = NULL;
    if (ends_buffer.len % (Py_ssize_t)sizeof(int64_t) != 0) {
        PyErr_SetString(PyExc_ValueError, "ends: expected a buffer of int64 values");
        goto done;
    }
    Py_ssize_t count = ends_buffer.len / (Py_ssize_t)sizeof(int64_t);
    const unsigned char *ends_bytes = ends_buffer.buf;
    int64_t previous = start;
    if (start < 0) {
        PyErr_SetString(PyExc_ValueError, "start: expected a non-negative offset");
        goto done;
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        int64_t end;
        memcpy(&end, ends_bytes + index * (Py_ssize_t)sizeof(int64_t), sizeof(end)); /* any alignment */
        if (end <= previous || end > (int64_t)data.len) {
            PyErr_Format(PyExc_ValueError, "ends: offset %lld at index %zd is not above %lld and within %zd bytes",
                         (long long)end, index, (long long)previous, data.len);
            goto done;
        }
        previous = end;
    }
    digests = PyMem_RawMalloc(count ? (size_t)count * ID_BYTES : 1);
    if (digests == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const unsigned char *bytes = data.buf;
    Py_BEGIN_ALLOW_THREADS
    int64_t block_start = start;
    for (Py_ssize_t index = 0; index < count; index++) {
        int64_t end;
        memcpy(&end, ends_bytes + index * (Py_ssize_t)sizeof(int64_t), sizeof(end));
        XXH128_hash_t hash = XXH3_128bits(bytes + block_start, (size_t)(end - block_start));
        XXH128_canonicalFromHash((XXH128_canonical_t *)(digests + index * ID_BYTES), hash);
        block_start = end;
    }
    Py_END_ALLOW_THREADS
    result = PyList_New(count);
    if (result == NULL) {
        goto done;
    }
    for (Py_ssize_t index = 0; index < count; index++) {
        PyObject *digest = PyBytes_FromStringAndSize((const char *)digests + index * ID_BYTES, ID_BYTES);
        if (digest == NULL) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, index, digest);
    }
done:
    PyMem_RawFree(digests);
    PyBuffer_Release(&data);
    PyBuffer_Release(&ends_buffer);
    return result;
}

static PyMethodDef methods[] = {
    {"xxh3_128_blocks", xxh3_128_blocks, METH_VARARGS,
     "xxh3_128_blocks(data, ends, start) -> list of the XXH3-128 digests of data[start:ends[0]], data[ends[0]:ends[1]]..."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_block_ids", "Block ids of many blocks in one call "
                                    "(see hashing.py).", -1, methods};

PyMODINIT_FUNC PyInit__block_ids(void) { return PyModule_Create(&module); }
