/* test_json.c — proto/json: good inputs parse to the right DOM, evil inputs fail with a position,
 * the writer always produces JSON the parser accepts, and print(parse(x)) round-trips. */
#include "tests/test.h"
#include "proto/json.h"

#include <stdint.h>

static proto_json_t *parse(const char *s, char *err, size_t errlen)
{
    proto_json_t *v = NULL;
    if (proto_json_parse(s, strlen(s), NULL, &v, NULL, err, errlen) < 0) return NULL;
    return v;
}

static void test_good(void)
{
    char err[256] = "";
    proto_json_t *v = parse(" {\"a\": [1, -2.5, 1e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"],"
                            " \"big\": 9007199254740993, \"neg\": -9223372036854775808,"
                            " \"huge\": 18446744073709551616, \"o\": {}, \"e\": [], \"z\": 0 } ", err, sizeof err);
    CHECKF(v != NULL, "%s", err);
    if (!v) return;
    const proto_json_t *a = proto_json_get(v, "a");
    CHECK_EQ_INT(proto_json_len(a), 7);
    CHECK(proto_json_at(a, 0)->is_int && proto_json_at(a, 0)->i64 == 1);
    CHECK(!proto_json_at(a, 1)->is_int && proto_json_at(a, 1)->num == -2.5);
    CHECK(proto_json_at(a, 2)->is_int && proto_json_at(a, 2)->i64 == 1000);
    CHECK(proto_json_at(a, 3)->type == PROTO_JSON_BOOL && proto_json_at(a, 3)->boolean == 1);
    CHECK(proto_json_at(a, 5)->type == PROTO_JSON_NULL);
    CHECK_STR(proto_json_str(proto_json_at(a, 6)), "x\xc3\xa9\xf0\x9f\x98\x80\n");
    int64_t i;
    CHECK(proto_json_get_int(v, "big", &i) == 0 && i == 9007199254740993LL);   /* exact, not via double */
    CHECK(proto_json_get_int(v, "neg", &i) == 0 && i == INT64_MIN);
    CHECK(proto_json_get_int(v, "huge", &i) == -1);                            /* beyond int64 */
    CHECK(proto_json_get_int(v, "missing", &i) == 1);
    const char *s;
    CHECK(proto_json_get_str(v, "z", &s) == -1);
    CHECK(proto_json_get(v, "o")->type == PROTO_JSON_OBJECT && proto_json_len(proto_json_get(v, "o")) == 0);
    CHECK_STR(proto_json_at(v, 0)->key, "a");                                  /* document order kept */
    proto_json_free(&v);
    CHECK(v == NULL);
}

static void test_many_keys(void)
{
    /* Object lookup goes through a sorted index: build a 5000-key object and find every key. */
    size_t cap = 5000 * 32 + 16, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "{");
    for (int k = 4999; k >= 0; k--) n += (size_t)snprintf(s + n, cap - n, "\"k%d\":%d%s", k, k, k ? "," : "");
    snprintf(s + n, cap - n, "}");
    char err[256];
    proto_json_t *v = parse(s, err, sizeof err);
    CHECKF(v != NULL, "%s", err);
    int ok = 1;
    for (int k = 0; v && k < 5000; k++) {
        char key[16]; int64_t x = -1;
        snprintf(key, sizeof key, "k%d", k);
        if (proto_json_get_int(v, key, &x) != 0 || x != k) ok = 0;
    }
    CHECK(ok);
    proto_json_free(&v);
    free(s);
}

static void test_evil(void)
{
    static const struct { const char *text; int line, col; const char *needle; } cases[] = {
        { "", 1, 1, "end of input" },
        { "   ", 1, 4, "end of input" },
        { "{", 1, 2, "string key" },
        { "[1,]", 1, 4, "expected a value" },
        { "{\"a\":1,}", 1, 8, "string key" },
        { "{\"a\" 1}", 1, 6, "':'" },
        { "[1 2]", 1, 4, "','" },
        { "01", 1, 1, "leading zeros" },
        { "-", 1, 1, "digit" },
        { "1.", 1, 3, "after '.'" },
        { "1e", 1, 3, "exponent" },
        { "1e999", 1, 1, "out of range" },
        { "NaN", 1, 1, "expected a value" },
        { "tru", 1, 1, "expected a value" },
        { "\"abc", 1, 1, "unterminated" },
        { "\"a\tb\"", 1, 3, "control character" },
        { "\"\\x\"", 1, 2, "bad escape" },
        { "\"\\u12\"", 1, 2, "4 hex" },
        { "\"\\ud800\"", 1, 2, "lone high surrogate" },
        { "\"\\ud800\\u0041\"", 1, 2, "lone high surrogate" },
        { "\"\\udc00\"", 1, 2, "lone low surrogate" },
        { "\"\\u0000\"", 1, 2, "\\u0000" },
        { "\"\xc3\x28\"", 1, 2, "UTF-8" },              /* bad continuation */
        { "\"\xc0\xaf\"", 1, 2, "UTF-8" },              /* overlong '/' */
        { "\"\xed\xa0\x80\"", 1, 2, "UTF-8" },          /* surrogate encoded as UTF-8 */
        { "\"\xf4\x90\x80\x80\"", 1, 2, "UTF-8" },      /* > U+10FFFF */
        { "\"\xff\"", 1, 2, "UTF-8" },
        { "{\"a\":1,\n \"a\":2}", 2, 6, "duplicate key" },
        { "[1]\n x", 2, 2, "trailing" },
        { "// c\n1", 1, 1, "expected a value" },
        { "[1,\n2,\n\x01]", 3, 1, "expected a value" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        proto_json_t *v = NULL;
        proto_json_error_t e = { 0 };
        char err[256] = "";
        int rc = proto_json_parse(cases[k].text, strlen(cases[k].text), NULL, &v, &e, err, sizeof err);
        CHECKF(rc == -1 && v == NULL, "case %zu accepted", k);
        CHECKF(e.line == cases[k].line && e.column == cases[k].col, "case %zu: at %d:%d, want %d:%d (%s)",
               k, e.line, e.column, cases[k].line, cases[k].col, err);
        CHECKF(strstr(err, cases[k].needle) != NULL, "case %zu: '%s' lacks '%s'", k, err, cases[k].needle);
    }
}

static void test_limits(void)
{
    char deep[200], err[256];
    memset(deep, '[', 100); memset(deep + 100, ']', 100);
    proto_json_t *v = NULL;
    proto_json_limits_t lim = { .max_depth = 50 };
    CHECK(proto_json_parse(deep, 200, &lim, &v, NULL, err, sizeof err) == -1 && strstr(err, "nesting"));
    lim.max_depth = 100;
    CHECK(proto_json_parse(deep, 200, &lim, &v, NULL, err, sizeof err) == 0);
    proto_json_free(&v);
    /* default depth limit holds against a very deep document (no stack overflow) */
    size_t n = 1000000;
    char *big = malloc(n);
    memset(big, '[', n);
    CHECK(proto_json_parse(big, n, NULL, &v, NULL, err, sizeof err) == -1 && strstr(err, "nesting"));
    lim = (proto_json_limits_t){ .max_bytes = 1000 };
    CHECK(proto_json_parse(big, n, &lim, &v, NULL, err, sizeof err) == -1 && strstr(err, "exceeds"));
    free(big);
    /* embedded NUL byte in the middle of the text */
    CHECK(proto_json_parse("[1,\0 2]", 7, NULL, &v, NULL, err, sizeof err) == -1);
}

static void test_writer(void)
{
    proto_json_writer_t w;
    proto_json_w_init(&w, 0);
    proto_json_w_begin_object(&w);
    proto_json_w_key(&w, "s"); proto_json_w_str(&w, "q\"\\\n\x01 \xff end");
    proto_json_w_key(&w, "i"); proto_json_w_int(&w, -42);
    proto_json_w_key(&w, "d"); proto_json_w_num(&w, 0.5);
    proto_json_w_key(&w, "nan"); proto_json_w_num(&w, NAN);
    proto_json_w_key(&w, "a"); proto_json_w_begin_array(&w);
    proto_json_w_bool(&w, 1); proto_json_w_null(&w); proto_json_w_str(&w, NULL);
    proto_json_w_end_array(&w);
    proto_json_w_end_object(&w);
    char *out = NULL, err[256];
    size_t len = 0;
    CHECK(proto_json_w_finish(&w, &out, &len, err, sizeof err) == 0);
    CHECK_STR(out, "{\"s\":\"q\\\"\\\\\\n\\u0001 \xef\xbf\xbd end\",\"i\":-42,\"d\":0.5,\"nan\":null,"
                   "\"a\":[true,null,null]}");
    proto_json_t *v = out ? parse(out, err, sizeof err) : NULL;
    CHECKF(v != NULL, "writer output does not parse: %s", err);
    proto_json_free(&v);
    free(out);

    proto_json_w_init(&w, 0);                   /* misuse: value where a key is needed */
    proto_json_w_begin_object(&w);
    proto_json_w_int(&w, 1);
    proto_json_w_end_object(&w);
    CHECK(proto_json_w_finish(&w, &out, &len, err, sizeof err) == -1);
    proto_json_w_init(&w, 0);                   /* unbalanced */
    proto_json_w_begin_array(&w);
    CHECK(proto_json_w_finish(&w, &out, &len, err, sizeof err) == -1);
}

static void test_roundtrip_and_build(void)
{
    const char *src = "{\"name\":\"a\xc3\xa9\",\"n\":[1,2.25,-3,1e+300],\"t\":true,\"o\":{\"x\":null}}";
    char err[256];
    proto_json_t *v = parse(src, err, sizeof err);
    char *p1 = proto_json_print(v, 0), *p2 = proto_json_print(v, 1);
    proto_json_t *v2 = p2 ? parse(p2, err, sizeof err) : NULL;
    char *p3 = proto_json_print(v2, 0);
    CHECK(p1 && p3 && strcmp(p1, p3) == 0);
    CHECK(p2 && strchr(p2, '\n'));
    free(p1); free(p2); free(p3);
    proto_json_free(&v); proto_json_free(&v2);

    proto_json_t *o = proto_json_new(PROTO_JSON_OBJECT), *arr = proto_json_new(PROTO_JSON_ARRAY);
    CHECK(proto_json_add(o, "zeta", proto_json_new_int(1)) == 0);
    CHECK(proto_json_add(o, "alpha", proto_json_new_str("x")) == 0);
    CHECK(proto_json_add(o, "alpha", proto_json_new_str("dup")) == -1);
    CHECK(proto_json_push(arr, proto_json_new_bool(0)) == 0);
    CHECK(proto_json_push(arr, proto_json_new_num(1.5)) == 0);
    CHECK(proto_json_add(o, "arr", arr) == 0);
    CHECK_STR(proto_json_str(proto_json_get(o, "alpha")), "x");
    char *s = proto_json_print(o, 0);
    CHECK_STR(s, "{\"zeta\":1,\"alpha\":\"x\",\"arr\":[false,1.5]}");
    free(s);
    proto_json_free(&o);
}

static void test_utf8_check(void)
{
    CHECK_EQ_INT(proto_json_utf8_check("ok \xe2\x82\xac", 6), 6);
    CHECK_EQ_INT(proto_json_utf8_check("ab\xe2\x82", 4), 2);
    CHECK_EQ_INT(proto_json_utf8_check("\xed\xbf\xbf", 3), 0);
}

int main(void)
{
    T_RUN(test_good);
    T_RUN(test_many_keys);
    T_RUN(test_evil);
    T_RUN(test_limits);
    T_RUN(test_writer);
    T_RUN(test_roundtrip_and_build);
    T_RUN(test_utf8_check);
    T_DONE();
}
