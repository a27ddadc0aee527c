/* cond.h — conditioning blobs between the windows of a shot (issue #8 strategies): a small, self-
 * describing block of float32 latents one window hands to the windows that depend on it.
 *   kind "chain":  a window's final latents of its last P latent frames (RGB half, then alpha half);
 *                  the next window of a `chain` shot pins its first P latent frames to them.
 *   kind "anchor": the anchor stage's final latents (RGB half, then alpha half); every window of an
 *                  `anchor` shot attends to them.
 * Where it travels: the worker attaches it to the rendered frames (proto_frames_t.cond), the artifact
 * file carries it as a trailer covered by the manifest checksum (so farmd verifies and keeps it exactly
 * like the artifact, and a resume re-uses it), and farmd sends the dependency's blob as ASSIGN.data.
 *
 * Encoding (little-endian), PROTO_COND_HDR bytes of header then the data:
 *   0 magic "FRMCOND1"  8 u32 version (1)  12 u32 kind (proto_cond_kind_t)  16 u32 halves (1|2)
 *   20 u32 frames (per half)  24 u32 channels  28 u32 height  32 u32 width
 *   36 u32 first: the absolute shot frame the block's first frame stands for (pixels: that frame;
 *      latents: the frame its first latent frame ends at — a window's latent 0 is its first frame,
 *      latent j >= 1 covers frames 4j-3..4j of the window), so a consumer can place it in its window
 *   40 float32[halves·frames·channels·height·width], laid out (halves·frames, C, H, W)
 * At most PROTO_COND_MAX bytes in all (one ASSIGN carries it whole).
 */
#ifndef PROTO_COND_H
#define PROTO_COND_H
#include <stddef.h>
#include <stdint.h>

#define PROTO_COND_HDR   40u
#define PROTO_COND_MAX   (4u << 20)            /* = PROTO_CHUNK_MAX: fits one ASSIGN */

typedef enum { PROTO_COND_CHAIN = 1, PROTO_COND_ANCHOR = 2, PROTO_COND_KIND_END_ } proto_cond_kind_t;

typedef struct {
    int kind;                       /* proto_cond_kind_t */
    int halves, frames, c, h, w;    /* the latent block (halves·frames, c, h, w) */
    int first;                      /* absolute shot frame of the block's first frame, 0..100000 */
    float *data;                    /* owned (decode) or borrowed (encode) */
} proto_cond_t;

const char *proto_cond_kind_name(int kind);        /* "chain" | "anchor" | "?" */

/* What a strategy's render windows exchange, for every engine (the dit engine in latents, the testcard
 * engine in pixels): the blob kind a window uses when it got one, the kind it hands on (chain: only
 * with overlap > 0), and causal = anchor-causal's [the shot's first frame, the window's last frame].
 * The anchor stage of `anchor` hands on its frame (kind anchor) whatever the row says. */
typedef struct { const char *name; int use, hand_on, causal; } proto_cond_strategy_t;
/* The row of a strategy name; an unknown name gets `independent`'s (nothing exchanged). */
const proto_cond_strategy_t *proto_cond_strategy(const char *name);
/* Number of floats of the block (0 when a dimension is out of range). */
size_t proto_cond_floats(const proto_cond_t *c);
/* Encodes c into a malloc'd blob (*out, *len). 0 ok; -1 with err (bad kind/shape, over the limit). */
int  proto_cond_encode(const proto_cond_t *c, uint8_t **out, size_t *len, char *err, size_t errlen);
/* Validates and decodes a blob from disk or the network; c->data is malloc'd (proto_cond_free).
 * 0 ok; -1 with err naming the bad field. Never reads outside [b, b + len). */
int  proto_cond_decode(const uint8_t *b, size_t len, proto_cond_t *c, char *err, size_t errlen);
void proto_cond_free(proto_cond_t *c);

#endif
