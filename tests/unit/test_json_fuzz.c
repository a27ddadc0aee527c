/* test_json_fuzz.c — mutation fuzzing of the JSON parser and the shot-list parser: tens of thousands
 * of randomly damaged documents (byte flips, insertions, deletions, truncations, splices) must never
 * crash or hang; every document the JSON parser accepts must print and re-parse to the same text,
 * and every refused shot list must say where (a row or "file"). Deterministic seed. */
#include "tests/test.h"
#include "proto/json.h"
#include "proto/shotlist.h"

#include <stdint.h>

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 11);
}

/* Applies 1..4 random edits to src into out (cap bytes); returns the new length. */
static size_t mutate(const char *src, size_t n, char *out, size_t cap)
{
    static const char pool[] = "{}[]\",:\\/-+.0123456789eEtrufalsn \t\r\n\x00\x7f\xc3\xa9\xed\xa0\x80\xff\xf4\x90u";
    memcpy(out, src, n);
    int edits = 1 + (int)(rnd() % 4);
    for (int e = 0; e < edits; e++) {
        size_t at = n ? rnd() % n : 0;
        switch (rnd() % 5) {
        case 0: if (n) out[at] = pool[rnd() % (sizeof pool - 1)]; break;
        case 1: if (n + 1 < cap) { memmove(out + at + 1, out + at, n - at); out[at] = pool[rnd() % (sizeof pool - 1)]; n++; } break;
        case 2: if (n) { memmove(out + at, out + at + 1, n - at - 1); n--; } break;
        case 3: n = at; break;
        case 4: { size_t from = n ? rnd() % n : 0, len = rnd() % 16;     /* splice a piece of itself */
                  if (from + len > n) len = n - from;
                  if (n + len < cap) { memmove(out + at + len, out + at, n - at); memmove(out + at, out + from + (from >= at ? len : 0), len); n += len; } }
                break;
        }
    }
    return n;
}

static void test_json_mutations(void)
{
    const char *seeds[] = {
        "{\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\"], \"b\": {\"c\": {}}, \"d\": []}",
        "[{\"name\":\"s1\",\"frames\":49,\"outputs\":[\"vp9\",\"exr\"]},{\"name\":\"s2\",\"seed\":18446744073709551615}]",
        "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]}}",
    };
    char buf[1024];
    int accepted = 0, refused = 0, bad_roundtrip = 0;
    for (int it = 0; it < 30000; it++) {
        const char *s = seeds[it % 3];
        size_t n = mutate(s, strlen(s), buf, sizeof buf);
        proto_json_t *v = NULL;
        proto_json_error_t pos;
        char err[256];
        if (proto_json_parse(buf, n, NULL, &v, &pos, err, sizeof err) < 0) {
            refused++;
            if (pos.offset > n || pos.line < 1 || pos.column < 1) bad_roundtrip++;
            continue;
        }
        accepted++;
        char *p1 = proto_json_print(v, it & 1), *p2 = NULL;
        proto_json_t *v2 = NULL;
        if (!p1 || proto_json_parse(p1, strlen(p1), NULL, &v2, NULL, err, sizeof err) < 0 ||
            !(p2 = proto_json_print(v2, it & 1)) || strcmp(p1, p2)) bad_roundtrip++;
        free(p1); free(p2);
        proto_json_free(&v); proto_json_free(&v2);
    }
    printf("json: %d accepted, %d refused\n", accepted, refused);
    CHECK(accepted > 100 && refused > 1000);
    CHECK_EQ_INT(bad_roundtrip, 0);
}

static void test_shotlist_mutations(void)
{
    const char *seeds[] = {
        "name,prompt,frames,engine,outputs,width,height\r\na,\"x, \"\"y\"\"\",5,testcard,vp9;exr,64,48\r\nb,z,9,dit,png,720,480\r\n",
        "[{\"name\":\"a\",\"prompt\":\"p\",\"frames\":5,\"outputs\":[\"ffv1\"]},{\"name\":\"b\",\"frames\":\"7\",\"engine\":\"testcard\"}]",
    };
    char buf[1024];
    int ok = 0, refused = 0, unplaced = 0;
    static char err[65536];
    for (int it = 0; it < 20000; it++) {
        const char *s = seeds[it % 2];
        size_t n = mutate(s, strlen(s), buf, sizeof buf);
        proto_shotlist_t l;
        err[0] = 0;
        if (proto_shotlist_parse(buf, n, &l, err, sizeof err) == 0) {
            ok++;
            for (int i = 0; i < l.n; i++)                /* accepted means valid */
                if (l.shots[i].frames < 1 || l.shots[i].frames > 100000 || !l.shots[i].name[0]) unplaced++;
            proto_shotlist_free(&l);
        } else {
            refused++;
            if (!strstr(err, "row ") && !strstr(err, "file")) { if (unplaced < 3) fprintf(stderr, "unplaced: %s\n", err); unplaced++; }
        }
    }
    printf("shot lists: %d accepted, %d refused\n", ok, refused);
    CHECK(ok > 100 && refused > 1000);
    CHECK_EQ_INT(unplaced, 0);
}

int main(void)
{
    T_RUN(test_json_mutations);
    T_RUN(test_shotlist_mutations);
    T_DONE();
}
