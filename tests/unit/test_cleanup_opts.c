/* test_cleanup_opts.c — worker/opts: every option kind parses what it should and refuses what it
 * should with a message naming the option; the subcommand front (wrk_opts_command) answers
 * 0 / 1 (help) / -1 (usage error). The kinds forward, sample and encode declare their options with
 * (ARG, ARGS, FLOAT, DOUBLE, U64) are the focus; STR, INT, LIST and FLAG keep their old behaviour.
 */
#include "tests/test.h"
#include "worker/opts.h"

#include <stddef.h>

typedef struct {
    const char        *path;
    wrk_optv_t         prompts;
    float              bias;
    double             guidance;
    unsigned long long seed;
    int                steps, flag;
    char               name[8], list[16];
} cli_t;

#define O(f) offsetof(cli_t, f), sizeof(((cli_t *)0)->f)
static const wrk_opt_t TAB[] = {
    { "path",     "FILE", WRK_OPT_ARG,    O(path), 0, 0, "a path" },
    { "prompt",   "TEXT", WRK_OPT_ARGS,   O(prompts), 0, 0, "repeatable" },
    { "bias",     "B",    WRK_OPT_FLOAT,  O(bias), 0, 0, "a float" },
    { "guidance", "W",    WRK_OPT_DOUBLE, O(guidance), 0, 0, "a double" },
    { "seed",     "S",    WRK_OPT_U64,    O(seed), 0, 0, "unsigned 64-bit" },
    { "steps",    "N",    WRK_OPT_INT,    O(steps), 1, 100, "an int" },
    { "flag",     NULL,   WRK_OPT_FLAG,   O(flag), 0, 1, "a flag" },
    { "name",     "NAME", WRK_OPT_STR,    O(name), 0, 0, "a short string" },
    { "list",     "X",    WRK_OPT_LIST,   O(list), 0, 0, "a list" },
};
#define N_TAB ((int)(sizeof TAB / sizeof TAB[0]))

/* Parses the words (argv[0] added) into c; returns wrk_opts_parse's result, err filled. */
static int parse(cli_t *c, char *err, size_t errlen, int n, char **words)
{
    char *argv[32] = { "prog" };
    int help = 0, npos = 0;
    for (int i = 0; i < n; i++) argv[i + 1] = words[i];
    *c = (cli_t){ .steps = 7 };
    err[0] = 0;
    return wrk_opts_parse(TAB, N_TAB, c, n + 1, argv, NULL, 0, &npos, &help, err, errlen);
}
#define PARSE(c, err, ...) parse(c, err, sizeof err, (int)(sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *)), \
                                 (char *[]){ __VA_ARGS__ })

static void test_good_values(void)
{
    cli_t c;
    char err[256];
    CHECK(PARSE(&c, err, "--path", "/a/b c", "--prompt", "x, y", "--prompt=z", "--bias", "-1.5", "--guidance=6",
                "--seed", "0x10", "--flag", "--name", "ab", "--list", "a", "--list", "b") == 0);
    CHECK_STR(c.path, "/a/b c");
    CHECK_EQ_INT(c.prompts.n, 2);
    CHECK_STR(c.prompts.v[0], "x, y");
    CHECK_STR(c.prompts.v[1], "z");
    CHECK(c.bias == -1.5f && c.guidance == 6.0);
    CHECK(c.seed == 16ull);
    CHECK(c.flag == 1 && c.steps == 7);
    CHECK_STR(c.name, "ab");
    CHECK_STR(c.list, "a,b");
    CHECK(PARSE(&c, err, "--seed", "18446744073709551615") == 0 && c.seed == 18446744073709551615ull);
}

static void test_bad_values(void)
{
    static const struct { const char *opt, *val, *want; } BAD[] = {
        { "--seed",     "-1",    "--seed: '-1' is not allowed: an unsigned 64-bit integer" },
        { "--seed",     "2x",    "--seed: '2x' is not allowed" },
        { "--seed",     "99999999999999999999", "--seed: '99999999999999999999' is not allowed" },
        { "--bias",     "1e39",  "--bias: '1e39' is not allowed: a finite number" },
        { "--bias",     "nan",   "--bias: 'nan' is not allowed" },
        { "--guidance", "",      "--guidance: '' is not allowed" },
        { "--guidance", "inf",   "--guidance: 'inf' is not allowed" },
        { "--steps",    "0",     "--steps: '0' is not allowed: an integer 1..100" },
        { "--name",     "eightchr", "--name: value longer than 7 bytes" },
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        cli_t c;
        char err[256], opt[32];
        snprintf(opt, sizeof opt, "%s", BAD[i].opt);
        CHECKF(PARSE(&c, err, opt, (char *)BAD[i].val) == -1 && strstr(err, BAD[i].want), "%s %s: '%s'",
               BAD[i].opt, BAD[i].val, err);
    }
}

static void test_repeats_and_errors(void)
{
    cli_t c;
    char err[256], *argv[WRK_OPTV_MAX * 2 + 4] = { "prog" };
    int n = 1, help = 0, npos = 0;
    for (int i = 0; i <= WRK_OPTV_MAX; i++) { argv[n++] = "--prompt"; argv[n++] = "p"; }
    c = (cli_t){ 0 };
    CHECK(wrk_opts_parse(TAB, N_TAB, &c, n - 2, argv, NULL, 0, &npos, &help, err, sizeof err) == 0);
    CHECK_EQ_INT(c.prompts.n, WRK_OPTV_MAX);
    c = (cli_t){ 0 };
    CHECK(wrk_opts_parse(TAB, N_TAB, &c, n, argv, NULL, 0, &npos, &help, err, sizeof err) == -1);
    CHECK(strstr(err, "--prompt: at most 64 values") != NULL);
    CHECK(PARSE(&c, err, "--path") == -1 && strstr(err, "--path needs a value (FILE)"));
    CHECK(PARSE(&c, err, "--bogus") == -1 && strstr(err, "unknown option '--bogus'"));
    CHECK(PARSE(&c, err, "--flag=1") == -1 && strstr(err, "--flag takes no value"));
    CHECK(PARSE(&c, err, "stray") == -1 && strstr(err, "unexpected argument 'stray'"));
}

static void test_command_front(void)
{
    cli_t c = { 0 };
    char *ok[] = { "cmd", "--steps", "3" }, *bad[] = { "cmd", "--steps", "x" }, *help[] = { "cmd", "--help" };
    CHECK(wrk_opts_command("cmd", "usage: cmd", TAB, N_TAB, &c, 3, ok) == 0 && c.steps == 3);
    CHECK(wrk_opts_command("cmd", "usage: cmd", TAB, N_TAB, &c, 3, bad) == -1);
    int r = wrk_opts_command("cmd", "usage: cmd (this help is expected in the test output)", TAB, N_TAB, &c, 2, help);
    CHECK(r == 1);
}

int main(void)
{
    T_RUN(test_good_values);
    T_RUN(test_bad_values);
    T_RUN(test_repeats_and_errors);
    T_RUN(test_command_front);
    T_DONE();
}
