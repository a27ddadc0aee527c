/* test_cli_out.c — the farm CLI's shared pieces: one set of printer calls renders the expected text
 * and the equivalent JSON; table-driven option parsing accepts and refuses what it should; the exit
 * code table is consistent; job ids are strict. */
#include "tests/test.h"
#include "ops/cli.h"
#include "ops/commands.h"

#include <stdlib.h>

static char *render(int json)
{
    ops_ctx_t c;
    ops_ctx_init(&c);
    c.json = json;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ops_out_t o;
    ops_out_init(&o, &c, f);
    ops_out_open(&o, NULL);
    ops_out_text(&o, "%-4s %s\n", "ID", "STATE");
    ops_out_list(&o, "jobs");
    for (int i = 1; i <= 2; i++) {
        ops_out_open(&o, NULL);
        ops_out_int(&o, "id", "%-4lld ", i);
        ops_out_state(&o, "state", "%s", i == 1 ? "done" : "fa\"iled");
        ops_out_num(&o, "fps", NULL, 2.5);
        ops_out_text(&o, "\n");
        ops_out_close(&o);
    }
    ops_out_list_end(&o);
    ops_out_close(&o);
    CHECK(ops_out_end(&o) == 0);
    fclose(f);
    return buf;
}

static void test_printer(void)
{
    char *t = render(0), *j = render(1);
    CHECK_STR(t, "ID   STATE\n1    done\n2    fa\"iled\n");
    CHECK_STR(j, "{\"jobs\":[{\"id\":1,\"state\":\"done\",\"fps\":2.5},{\"id\":2,\"state\":\"fa\\\"iled\",\"fps\":2.5}]}\n");
    proto_json_t *v = NULL;
    char err[128];
    CHECK(proto_json_parse(j, strlen(j), NULL, &v, NULL, err, sizeof err) == 0);
    CHECK(ops_ji(proto_json_at(proto_json_get(v, "jobs"), 1), "id") == 2);
    CHECK_STR(ops_js(proto_json_at(proto_json_get(v, "jobs"), 0), "state"), "done");
    CHECK_STR(ops_js(v, "missing"), "");
    proto_json_free(&v);
    free(t); free(j);
}

static void test_parse(void)
{
    ops_ctx_t c;
    ops_ctx_init(&c);
    int flag = 0, n = 7, npos = 0, help = 0;
    char s[16] = "", err[256], *pos[2];
    ops_opt_t tab[] = {
        { "flag", NULL, OPS_OPT_FLAG, &flag, 0, 0, 0, "a flag" },
        { "n", "N", OPS_OPT_INT, &n, 0, 1, 10, "a number" },
        { "s", "S", OPS_OPT_STR, s, sizeof s, 0, 0, "a string" },
    };
    char *a1[] = { "cmd", "x", "--flag", "--n=3", "--s", "hi", "--json", "--coordinator", "ipc://e", "y", NULL };
    CHECK(ops_parse(&c, tab, 3, 10, a1, pos, 1, 2, &npos, &help, err, sizeof err) == 0);
    CHECK(flag == 1 && n == 3 && !strcmp(s, "hi") && c.json == 1 && !strcmp(c.coordinator, "ipc://e"));
    CHECK(npos == 2 && !strcmp(pos[0], "x") && !strcmp(pos[1], "y") && !help);
    CHECK(c.color == 0);                              /* --json never colours */
    struct { int argc; char *argv[4]; const char *needle; } bad[] = {
        { 2, { "cmd", "--nope" }, "unknown option" },
        { 2, { "cmd", "--n" }, "needs a value" },
        { 2, { "cmd", "--n=11" }, "1..10" },
        { 2, { "cmd", "--n=x" }, "not allowed" },
        { 2, { "cmd", "--flag=1" }, "takes no value" },
        { 2, { "cmd", "--s=0123456789abcdefg" }, "longer" },
        { 4, { "cmd", "a", "b", "c" }, "unexpected argument" },
        { 1, { "cmd" }, "missing argument" },
        { 2, { "cmd", "--timeout-ms=5" }, "100..3600000" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        err[0] = 0;
        CHECKF(ops_parse(&c, tab, 3, bad[k].argc, bad[k].argv, pos, 1, 2, &npos, &help, err, sizeof err) == -1 &&
               strstr(err, bad[k].needle), "case %zu: '%s'", k, err);
    }
    char *a2[] = { "cmd", "--help", NULL };
    CHECK(ops_parse(&c, tab, 3, 2, a2, pos, 1, 2, &npos, &help, err, sizeof err) == 0 && help == 1);
}

static void test_tables(void)
{
    for (int i = 0; OPS_EXIT_CODES[i].name; i++) {
        CHECK(OPS_EXIT_CODES[i].code == i);           /* dense and in order: the documented table */
        for (int k = 0; k < i; k++) CHECK(strcmp(OPS_EXIT_CODES[i].name, OPS_EXIT_CODES[k].name) != 0);
    }
    for (int i = 0; OPS_COMMANDS[i].name; i++) {
        CHECK(ops_command_find(OPS_COMMANDS[i].name) == &OPS_COMMANDS[i]);
        CHECK(OPS_COMMANDS[i].fn && OPS_COMMANDS[i].help && *OPS_COMMANDS[i].help);
    }
    CHECK(ops_command_find("nope") == NULL);
    uint64_t id;
    char err[128];
    CHECK(ops_job_id("42", &id, err, sizeof err) == 0 && id == 42);
    CHECK(ops_job_id("0", &id, err, sizeof err) == -1);
    CHECK(ops_job_id("-1", &id, err, sizeof err) == -1);
    CHECK(ops_job_id("4x", &id, err, sizeof err) == -1);
    CHECK(ops_job_id("99999999999999999999999", &id, err, sizeof err) == -1);
    CHECK(ops_state_final("done") && ops_state_final("cancelled") && !ops_state_final("running"));
}

int main(void)
{
    T_RUN(test_printer);
    T_RUN(test_parse);
    T_RUN(test_tables);
    T_DONE();
}
