/* tokenizer.c — T5 tokenizer over libsentencepiece with transformers' added-token rules (see
 * tokenizer.h for the contract; golden: tests/golden/tokenizer, tests/unit/test_tok_golden.c). */
#include "worker/model/tokenizer.h"

#include "proto/json.h"
#include "worker/model/spm_shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------- types ---------------- */

typedef struct {
    char  *content;          /* "<extra_id_0>", "</s>", ... */
    size_t len;
    int    id;
    int    lstrip, rstrip;   /* eats Python whitespace on its left / right */
} tok_added_t;

struct wrk_tok {
    wrk_spm_t   *sp;
    int          sp_size, extra_ids, max_length, pad_id, eos_id;
    tok_added_t *added;      /* the added-token table, unique ids */
    int          n_added;
    char         model_path[1024];
};

typedef struct {
    const char *s;
    size_t      n;
    int         added;       /* index into tok->added, or -1 for plain text */
} tok_seg_t;

/* ---------------- static helpers: files ---------------- */

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int read_text(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (64L << 20) || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: cannot size the file (or larger than 64 MiB)", path);
        fclose(f);
        return -1;
    }
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        snprintf(err, errlen, "%s: read failed", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    *len = (size_t)n;
    return 0;
}

/* model and config paths from a pipeline root, a tokenizer/ folder or a spiece.model file. */
static int resolve_paths(const char *path, char *model, char *config, size_t n, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    if (S_ISREG(st.st_mode)) {
        const char *slash = strrchr(path, '/');
        int dl = slash ? (int)(slash - path) : 1;
        snprintf(model, n, "%s", path);
        snprintf(config, n, "%.*s/tokenizer_config.json", dl, slash ? path : ".");
        return 0;
    }
    snprintf(model, n, "%s/spiece.model", path);
    snprintf(config, n, "%s/tokenizer_config.json", path);
    if (is_file(model)) return 0;
    snprintf(model, n, "%s/tokenizer/spiece.model", path);
    snprintf(config, n, "%s/tokenizer/tokenizer_config.json", path);
    if (is_file(model)) return 0;
    snprintf(err, errlen, "%s: no spiece.model (looked for %s/spiece.model and %s/tokenizer/spiece.model)",
             path, path, path);
    return -1;
}

/* ---------------- static helpers: the added-token table ---------------- */

static int added_find_id(const wrk_tok_t *t, int id)
{
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) return i;
    return -1;
}

static int added_find_content(const wrk_tok_t *t, const char *s)
{
    for (int i = 0; i < t->n_added; i++)
        if (!strcmp(t->added[i].content, s)) return i;
    return -1;
}

/* Sets (replaces by id) one entry; content copied. 0 / -1 on OOM. */
static int added_set(wrk_tok_t *t, int id, const char *content, int lstrip, int rstrip)
{
    int i = added_find_id(t, id);
    char *c = strdup(content);
    if (!c) return -1;
    if (i < 0) {
        tok_added_t *a = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *a);
        if (!a) { free(c); return -1; }
        t->added = a;
        i = t->n_added++;
    } else {
        free(t->added[i].content);
    }
    t->added[i] = (tok_added_t){ c, strlen(c), id, lstrip, rstrip };
    return 0;
}

/* T5Tokenizer's defaults: <pad>, </s>, <unk> at their piece ids (no stripping) and
 * <extra_id_i> at sp_size - 1 + extra_ids - i (lstrip and rstrip). */
static int added_defaults(wrk_tok_t *t)
{
    static const char *const SPECIAL[] = { "<pad>", "</s>", "<unk>" };
    int unk, bos, eos, pad;
    char name[32];
    wrk_spm_special_ids(t->sp, &unk, &bos, &eos, &pad);
    for (int i = 0; i < 3; i++) {
        int id = wrk_spm_piece_to_id(t->sp, SPECIAL[i]);
        if (id < 0 || (id == unk && strcmp(SPECIAL[i], "<unk>"))) continue;
        if (added_set(t, id, SPECIAL[i], 0, 0)) return -1;
    }
    for (int i = 0; i < t->extra_ids; i++) {
        snprintf(name, sizeof name, "<extra_id_%d>", i);
        if (added_set(t, t->sp_size - 1 + t->extra_ids - i, name, 1, 1)) return -1;
    }
    return 0;
}

/* ---------------- static helpers: tokenizer_config.json ---------------- */

static int config_entry(wrk_tok_t *t, const proto_json_t *e, const char *cfg, char *err, size_t errlen)
{
    char *end = NULL;
    long id = strtol(e->key, &end, 10);
    const char *content = NULL;
    int lstrip = 0, rstrip = 0, single = 0;
    if (!end || *end || id < 0 || id >= t->sp_size + t->extra_ids || e->type != PROTO_JSON_OBJECT ||
        proto_json_get_str(e, "content", &content) != 0 || !content[0] ||
        proto_json_get_bool(e, "lstrip", &lstrip) < 0 || proto_json_get_bool(e, "rstrip", &rstrip) < 0 ||
        proto_json_get_bool(e, "single_word", &single) < 0) {
        snprintf(err, errlen, "%s: added_tokens_decoder entry \"%s\": needs an id below %d and "
                 "{content, lstrip, rstrip, single_word}", cfg, e->key, t->sp_size + t->extra_ids);
        return -1;
    }
    if (single) {
        snprintf(err, errlen, "%s: added token \"%s\": single_word tokens are not supported", cfg, content);
        return -1;
    }
    if (added_set(t, (int)id, content, lstrip, rstrip)) { snprintf(err, errlen, "out of memory"); return -1; }
    return 0;
}

static int config_apply(wrk_tok_t *t, const proto_json_t *root, const char *cfg, char *err, size_t errlen)
{
    int legacy = 1;
    int64_t extra = t->extra_ids;
    double maxlen = 0;
    const proto_json_t *dec = proto_json_get(root, "added_tokens_decoder"), *lg = proto_json_get(root, "legacy");
    if (root->type != PROTO_JSON_OBJECT ||                    /* legacy: null means the default (true) */
        (lg && lg->type != PROTO_JSON_NULL && proto_json_get_bool(root, "legacy", &legacy) < 0) ||
        proto_json_get_int(root, "extra_ids", &extra) < 0 || extra < 0 || extra > 100000 ||
        proto_json_get_num(root, "model_max_length", &maxlen) < 0 ||
        (dec && dec->type != PROTO_JSON_OBJECT)) {
        snprintf(err, errlen, "%s: expected an object with legacy (bool), extra_ids (0..100000), "
                 "model_max_length (number), added_tokens_decoder (object)", cfg);
        return -1;
    }
    if (!legacy) {
        snprintf(err, errlen, "%s: legacy=false (non-legacy T5 tokenization) is not supported", cfg);
        return -1;
    }
    t->extra_ids = (int)extra;
    if (maxlen >= 2 && maxlen <= (1 << 20)) t->max_length = (int)maxlen;
    if (added_defaults(t)) { snprintf(err, errlen, "out of memory"); return -1; }
    for (size_t i = 0; dec && i < dec->len; i++)
        if (config_entry(t, &dec->kids[i], cfg, err, errlen)) return -1;
    return 0;
}

static int config_load(wrk_tok_t *t, const char *cfg, char *err, size_t errlen)
{
    char *text = NULL, jerr[200];
    size_t len = 0;
    proto_json_t *root = NULL;
    int rc = -1;
    if (!is_file(cfg)) return added_defaults(t) ? (snprintf(err, errlen, "out of memory"), -1) : 0;
    if (read_text(cfg, &text, &len, err, errlen)) return -1;
    if (proto_json_parse(text, len, NULL, &root, NULL, jerr, sizeof jerr)) {
        snprintf(err, errlen, "%s: %s", cfg, jerr);
        goto out;
    }
    rc = config_apply(t, root, cfg, err, errlen);
out:
    proto_json_free(&root);
    free(text);
    return rc;
}

/* ---------------- static helpers: splitting and whitespace ---------------- */

/* Python's str.isspace() for one code point. */
static int py_isspace(unsigned cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* Decodes the (valid) UTF-8 sequence at s; *n = its length. */
static unsigned utf8_at(const unsigned char *s, int *n)
{
    if (s[0] < 0x80) { *n = 1; return s[0]; }
    if (s[0] < 0xe0) { *n = 2; return ((s[0] & 0x1fu) << 6) | (s[1] & 0x3fu); }
    if (s[0] < 0xf0) { *n = 3; return ((s[0] & 0x0fu) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu); }
    *n = 4;
    return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) | (s[3] & 0x3fu);
}

static void seg_lstrip(tok_seg_t *g)
{
    int k;
    while (g->n && py_isspace(utf8_at((const unsigned char *)g->s, &k))) { g->s += k; g->n -= (size_t)k; }
}

static void seg_rstrip(tok_seg_t *g)
{
    while (g->n) {
        size_t b = g->n - 1;
        int k;
        while (b > 0 && ((unsigned char)g->s[b] & 0xc0) == 0x80) b--;
        if (!py_isspace(utf8_at((const unsigned char *)g->s + b, &k))) break;
        g->n = b;
    }
}

/* Longest added token starting at s (n bytes left), or -1. */
static int match_added(const wrk_tok_t *t, const char *s, size_t n)
{
    int best = -1;
    for (int i = 0; i < t->n_added; i++) {
        const tok_added_t *a = &t->added[i];
        if (a->len <= n && a->content[0] == s[0] && !memcmp(a->content, s, a->len) &&
            (best < 0 || a->len > t->added[best].len))
            best = i;
    }
    return best;
}

/* Splits text on added tokens (leftmost, longest), like transformers' Trie.split. segs holds
 * 2·len + 1 entries at most. Returns the count. */
static int split_added(const wrk_tok_t *t, const char *text, size_t len, tok_seg_t *segs)
{
    int ns = 0;
    size_t start = 0, p = 0;
    while (p < len) {
        int m = match_added(t, text + p, len - p);
        if (m < 0) { p++; continue; }
        if (p > start) segs[ns++] = (tok_seg_t){ text + start, p - start, -1 };
        segs[ns++] = (tok_seg_t){ text + p, t->added[m].len, m };
        p += t->added[m].len;
        start = p;
    }
    if (len > start) segs[ns++] = (tok_seg_t){ text + start, len - start, -1 };
    return ns;
}

/* PreTrainedTokenizer.tokenize: an added token with rstrip eats the whitespace at the start of
 * its right neighbour, one with lstrip the whitespace at the end of its left neighbour. */
static void strip_around(const wrk_tok_t *t, tok_seg_t *segs, int ns)
{
    for (int i = 0; i < ns; i++) {
        if (segs[i].added < 0) continue;
        const tok_added_t *a = &t->added[segs[i].added];
        if (a->rstrip && i + 1 < ns && segs[i + 1].n) seg_lstrip(&segs[i + 1]);
        if (a->lstrip && i > 0 && segs[i - 1].n) seg_rstrip(&segs[i - 1]);
    }
}

/* Appends the ids of every segment to ids[*k..keep); ids past keep are dropped (truncation). */
static int encode_segs(const wrk_tok_t *t, const tok_seg_t *segs, int ns, int32_t *ids, int keep, int *k,
                       char *err, size_t errlen)
{
    for (int i = 0; i < ns && *k < keep; i++) {
        int n = 0;
        if (segs[i].added >= 0) { ids[(*k)++] = t->added[segs[i].added].id; continue; }
        if (!segs[i].n) continue;
        if (wrk_spm_encode(t->sp, segs[i].s, segs[i].n, ids + *k, keep - *k, &n, err, errlen)) return -1;
        *k += n < keep - *k ? n : keep - *k;
    }
    return 0;
}

/* ---------------- public API ---------------- */

int wrk_tok_open(const char *path, wrk_tok_t **out, char *err, size_t errlen)
{
    char cfg[1024];
    int pad, eos;
    wrk_tok_t *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t) { snprintf(err, errlen, "out of memory"); return -1; }
    t->extra_ids = 100;
    t->max_length = WRK_TOK_MAX_LEN_DEFAULT;
    if (resolve_paths(path, t->model_path, cfg, sizeof cfg, err, errlen) ||
        wrk_spm_load(t->model_path, &t->sp, err, errlen))
        goto fail;
    t->sp_size = wrk_spm_size(t->sp);
    if (config_load(t, cfg, err, errlen)) goto fail;
    pad = added_find_content(t, "<pad>");
    eos = added_find_content(t, "</s>");
    if (pad < 0 || eos < 0) {
        snprintf(err, errlen, "%s: the model has no <pad> or </s> piece (T5 needs pad 0, eos 1)", t->model_path);
        goto fail;
    }
    t->pad_id = t->added[pad].id;
    t->eos_id = t->added[eos].id;
    *out = t;
    return 0;
fail:
    wrk_tok_close(&t);
    return -1;
}

void wrk_tok_close(wrk_tok_t **tok)
{
    if (!tok || !*tok) return;
    for (int i = 0; i < (*tok)->n_added; i++) free((*tok)->added[i].content);
    free((*tok)->added);
    wrk_spm_free(&(*tok)->sp);
    free(*tok);
    *tok = NULL;
}

int wrk_tok_encode(const wrk_tok_t *t, const char *text, int max_len, int32_t *ids, char *err,
                   size_t errlen)
{
    size_t len = text ? strlen(text) : 0, bad;
    tok_seg_t *segs = NULL;
    int k = 0, ns;
    if (!t || !text || !ids || max_len < 2) {
        snprintf(err, errlen, "tokenizer: bad arguments (max_len %d, needs >= 2 and a prompt)", max_len);
        return -1;
    }
    if ((bad = proto_json_utf8_check(text, len)) != len) {
        snprintf(err, errlen, "prompt is not valid UTF-8 (byte %zu)", bad);
        return -1;
    }
    segs = malloc((2 * len + 1) * sizeof *segs);
    if (!segs) { snprintf(err, errlen, "out of memory"); return -1; }
    ns = split_added(t, text, len, segs);
    strip_around(t, segs, ns);
    if (encode_segs(t, segs, ns, ids, max_len - 1, &k, err, errlen)) { free(segs); return -1; }
    free(segs);
    if (k == 0 || ids[k - 1] != t->eos_id) ids[k++] = t->eos_id;   /* _add_eos_if_not_present */
    for (int i = k; i < max_len; i++) ids[i] = t->pad_id;
    return k;
}

int wrk_tok_vocab_size(const wrk_tok_t *t) { return t->sp_size + t->extra_ids; }
int wrk_tok_max_length(const wrk_tok_t *t) { return t->max_length; }
int wrk_tok_pad_id(const wrk_tok_t *t) { return t->pad_id; }
int wrk_tok_eos_id(const wrk_tok_t *t) { return t->eos_id; }
