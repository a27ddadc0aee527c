/* safetensors.h — memory-mapped, bounds-checked safetensors reader (single file, or a diffusers
 * component directory with sharded checkpoints behind one handle) and a small writer.
 *
 * Reading: the whole file is mmap'ed read-only; the JSON header is parsed with proto/json and every
 * field is checked before any tensor is exposed: header length vs file size, JSON validity, known
 * dtype, shape product x dtype size == data_offsets span, offsets inside the data area, tensors
 * tiling the data area without overlap or hole, unique names (across all shards too). Any failure is
 * an error that names the file and, where there is one, the tensor.
 *
 * Conversion: wrk_st_read_f32 converts F32/F16/BF16/F64 to fp32 (IEEE: subnormals, inf, nan kept),
 * optionally checking the expected shape, and can read a row range and/or a column range of a tensor
 * viewed as 2-D [dim0, prod(dim1..)] — how a tensor-parallel rank reads only its shard (q/k/v and
 * ff.net.0 split by output rows, to_out.0 and ff.net.2 by input columns, 1-D biases by rows).
 *
 * Writing: wrk_st_write writes any dtype from raw buffers (temp file + fsync + rename).
 *
 * Not here: model-specific name tables (dit), dtype conversion on write, lazy network loading.
 */
#ifndef WORKER_MODEL_SAFETENSORS_H
#define WORKER_MODEL_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#define WRK_ST_MAX_DIMS 8

typedef enum {
    WRK_ST_F32, WRK_ST_F16, WRK_ST_BF16, WRK_ST_F64,
    WRK_ST_I64, WRK_ST_I32, WRK_ST_I16, WRK_ST_I8, WRK_ST_U8, WRK_ST_BOOL,
    WRK_ST_DTYPE_COUNT
} wrk_st_dtype_t;

typedef struct {
    const char    *name;
    wrk_st_dtype_t dtype;
    int            ndim;
    int64_t        shape[WRK_ST_MAX_DIMS];
    int64_t        numel;                /* product of shape (1 for a scalar) */
    size_t         nbytes;               /* numel * dtype size */
    const void    *data;                 /* into the read-only map; may be unaligned */
    const char    *file;                 /* path of the file holding it */
} wrk_st_tensor_t;

typedef struct wrk_st wrk_st_t;

/* Opens `path`:
 *  - a .safetensors file;
 *  - a *.safetensors.index.json file (its "weight_map" names the shard files, same directory);
 *  - a directory holding diffusion_pytorch_model.safetensors[.index.json] or model.safetensors[.index.json]
 *    (index preferred), e.g. a diffusers component folder such as MODEL/transformer.
 * 0 ok (*out owned by the caller: wrk_st_close), -1 with err naming file and tensor. */
int  wrk_st_open(const char *path, wrk_st_t **out, char *err, size_t errlen);
void wrk_st_close(wrk_st_t **st);

int                    wrk_st_count(const wrk_st_t *st);                 /* tensors, all shards */
const wrk_st_tensor_t *wrk_st_at(const wrk_st_t *st, int i);             /* sorted by name */
const wrk_st_tensor_t *wrk_st_find(const wrk_st_t *st, const char *name);/* NULL if absent */
int                    wrk_st_file_count(const wrk_st_t *st);
/* Value of a "__metadata__" string entry of any file of the handle, or NULL. */
const char            *wrk_st_meta(const wrk_st_t *st, const char *key);

const char *wrk_st_dtype_name(wrk_st_dtype_t dt);                        /* "F32", "BF16", ... */
int         wrk_st_dtype_from_name(const char *name, wrk_st_dtype_t *out); /* 0 / -1 */
size_t      wrk_st_dtype_size(wrk_st_dtype_t dt);

/* Reads tensor `name` as fp32 into dst (dst_numel floats available). expect_shape (expect_ndim dims)
 * may be NULL to accept any shape. Source dtype F32, F16, BF16 or F64. 0 / -1 (err names file and
 * tensor: missing, shape mismatch, dtype, dst too small). */
int wrk_st_read_f32(const wrk_st_t *st, const char *name, int expect_ndim, const int64_t *expect_shape,
                    float *dst, int64_t dst_numel, char *err, size_t errlen);

/* Same, but only rows [r0, r1) and columns [c0, c1) of the tensor viewed as [dim0, prod(dims 1..)]
 * (a 1-D tensor is [dim0, 1]). A negative r1 / c1 means "to the end". The checked shape is the FULL
 * tensor shape. dst receives (r1-r0) x (c1-c0) floats, row-major. */
int wrk_st_read_f32_slice(const wrk_st_t *st, const char *name, int expect_ndim,
                          const int64_t *expect_shape, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                          float *dst, int64_t dst_numel, char *err, size_t errlen);

/* Same slicing and checks as wrk_st_read_f32_slice, but the result is bf16 (uint16_t bit patterns):
 * BF16 sources are copied bit for bit, F32/F16/F64 are rounded to nearest even (nan stays nan).
 * For backends that keep weights in bf16 (the CUDA path). */
int wrk_st_read_bf16_slice(const wrk_st_t *st, const char *name, int expect_ndim,
                           const int64_t *expect_shape, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                           uint16_t *dst, int64_t dst_numel, char *err, size_t errlen);

/* Reads an integer tensor (I64, I32, I16, I8, U8) as int64. Same rules as wrk_st_read_f32. */
int wrk_st_read_i64(const wrk_st_t *st, const char *name, int expect_ndim, const int64_t *expect_shape,
                    int64_t *dst, int64_t dst_numel, char *err, size_t errlen);

/* Scalar conversions (exact IEEE semantics; exposed for tests and kernels). */
float    wrk_st_bf16_to_f32(uint16_t h);
float    wrk_st_f16_to_f32(uint16_t h);
uint16_t wrk_st_f32_to_bf16(float f);   /* round to nearest even, nan stays nan */
uint16_t wrk_st_f32_to_f16(float f);    /* round to nearest even, overflow -> inf, subnormals */

/* One tensor to write: data holds numel * dtype size bytes in the file's byte order (little endian). */
typedef struct {
    const char    *name;
    wrk_st_dtype_t dtype;
    int            ndim;
    int64_t        shape[WRK_ST_MAX_DIMS];
    const void    *data;
} wrk_st_wtensor_t;

/* Writes n tensors to path (via path.tmp.PID, fsync, rename). Names must be unique and non-empty.
 * 0 / -1 with err. */
int wrk_st_write(const char *path, int n, const wrk_st_wtensor_t *t, char *err, size_t errlen);

#endif
