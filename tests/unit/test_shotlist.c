/* test_shotlist.c — proto/shotlist: CSV and JSON accept the same lists with the same defaults, and
 * malformed lists are refused with every error naming row and field. */
#include "tests/test.h"
#include "proto/shotlist.h"

#include <stdint.h>

static int parse(const char *s, proto_shotlist_t *l, char *err, size_t errlen)
{
    return proto_shotlist_parse(s, strlen(s), l, err, errlen);
}

static void test_csv_good(void)
{
    const char *csv =
        "\xef\xbb\xbfname,prompt,frames,engine,outputs,seed,fps,window,overlap,priority\r\n"
        "smoke_01,\"a plume, \"\"thick\"\"\nand slow\",300,testcard,\"vp9;ffv1\",18446744073709551615,24,17,4,-5\r\n"
        "\r\n"
        "glass.2,caf\xc3\xa9,1,dit,png,0,8,49,8,100\r\n";
    proto_shotlist_t l;
    char err[2048] = "";
    CHECKF(parse(csv, &l, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(l.n, 2);
    if (l.n != 2) return;
    CHECK_STR(l.shots[0].name, "smoke_01");
    CHECK_STR(l.shots[0].prompt, "a plume, \"thick\"\nand slow");
    CHECK_EQ_INT(l.shots[0].frames, 300);
    CHECK_EQ_INT(l.shots[0].n_outputs, 2);
    CHECK_STR(l.shots[0].outputs[1], "ffv1");
    CHECK(l.shots[0].seed == UINT64_MAX);
    CHECK(l.shots[0].fps == 24);
    CHECK_EQ_INT(l.shots[0].priority, -5);
    CHECK_STR(l.shots[1].prompt, "caf\xc3\xa9");
    CHECK_EQ_INT(l.shots[1].width, 720);          /* defaults */
    CHECK_EQ_INT(l.shots[1].height, 480);
    CHECK_EQ_INT(l.shots[1].steps, 50);
    CHECK(l.shots[1].guidance == 6);
    CHECK_STR(l.shots[1].strategy, "independent");
    proto_shotlist_free(&l);
    CHECK(l.shots == NULL && l.n == 0);
}

static void test_json_same_as_csv(void)
{
    const char *csv = "name,prompt,frames,outputs,width,height,seed,guidance\n"
                      "a,hello,49,prores4444;exr,64,32,7,4.5\n";
    const char *json = "\xef\xbb\xbf [ {\"name\": \"a\", \"prompt\": \"hello\", \"frames\": 49, "
                       "\"outputs\": [\"prores4444\", \"exr\"], \"width\": 64, \"height\": \"32\", "
                       "\"seed\": 7, \"guidance\": 4.5, \"lora\": null} ]";
    proto_shotlist_t a, b;
    char err[2048] = "";
    CHECKF(parse(csv, &a, err, sizeof err) == 0, "%s", err);
    CHECKF(parse(json, &b, err, sizeof err) == 0, "%s", err);
    CHECK(a.n == 1 && b.n == 1 && memcmp(a.shots, b.shots, sizeof *a.shots) == 0);
    proto_shotlist_free(&a);
    proto_shotlist_free(&b);
}

typedef struct { const char *what, *text, *want1, *want2; } bad_t;

static void test_malformed(void)
{
    static char longprompt[2300], badutf[64];
    memset(longprompt, 0, sizeof longprompt);
    strcpy(longprompt, "name,prompt,frames\na,");
    memset(longprompt + strlen(longprompt), 'x', 2001);
    strcat(longprompt, ",5\n");
    snprintf(badutf, sizeof badutf, "name,prompt,frames\na,bad \xc3\x28 utf,5\n");
    const bad_t cases[] = {
        { "missing column", "name,prompt\na,x\n", "row 0, field 'frames'", "required column" },
        { "negative frames", "name,prompt,frames\na,x,-4\n", "row 1, field 'frames'", "1..100000" },
        { "non-numeric frames", "name,prompt,frames\na,x,lots\n", "row 1, field 'frames'", "'lots'" },
        { "overflow frames", "name,prompt,frames\na,x,99999999999999999999\n", "row 1, field 'frames'", "integer" },
        { "zero frames", "name,prompt,frames\na,x,0\n", "row 1, field 'frames'", "1..100000" },
        { "too many frames", "name,prompt,frames\na,x,100001\n", "row 1, field 'frames'", "1..100000" },
        { "duplicate names", "name,prompt,frames\na,x,5\nb,x,5\na,y,5\n", "row 3, field 'name'", "duplicate of row 1" },
        { "unknown format", "name,prompt,frames,outputs\na,x,5,gif\n", "row 1, field 'outputs'", "prores4444" },
        { "bad UTF-8", badutf, "row 1, field 'prompt'", "UTF-8" },
        { "over-long prompt", longprompt, "row 1, field 'prompt'", "2000 bytes" },
        { "name ../x", "name,prompt,frames\n../x,p,5\n", "row 1, field 'name'", "no '..'" },
        { "name with slash", "name,prompt,frames\na/b,p,5\n", "row 1, field 'name'", "'a/b'" },
        { "empty file", "", "file", "empty" },
        { "blank file", " \r\n\n", "file", "empty" },
        { "unknown column", "name,prompt,frames,colour\na,x,5,red\n", "row 0, field 'colour'", "unknown column" },
        { "window not 1+4k", "name,prompt,frames,window,engine\na,x,5,10,testcard\n", "row 1, field 'window'", "1+4k" },
        { "dit window > 49", "name,prompt,frames,window\na,x,5,53\n", "row 1, field 'window'", "at most 49" },
        { "overlap >= window", "name,prompt,frames,window,overlap\na,x,5,9,9\n", "row 1, field 'overlap'", "window-1" },
        { "chain without overlap", "name,prompt,frames,window,overlap,strategy\na,x,33,9,0,chain\n", "row 1, field 'overlap'",
          "at least 1 (dit: 1+4k, e.g. 5)" },
        { "dit chain overlap 8", "name,prompt,frames,strategy\na,x,97,chain\n", "row 1, field 'overlap'", "1+4k; use 5 or 9" },
        { "dit chain overlap 2", "name,prompt,frames,window,overlap,strategy\na,x,33,9,2,chain\n", "row 1, field 'overlap'",
          "use 1 or 5" },
        { "dit chain overlap 7 of 9", "name,prompt,frames,window,overlap,strategy\na,x,33,9,7,chain\n", "row 1, field 'overlap'",
          "1+4k; use 5" },
        { "dit width", "name,prompt,frames,width\na,x,5,100\n", "row 1, field 'width'", "multiple of 16" },
        { "odd height testcard", "name,frames,engine,height\na,5,testcard,33\n", "row 1, field 'height'", "even" },
        { "unknown engine", "name,prompt,frames,engine\na,x,5,magic\n", "row 1, field 'engine'", "testcard, dit" },
        { "unknown strategy", "name,prompt,frames,strategy\na,x,5,best\n", "row 1, field 'strategy'", "independent" },
        { "fps zero", "name,prompt,frames,fps\na,x,5,0\n", "row 1, field 'fps'", "> 0" },
        { "fps nan", "name,prompt,frames,fps\na,x,5,nan\n", "row 1, field 'fps'", "'nan'" },
        { "negative seed", "name,prompt,frames,seed\na,x,5,-1\n", "row 1, field 'seed'", "integer" },
        { "unterminated quote", "name,prompt,frames\na,\"x,5\n", "row 1", "never ends" },
        { "field count", "name,prompt,frames\na,x\n", "row 1", "2 fields" },
        { "header only", "name,prompt,frames\n", "row 1", "no shots" },
        { "dit needs prompt", "name,frames\na,5\n", "row 1, field 'prompt'", "non-empty prompt" },
        { "json not array", "{\"name\":\"a\"}", "file", "array of objects" },
        { "json bool frames", "[{\"name\":\"a\",\"prompt\":\"p\",\"frames\":true}]", "row 1, field 'frames'", "boolean" },
        { "json unknown key", "[{\"name\":\"a\",\"prompt\":\"p\",\"frames\":5,\"colour\":1}]", "row 1, field 'colour'", "unknown field" },
        { "json row not object", "[{\"name\":\"a\",\"prompt\":\"p\",\"frames\":5}, 3]", "row 2", "must be an object" },
        { "json fraction frames", "[{\"name\":\"a\",\"prompt\":\"p\",\"frames\":4.5}]", "row 1, field 'frames'", "'4.5'" },
        { "json syntax", "[{\"name\":\"a\",}]", "file", "line 1, column" },
        { "json empty array", "[]", "file", "no shots" },
        { "duplicate output", "name,prompt,frames,outputs\na,x,5,vp9;vp9\n", "row 1, field 'outputs'", "distinct" },
        { "bad priority", "name,prompt,frames,priority\na,x,5,101\n", "row 1, field 'priority'", "-100..100" },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        proto_shotlist_t l = { 0 };
        char err[4096] = "";
        int rc = parse(cases[k].text, &l, err, sizeof err);
        CHECKF(rc == -1, "%s: accepted", cases[k].what);
        CHECK(l.n == 0 && l.shots == NULL);
        CHECKF(strstr(err, cases[k].want1) && strstr(err, cases[k].want2), "%s: message '%s' lacks '%s' / '%s'",
               cases[k].what, err, cases[k].want1, cases[k].want2);
    }
    CHECKF(sizeof cases / sizeof cases[0] >= 15, "at least 15 malformed cases");
}

/* chain's overlap rule binds only where it matters: a shot longer than its window, and 1+4k only on dit. */
static void test_chain_overlap_accepted(void)
{
    static const char *const ok[] = {
        "name,prompt,frames,window,overlap,strategy\na,x,33,9,5,chain\n",              /* dit, 1+4k */
        "name,prompt,frames,window,overlap,strategy\na,x,97,49,9,chain\n",
        "name,prompt,frames,strategy\na,x,49,chain\n",                                /* one window: overlap unused */
        "name,frames,engine,window,overlap,strategy\na,33,testcard,9,2,chain\n",        /* testcard: any overlap */
        "name,prompt,frames,window,overlap,strategy\na,x,33,9,0,anchor-causal\n",       /* no pinning */
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        proto_shotlist_t l = { 0 };
        char err[4096] = "";
        CHECKF(parse(ok[k], &l, err, sizeof err) == 0, "case %zu refused: %s", k, err);
        proto_shotlist_free(&l);
    }
}

static void test_size_limits(void)
{
    size_t n = 10u << 20;
    char *big = malloc(n + 1);
    memset(big, 'a', n); big[n] = 0;
    memcpy(big, "name,prompt,frames\n", 19);
    proto_shotlist_t l;
    char err[1024];
    CHECK(proto_shotlist_parse(big, n, &l, err, sizeof err) == -1 && strstr(err, "at most 4194304 bytes"));
    free(big);
    /* 1001 shots is over PROTO_SHOTS_MAX */
    size_t cap = 1100 * 32, o = 0;
    char *many = malloc(cap);
    o += (size_t)snprintf(many, cap, "name,frames,engine\n");
    for (int i = 0; i <= PROTO_SHOTS_MAX; i++) o += (size_t)snprintf(many + o, cap - o, "s%d,1,testcard\n", i);
    CHECK(proto_shotlist_parse(many, o, &l, err, sizeof err) == -1 && strstr(err, "more than 1000 shots"));
    free(many);
}

static void test_collects_all_errors(void)
{
    const char *csv = "name,prompt,frames,fps\nok,x,5,8\nbad1,x,-1,8\n../bad,x,5,0\n";
    proto_shotlist_t l;
    char err[4096] = "";
    CHECK(parse(csv, &l, err, sizeof err) == -1);
    CHECKF(strstr(err, "row 2, field 'frames'") && strstr(err, "row 3, field 'name'") &&
           strstr(err, "row 3, field 'fps'"), "got: %s", err);
    /* 80 bad rows: the message is capped and says how many there were */
    char buf[8192]; size_t o = 0;
    o += (size_t)snprintf(buf, sizeof buf, "name,prompt,frames\n");
    for (int i = 0; i < 80; i++) o += (size_t)snprintf(buf + o, sizeof buf - o, "r%d,x,0\n", i);
    static char big_err[65536];
    CHECK(parse(buf, &l, big_err, sizeof big_err) == -1);
    CHECKF(strstr(big_err, "80 errors in total"), "got: %.200s", big_err);
}

static void test_formats_table(void)
{
    CHECK(proto_output_format("prores4444") && !strcmp(proto_output_format("prores4444")->ext, ".mov"));
    CHECK(proto_output_format("png16") != NULL);
    CHECK(proto_output_format("gif") == NULL);
    CHECK(proto_output_format(NULL) == NULL);
    CHECK_STR(proto_shot_field_name(0), "name");
    CHECK(proto_shot_field_name(100) == NULL);
}

int main(void)
{
    T_RUN(test_csv_good);
    T_RUN(test_json_same_as_csv);
    T_RUN(test_malformed);
    T_RUN(test_chain_overlap_accepted);
    T_RUN(test_size_limits);
    T_RUN(test_collects_all_errors);
    T_RUN(test_formats_table);
    T_DONE();
}
