/*
 * _openjpeg: a direct binding to libopenjp2's JP2 encoder, for what imagecodecs cannot ask for.
 *
 * imagecodecs.jpeg2k_encode turns OpenJPEG's component transform (RGB -> YCbCr, or the reversible RCT)
 * on only for exactly three bands. Multispectral scenes have 4 to 16 strongly correlated bands, and
 * the transform on three of them makes their two "chroma" components nearly free. This binding asks
 * OpenJPEG for it whenever there are three bands or more; jpeg2000_transform.py decides whether it
 * pays and which three bands it gets.
 *
 * Why not JPEG 2000 Part 2's array-based transform (opj_set_MCT), which would decorrelate every band:
 * OpenJPEG writes it with SGcod MCT = 2 in the COD marker, and its decoder rejects that value ("Invalid
 * multiple component transformation", j2k.c, since 2.3.1), so neither opj_decompress nor imagecodecs
 * can read such files.
 *
 * One function, encode(): interleaved H x W x bands samples (1 or 2 bytes each, unsigned) in, the
 * bytes of a JP2 file out. Nothing here parses outside input: decoding stays with imagecodecs and
 * opj_decompress. The GIL is released while OpenJPEG works.
 *
 * Encoding parameters are opj_compress's defaults (one tile, one layer, one precinct per resolution,
 * 64 x 64 code-blocks, LRCP, up to 6 resolutions), so the codestream equals opj_compress's for the
 * same samples, PSNR target and transform.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <openjpeg.h>

#define MAX_BANDS 16384 /* Csiz in the SIZ marker is 16 bits */
#define MESSAGE_BYTES 512

/* The encoded file grows in memory; OpenJPEG seeks back to patch box lengths. */
typedef struct {
    unsigned char *data;
    size_t length;   /* bytes written so far (high-water mark) */
    size_t position; /* next write offset */
    size_t capacity;
    int out_of_memory;
} OutputBuffer;

typedef struct {
    char message[MESSAGE_BYTES]; /* OpenJPEG's first error message, for the Python exception */
} ErrorLog;

/* Make room for bytes up to `end`; bytes between the old length and `end` read as zeros. */
static int
output_reserve(OutputBuffer *output, size_t end)
{
    if (end > output->capacity) {
        size_t capacity = output->capacity ? output->capacity : 65536;
        while (capacity < end) {
            capacity = capacity > SIZE_MAX / 2 ? end : capacity * 2;
        }
        unsigned char *grown = realloc(output->data, capacity);
        if (grown == NULL) {
            output->out_of_memory = 1;
            return -1;
        }
        output->data = grown;
        output->capacity = capacity;
    }
    if (end > output->length) {
        memset(output->data + output->length, 0, end - output->length);
        output->length = end;
    }
    return 0;
}

static OPJ_SIZE_T
output_write(void *source, OPJ_SIZE_T count, void *user_data)
{
    OutputBuffer *output = (OutputBuffer *)user_data;
    if (count > SIZE_MAX - output->position || output_reserve(output, output->position + count) < 0) {
        output->out_of_memory = 1;
        return (OPJ_SIZE_T)-1;
    }
    memcpy(output->data + output->position, source, count);
    output->position += count;
    return count;
}

/* The JP2 writer skips past a box header it fills in later, so skipping may extend the file. */
static OPJ_OFF_T
output_skip(OPJ_OFF_T count, void *user_data)
{
    OutputBuffer *output = (OutputBuffer *)user_data;
    if (count < 0 ? (size_t)(-count) > output->position : (size_t)count > SIZE_MAX - output->position) {
        return (OPJ_OFF_T)-1;
    }
    size_t position = (size_t)((OPJ_OFF_T)output->position + count);
    if (output_reserve(output, position) < 0) {
        return (OPJ_OFF_T)-1;
    }
    output->position = position;
    return count;
}

static OPJ_BOOL
output_seek(OPJ_OFF_T offset, void *user_data)
{
    OutputBuffer *output = (OutputBuffer *)user_data;
    if (offset < 0 || output_reserve(output, (size_t)offset) < 0) {
        return OPJ_FALSE;
    }
    output->position = (size_t)offset;
    return OPJ_TRUE;
}

static void
record_error(const char *message, void *client_data)
{
    ErrorLog *log = (ErrorLog *)client_data;
    if (log->message[0] == '\0') {
        snprintf(log->message, MESSAGE_BYTES, "%s", message);
        size_t length = strlen(log->message);
        while (length > 0 && (log->message[length - 1] == '\n' || log->message[length - 1] == ' ')) {
            log->message[--length] = '\0';
        }
    }
}

static void
ignore_message(const char *message, void *client_data)
{
    (void)message;
    (void)client_data;
}

/* The image with one int32 plane per band, filled from interleaved samples. */
static opj_image_t *
planar_image(const unsigned char *samples, OPJ_UINT32 height, OPJ_UINT32 width, OPJ_UINT32 bands,
             int sample_bytes, OPJ_UINT32 precision)
{
    opj_image_cmptparm_t *parameters = calloc(bands, sizeof(opj_image_cmptparm_t));
    if (parameters == NULL) {
        return NULL;
    }
    for (OPJ_UINT32 band = 0; band < bands; band++) {
        parameters[band].dx = 1;
        parameters[band].dy = 1;
        parameters[band].w = width;
        parameters[band].h = height;
        parameters[band].prec = precision;
        parameters[band].sgnd = 0;
    }
    OPJ_COLOR_SPACE colour = bands == 3 ? OPJ_CLRSPC_SRGB : (bands <= 2 ? OPJ_CLRSPC_GRAY : OPJ_CLRSPC_UNSPECIFIED);
    opj_image_t *image = opj_image_create(bands, parameters, colour);
    free(parameters);
    if (image == NULL) {
        return NULL;
    }
    image->x0 = 0;
    image->y0 = 0;
    image->x1 = width;
    image->y1 = height;
    size_t pixels = (size_t)height * width;
    for (OPJ_UINT32 band = 0; band < bands; band++) {
        OPJ_INT32 *plane = image->comps[band].data;
        if (sample_bytes == 1) {
            const uint8_t *source = samples + band;
            for (size_t pixel = 0; pixel < pixels; pixel++) {
                plane[pixel] = source[pixel * bands];
            }
        } else {
            const uint16_t *source = (const uint16_t *)samples + band;
            for (size_t pixel = 0; pixel < pixels; pixel++) {
                plane[pixel] = source[pixel * bands];
            }
        }
    }
    return image;
}

/* opj_compress's default of 6 resolutions, fewer when the smaller side is under 2^(6 - 1) samples
 * (OpenJPEG needs a side of at least 2^(resolutions - 1)). */
static int
resolutions_for(OPJ_UINT32 height, OPJ_UINT32 width)
{
    OPJ_UINT32 side = height < width ? height : width;
    int levels = 1;
    while (levels < 6 && (side >> levels) >= 1) {
        levels++;
    }
    return levels;
}

typedef struct {
    const unsigned char *samples;
    OPJ_UINT32 height, width, bands, precision;
    int sample_bytes;
    double psnr_db;  /* 0: lossless */
    int transform;   /* the component transform on the first three bands */
    int threads;
} EncodeRequest;

/* Runs without the GIL. Returns 0 on success; on failure, log->message says why (or out_of_memory). */
static int
run_encoder(const EncodeRequest *request, OutputBuffer *output, ErrorLog *log)
{
    opj_cparameters_t parameters;
    opj_set_default_encoder_parameters(&parameters);
    parameters.tcp_numlayers = 1;
    parameters.numresolution = resolutions_for(request->height, request->width);
    if (request->psnr_db > 0.0) {
        parameters.irreversible = 1;
        parameters.cp_fixed_quality = 1;
        parameters.tcp_distoratio[0] = (float)request->psnr_db;
    } else {
        parameters.cp_disto_alloc = 1;
        parameters.tcp_rates[0] = 0.0f;
    }
    parameters.tcp_mct = request->transform ? 1 : 0;
    opj_image_t *image = planar_image(request->samples, request->height, request->width, request->bands,
                                      request->sample_bytes, request->precision);
    opj_codec_t *codec = NULL;
    opj_stream_t *stream = NULL;
    int status = -1;
    if (image == NULL) {
        record_error("opj_image_create failed (out of memory?)", log);
        return -1;
    }
    codec = opj_create_compress(OPJ_CODEC_JP2);
    if (codec == NULL) {
        record_error("opj_create_compress failed", log);
        goto done;
    }
    opj_set_error_handler(codec, record_error, log);
    opj_set_warning_handler(codec, ignore_message, NULL);
    opj_set_info_handler(codec, ignore_message, NULL);
    if (!opj_setup_encoder(codec, &parameters, image)) {
        record_error("opj_setup_encoder failed", log);
        goto done;
    }
    if (request->threads > 1 && opj_has_thread_support()) {
        opj_codec_set_threads(codec, request->threads);
    }
    stream = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_FALSE);
    if (stream == NULL) {
        record_error("opj_stream_create failed", log);
        goto done;
    }
    opj_stream_set_user_data(stream, output, NULL);
    opj_stream_set_write_function(stream, output_write);
    opj_stream_set_skip_function(stream, output_skip);
    opj_stream_set_seek_function(stream, output_seek);
    if (!opj_start_compress(codec, image, stream) || !opj_encode(codec, stream) || !opj_end_compress(codec, stream)) {
        record_error(output->out_of_memory ? "out of memory for the encoded file" : "encoding failed", log);
        goto done;
    }
    status = 0;
done:
    if (stream != NULL) {
        opj_stream_destroy(stream);
    }
    if (codec != NULL) {
        opj_destroy_codec(codec);
    }
    opj_image_destroy(image);
    return status;
}

PyDoc_STRVAR(encode_doc,
"encode(samples, height, width, bands, sample_bytes, precision, psnr_db, transform, threads)\n"
"--\n\n"
"Return a JP2 file of interleaved unsigned samples (height x width x bands, native byte order).\n\n"
"sample_bytes: 1 or 2; precision: bits per sample (1-16). psnr_db: OpenJPEG's fixed-quality target in dB\n"
"(irreversible 9/7 wavelet), or 0 for lossless (reversible 5/3). transform: apply the component\n"
"transform to the first three bands (needs 3 bands or more). threads: OpenJPEG worker threads.\n"
"Raises ValueError for inconsistent arguments and RuntimeError with OpenJPEG's message when encoding fails.");

static PyObject *
encode(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer samples = {0};
    unsigned int height, width, bands, precision;
    int sample_bytes, transform, threads;
    double psnr_db;
    if (!PyArg_ParseTuple(args, "y*IIIiIdpi:encode", &samples, &height, &width, &bands, &sample_bytes, &precision,
                          &psnr_db, &transform, &threads)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (height == 0 || width == 0 || bands == 0 || bands > MAX_BANDS) {
        PyErr_Format(PyExc_ValueError, "image of %u x %u x %u samples: every side must be 1 or more, bands at most %d",
                     height, width, bands, MAX_BANDS);
        goto done;
    }
    if ((sample_bytes != 1 && sample_bytes != 2) || precision < 1 || precision > 8u * (unsigned int)sample_bytes) {
        PyErr_Format(PyExc_ValueError, "%d-byte samples cannot hold %u-bit values", sample_bytes, precision);
        goto done;
    }
    if (!(psnr_db >= 0.0) || isinf(psnr_db)) {
        PyErr_Format(PyExc_ValueError, "psnr_db: expected 0 (lossless) or a finite positive target, got %g", psnr_db);
        goto done;
    }
    if (transform && bands < 3) {
        PyErr_Format(PyExc_ValueError, "the component transform needs 3 bands or more, got %u", bands);
        goto done;
    }
    if ((size_t)samples.len / bands / sample_bytes / width != height
        || samples.len != (Py_ssize_t)height * width * bands * sample_bytes) {
        PyErr_Format(PyExc_ValueError, "samples: expected %u x %u x %u samples of %d bytes, got %zd bytes", height,
                     width, bands, sample_bytes, samples.len);
        goto done;
    }
    EncodeRequest request = {
        samples.buf, height, width, bands, precision, sample_bytes, psnr_db, transform, threads < 1 ? 1 : threads,
    };
    OutputBuffer output = {0};
    ErrorLog log = {{0}};
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = run_encoder(&request, &output, &log);
    Py_END_ALLOW_THREADS
    if (status == 0) {
        result = PyBytes_FromStringAndSize((const char *)output.data, (Py_ssize_t)output.length);
    } else if (output.out_of_memory) {
        PyErr_NoMemory();
    } else {
        PyErr_Format(PyExc_RuntimeError, "OpenJPEG: %s", log.message[0] ? log.message : "encoding failed");
    }
    free(output.data);
done:
    PyBuffer_Release(&samples);
    return result;
}

static PyMethodDef methods[] = {
    {"encode", encode, METH_VARARGS, encode_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_openjpeg",
    "libopenjp2's JP2 encoder with its component transform for any band count of 3 or more (see _openjpeg.c).", -1,
    methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__openjpeg(void)
{
    PyObject *module = PyModule_Create(&module_definition);
    if (module != NULL && PyModule_AddStringConstant(module, "OPENJPEG_VERSION", opj_version()) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
