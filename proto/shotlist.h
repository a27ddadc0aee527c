/* shotlist.h — the shot-list format: parse CSV (header row) or JSON (array of objects) and validate
 * every row before anything is written. Used by `farm submit` (early, friendly errors) and by farmd
 * (authoritative: a SUBMIT carries the file text, farmd parses it again).
 *
 * Errors name the row (1-based data row; CSV header is row 0), the field, the bad value and what is
 * allowed, e.g.  "row 3, field 'frames': '-4' is not allowed: an integer 1..100000".
 * All errors of a list are collected (up to a cap), not just the first.
 */
#ifndef PROTO_SHOTLIST_H
#define PROTO_SHOTLIST_H
#include <stddef.h>
#include <stdint.h>

#define PROTO_SHOTLIST_MAX_BYTES   (4u << 20)   /* whole file */
#define PROTO_SHOT_NAME_MAX        64           /* [A-Za-z0-9][A-Za-z0-9._-]*, no "..", unique in a list */
#define PROTO_PROMPT_MAX           2000         /* bytes of valid UTF-8 */
#define PROTO_SHOTS_MAX            1000
#define PROTO_OUTPUTS_MAX          8

typedef struct {
    char     name[PROTO_SHOT_NAME_MAX + 1];
    char     prompt[PROTO_PROMPT_MAX + 1];
    char     negative_prompt[PROTO_PROMPT_MAX + 1];
    int      frames;            /* 1..100000 */
    double   fps;               /* (0, 240], default 8 */
    int      width, height;     /* 16..4096, multiples of 16 for dit; default 720×480 */
    uint64_t seed;              /* default 0 */
    int      steps;             /* 1..1000, default 50 */
    double   guidance;          /* 0..50, default 6 */
    char     model[256];        /* model name or dir (dit engine), default "" */
    char     lora[256];         /* optional LoRA path, default "" */
    char     engine[32];        /* "testcard" | "dit", default "dit" */
    int      window;            /* frames per window, 1+4k, default 49 */
    int      overlap;           /* frames shared by neighbouring windows, 0..window-1, default 8 */
    char     strategy[32];      /* "independent" (default) | "chain" | "anchor" | "anchor-causal" */
    int      n_outputs;
    char     outputs[PROTO_OUTPUTS_MAX][32];   /* format names, see coordinator/assemble formats table */
    int      priority;          /* -100..100, default 0; higher first */
} proto_shot_t;

typedef struct {
    int n;
    proto_shot_t *shots;        /* n entries, owned */
} proto_shotlist_t;

/* The output format names a shot may request (DESIGN.md §9). coordinator/assemble has one encoder
 * row per name; a unit test checks the two tables agree. */
typedef struct { const char *name, *ext, *desc; } proto_output_format_t;
extern const proto_output_format_t PROTO_OUTPUT_FORMATS[];   /* terminated by {NULL} */
/* "prores4444" (.mov), "vp9" (.webm), "ffv1" (.mkv), "png-mov" (.mov), "qtrle" (.mov),
 * "exr" (sequence, half, premultiplied), "png" (sequence, 8-bit), "png16" (sequence, 16-bit). */
const proto_output_format_t *proto_output_format(const char *name);   /* NULL if unknown */

/* Engine and strategy names a shot may request (NULL-terminated). Defined in shotlist.c. */
extern const char *const PROTO_ENGINE_NAMES[];     /* "testcard", "dit" */
extern const char *const PROTO_STRATEGY_NAMES[];   /* "independent", "chain", "anchor", "anchor-causal" */
/* Field names accepted in a shot list, in documentation order (NULL-terminated), and for each the
 * text saying what is allowed (the same text the errors use). */
const char *proto_shot_field_name(int i);
const char *proto_shot_field_allowed(int i);

/* Parses text (format from the first non-space byte after an optional BOM: '[' or '{' JSON, else CSV). 0 ok; -1 with err holding
 * every problem found, one per line. On error *out is left empty (nothing to free). */
int  proto_shotlist_parse(const char *text, size_t len, proto_shotlist_t *out, char *err, size_t errlen);
void proto_shotlist_free(proto_shotlist_t *l);
/* Fills a shot with the documented defaults (used before applying a row's fields). */
void proto_shot_defaults(proto_shot_t *s);

#endif
