/* test_coord_config.c — farmd's option table: defaults, environment over defaults, flags over the
 * environment, "--name=value" form, derived lease and grace, and refusals naming the option. */
#include "tests/test.h"
#include "coordinator/config.h"

static void test_defaults_env_flags(void)
{
    coord_config_t c; char err[256];
    char *a0[] = { "farmd", NULL };
    unsetenv("FARM_BIND"); unsetenv("FARM_HOME"); unsetenv("FARM_HEARTBEAT_MS"); unsetenv("FARM_LEASE_MS");
    CHECK(coord_config_parse(&c, 1, a0, stdout, err, sizeof err) == 0);
    CHECK_STR(c.bind, "tcp://127.0.0.1:7600");
    CHECK_STR(c.home, "./farm-home");
    CHECK_EQ_INT(c.heartbeat_ms, 1000);
    CHECK_EQ_INT(c.lease_ms, 3000);        /* heartbeat * liveness */
    CHECK_EQ_INT(c.grace_ms, 6000);        /* 2 * lease */
    CHECK_EQ_INT(c.max_attempts, 3);
    CHECK_STR(c.sync, "full");
    setenv("FARM_BIND", "tcp://0.0.0.0:9", 1);
    setenv("FARM_HEARTBEAT_MS", "250", 1);
    char *a1[] = { "farmd", "--bind", "ipc:///tmp/x", "--liveness=4", "--max-attempts", "5", NULL };
    CHECK(coord_config_parse(&c, 6, a1, stdout, err, sizeof err) == 0);
    CHECK_STR(c.bind, "ipc:///tmp/x");     /* flag beats environment */
    CHECK_EQ_INT(c.heartbeat_ms, 250);     /* environment beats default */
    CHECK_EQ_INT(c.lease_ms, 1000);
    CHECK_EQ_INT(c.max_attempts, 5);
    unsetenv("FARM_BIND"); unsetenv("FARM_HEARTBEAT_MS");
}

static void test_refusals(void)
{
    coord_config_t c; char err[256];
    char *bad1[] = { "farmd", "--heartbeat-ms", "abc", NULL };
    CHECK(coord_config_parse(&c, 3, bad1, stdout, err, sizeof err) == -1 && strstr(err, "heartbeat-ms"));
    char *bad2[] = { "farmd", "--max-attempts", "0", NULL };
    CHECK(coord_config_parse(&c, 3, bad2, stdout, err, sizeof err) == -1 && strstr(err, "1..100"));
    char *bad3[] = { "farmd", "--nope", "1", NULL };
    CHECK(coord_config_parse(&c, 3, bad3, stdout, err, sizeof err) == -1 && strstr(err, "--nope"));
    char *bad4[] = { "farmd", "--sync", "sometimes", NULL };
    CHECK(coord_config_parse(&c, 3, bad4, stdout, err, sizeof err) == -1 && strstr(err, "full or normal"));
    char *bad5[] = { "farmd", "--bind", NULL };
    CHECK(coord_config_parse(&c, 2, bad5, stdout, err, sizeof err) == -1 && strstr(err, "needs a value"));
    setenv("FARM_LIVENESS", "-3", 1);
    char *a0[] = { "farmd", NULL };
    CHECK(coord_config_parse(&c, 1, a0, stdout, err, sizeof err) == -1 && strstr(err, "FARM_LIVENESS"));
    unsetenv("FARM_LIVENESS");
    FILE *devnull = fopen("/dev/null", "w");
    char *h[] = { "farmd", "--help", NULL };
    CHECK(coord_config_parse(&c, 2, h, devnull, err, sizeof err) == 1);
    fclose(devnull);
}

int main(void)
{
    T_RUN(test_defaults_env_flags);
    T_RUN(test_refusals);
    T_DONE();
}
