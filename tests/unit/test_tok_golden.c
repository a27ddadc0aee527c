/* test_tok_golden.c — the C T5 tokenizer (worker/model/tokenizer.h) against transformers'
 * T5Tokenizer on the committed corpus (tests/golden/tokenizer/cases.json, written by
 * tests/reference/gen_tokenizer.py): every id of every case must be equal. Plus the ways of opening
 * a tokenizer and its error cases (missing/bad model file, bad config, bad input). Run from the
 * repository root. */
#include "tests/test.h"

#include "proto/json.h"
#include "worker/model/tokenizer.h"

#include <stdint.h>
#include <unistd.h>

#define GOLD "tests/golden/tokenizer"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = 0;
        *len = (size_t)n;
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* One case: returns 1 when every id matches (prints the first difference otherwise). */
static int check_case(const wrk_tok_t *tok, const proto_json_t *c, int32_t *ids)
{
    const char *name = NULL, *text = NULL;
    int64_t L = 0;
    const proto_json_t *want = proto_json_get(c, "ids");
    char err[256];
    if (proto_json_get_str(c, "name", &name) || proto_json_get_str(c, "text", &text) ||
        proto_json_get_int(c, "max_length", &L) || L < 2 || L > 4096 || !want ||
        (int64_t)proto_json_len(want) != L) {
        fprintf(stderr, "  malformed case %s\n", name ? name : "?");
        return 0;
    }
    int n = wrk_tok_encode(tok, text, (int)L, ids, err, sizeof err);
    if (n < 0) { fprintf(stderr, "  %s: %s\n", name, err); return 0; }
    for (int i = 0; i < L; i++) {
        int64_t w = proto_json_at(want, (size_t)i)->i64;
        if (ids[i] != w) {
            fprintf(stderr, "  %s: id[%d] = %d, transformers %lld\n", name, i, ids[i], (long long)w);
            return 0;
        }
    }
    return 1;
}

static void test_golden_corpus(void)
{
    size_t len = 0;
    char *text = slurp(GOLD "/cases.json", &len), err[256];
    proto_json_t *root = NULL;
    wrk_tok_t *tok = NULL;
    int32_t ids[4096];
    int ok = 0, n = 0;
    CHECKF(text != NULL, "read %s/cases.json", GOLD);
    if (!text) return;
    CHECK(proto_json_parse(text, len, NULL, &root, NULL, err, sizeof err) == 0);
    CHECKF(wrk_tok_open(GOLD "/tokenizer", &tok, err, sizeof err) == 0, "%s", err);
    if (root && tok) {
        n = (int)proto_json_len(root);
        for (int i = 0; i < n; i++) ok += check_case(tok, proto_json_at(root, (size_t)i), ids);
        fprintf(stderr, "  %d/%d cases identical to transformers\n", ok, n);
    }
    CHECKF(n >= 300, "only %d cases", n);
    CHECK_EQ_INT(ok, n);
    wrk_tok_close(&tok);
    CHECK(tok == NULL);
    proto_json_free(&root);
    free(text);
}

static void test_open_forms(void)
{
    static const char *const PATHS[] = { GOLD, GOLD "/tokenizer", GOLD "/tokenizer/spiece.model" };
    char err[256];
    int32_t a[226], b[226];
    for (int i = 0; i < 3; i++) {
        wrk_tok_t *tok = NULL;
        CHECKF(wrk_tok_open(PATHS[i], &tok, err, sizeof err) == 0, "%s: %s", PATHS[i], err);
        if (!tok) continue;
        CHECK_EQ_INT(wrk_tok_vocab_size(tok), 1300);
        CHECK_EQ_INT(wrk_tok_max_length(tok), 226);
        CHECK_EQ_INT(wrk_tok_pad_id(tok), 0);
        CHECK_EQ_INT(wrk_tok_eos_id(tok), 1);
        int n = wrk_tok_encode(tok, "a glowing dragon <extra_id_0> in smoke", 226, i ? b : a, err, sizeof err);
        CHECKF(n > 3 && n < 20, "n = %d (%s)", n, err);
        if (i) CHECK(memcmp(a, b, sizeof a) == 0);
        wrk_tok_close(&tok);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

static void expect_open_error(const char *path, const char *needle)
{
    char err[512] = "";
    wrk_tok_t *tok = NULL;
    CHECKF(wrk_tok_open(path, &tok, err, sizeof err) == -1 && tok == NULL, "%s opened", path);
    CHECKF(strstr(err, needle) != NULL, "error \"%s\" lacks \"%s\"", err, needle);
}

static void test_errors(void)
{
    char dir[] = "/tmp/test_tok_XXXXXX", p[512], err[256];
    wrk_tok_t *tok = NULL;
    int32_t ids[8];
    CHECK(mkdtemp(dir) != NULL);
    expect_open_error("/nonexistent/tok", "/nonexistent/tok");
    expect_open_error(dir, "spiece.model");                          /* empty folder */
    snprintf(p, sizeof p, "%s/spiece.model", dir);
    write_file(p, "this is not a protobuf model at all");
    expect_open_error(dir, p);                                       /* garbage model names the file */
    snprintf(p, sizeof p, "cp " GOLD "/tokenizer/spiece.model %s/spiece.model", dir);
    CHECK(system(p) == 0);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    write_file(p, "{\"legacy\": false}");
    expect_open_error(dir, "legacy=false");
    write_file(p, "{\"legacy\": true, \"added_tokens_decoder\": {\"99999\": {\"content\": \"x\"}}}");
    expect_open_error(dir, "99999");
    write_file(p, "{\"legacy\": null, \"model_max_length\": 77}");   /* null = default (legacy) */
    CHECKF(wrk_tok_open(dir, &tok, err, sizeof err) == 0, "legacy null: %s", err);
    if (tok) CHECK_EQ_INT(wrk_tok_max_length(tok), 77);
    wrk_tok_close(&tok);
    write_file(p, "{\"legacy\": tru");
    expect_open_error(dir, "tokenizer_config.json");
    unlink(p);
    CHECKF(wrk_tok_open(dir, &tok, err, sizeof err) == 0, "no config = defaults: %s", err);
    if (tok) {
        CHECK_EQ_INT(wrk_tok_vocab_size(tok), 1300);
        CHECK(wrk_tok_encode(tok, "ok \xff bad", 8, ids, err, sizeof err) == -1 && strstr(err, "UTF-8"));
        CHECK(wrk_tok_encode(tok, "ok", 1, ids, err, sizeof err) == -1);
        CHECK(wrk_tok_encode(tok, "", 2, ids, err, sizeof err) == 1 && ids[0] == 1 && ids[1] == 0);
        /* two ids: one kept, then EOS */
        CHECK(wrk_tok_encode(tok, "fire fire fire", 2, ids, err, sizeof err) == 2 && ids[1] == 1);
    }
    wrk_tok_close(&tok);
    snprintf(p, sizeof p, "rm -rf %s", dir);
    CHECK(system(p) == 0);
}

int main(void)
{
    T_RUN(test_golden_corpus);
    T_RUN(test_open_forms);
    T_RUN(test_errors);
    T_DONE();
}
