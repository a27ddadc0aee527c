/* test_curve.c — CURVE key files and client settings (proto/curve.h): reading and validating Z85
 * key files, NAME-or-PATH resolution, the client's keypair + server key checks, the operator
 * messages. The handshakes themselves are tested with real processes (tests/integration/farm_curve.sh). */
#include "tests/test.h"
#include "proto/curve.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static char dir[256];

static void write_file(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/keys/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static void make_pair(const char *name, char pub[41], char sec[41])
{
    char text[64];
    zmq_curve_keypair(pub, sec);
    snprintf(text, sizeof text, "%s\n", pub);
    char n[128];
    snprintf(n, sizeof n, "%s.public", name);
    write_file(n, text);
    snprintf(text, sizeof text, "  %s  \n", sec);          /* surrounding whitespace is fine */
    snprintf(n, sizeof n, "%s.secret", name);
    write_file(n, text);
}

static void test_read_key(void)
{
    char pub[41], sec[41], got[41], err[512], p[512];
    make_pair("a", pub, sec);
    snprintf(p, sizeof p, "%s/keys/a.secret", dir);
    CHECK(proto_curve_read_key(p, got, err, sizeof err) == 0 && strcmp(got, sec) == 0);
    write_file("short.public", "abc\n");
    snprintf(p, sizeof p, "%s/keys/short.public", dir);
    CHECK(proto_curve_read_key(p, got, err, sizeof err) == -1);
    CHECKF(strstr(err, "short.public' is not a CURVE key: expected 40 Z85 characters") && strstr(err, "found 3"), "%s", err);
    write_file("badchars.public", "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n");   /* 40 chars, '~' is not Z85 */
    snprintf(p, sizeof p, "%s/keys/badchars.public", dir);
    CHECK(proto_curve_read_key(p, got, err, sizeof err) == -1 && strstr(err, "not a CURVE key"));
    snprintf(p, sizeof p, "%s/keys/none.public", dir);
    CHECK(proto_curve_read_key(p, got, err, sizeof err) == -1);
    CHECKF(strstr(err, "cannot read CURVE key") && strstr(err, "farm keygen NAME"), "%s", err);
}

static void test_key_path(void)
{
    char out[512], want[512];
    CHECK(proto_curve_key_path("w1", ".secret", dir, out, sizeof out) == 0);
    snprintf(want, sizeof want, "%s/keys/w1.secret", dir);
    CHECK_STR(out, want);
    CHECK(proto_curve_key_path("w1.public", ".secret", dir, out, sizeof out) == 0);
    CHECK_STR(out, want);                                   /* the ending is replaced */
    CHECK(proto_curve_key_path("/etc/farm/k.secret", ".public", dir, out, sizeof out) == 0);
    CHECK_STR(out, "/etc/farm/k.public");                   /* a path stays a path */
    CHECK(proto_curve_key_path("./k", ".public", dir, out, sizeof out) == 0);
    CHECK_STR(out, "./k.public");
    setenv("FARM_HOME", "/srv/farm", 1);
    CHECK(proto_curve_key_path("x", ".public", NULL, out, sizeof out) == 0);
    CHECK_STR(out, "/srv/farm/keys/x.public");             /* no home given: $FARM_HOME */
    unsetenv("FARM_HOME");
    CHECK(proto_curve_key_path("x", ".public", NULL, out, 8) == -1);
}

static void test_client_load(void)
{
    char pub[41], sec[41], spub[41], ssec[41], err[512];
    proto_curve_client_t k;
    make_pair("cl", pub, sec);
    make_pair("srv", spub, ssec);
    CHECK(proto_curve_client_load(&k, "", "", dir, err, sizeof err) == 0 && !k.on);
    CHECK(proto_curve_client_load(&k, NULL, NULL, dir, err, sizeof err) == 0 && !k.on);
    CHECK(proto_curve_client_load(&k, "cl", "", dir, err, sizeof err) == -1);
    CHECKF(strstr(err, "--curve-key is set but --curve-server is not"), "%s", err);
    CHECK(proto_curve_client_load(&k, "", "srv", dir, err, sizeof err) == -1);
    CHECKF(strstr(err, "--curve-server is set but --curve-key is not"), "%s", err);
    CHECK(proto_curve_client_load(&k, "cl", "srv", dir, err, sizeof err) == 0 && k.on);
    CHECK(strcmp(k.pub, pub) == 0 && strcmp(k.sec, sec) == 0 && strcmp(k.server_pub, spub) == 0);
    CHECK(strstr(k.key_path, "/keys/cl") != NULL);
    CHECK(proto_curve_client_load(&k, "cl", "nosrv", dir, err, sizeof err) == -1 && !k.on);
    CHECKF(strstr(err, "--curve-server: cannot read CURVE key") && strstr(err, "nosrv.public"), "%s", err);
    char text[64];                                         /* srv's public with cl's secret: not a pair */
    snprintf(text, sizeof text, "%s\n", spub);
    write_file("mix.public", text);
    snprintf(text, sizeof text, "%s\n", sec);
    write_file("mix.secret", text);
    CHECK(proto_curve_client_load(&k, "mix", "srv", dir, err, sizeof err) == -1 && !k.on);
    CHECKF(strstr(err, "'mix' and its .secret are not one keypair"), "%s", err);
}

static void test_explain(void)
{
    proto_curve_client_t k = { .on = 1 };
    snprintf(k.pub, sizeof k.pub, "PUBKEY");
    snprintf(k.key_path, sizeof k.key_path, "/h/keys/w9");
    char out[512];
    proto_hs_explain(PROTO_HS_REFUSED, &k, out, sizeof out);
    CHECKF(strstr(out, "refused this client's CURVE key PUBKEY: copy /h/keys/w9.public into"), "%s", out);
    proto_hs_explain(PROTO_HS_MISMATCH, &k, out, sizeof out);
    CHECK(strstr(out, "check that --curve-server is farmd's public key") != NULL);
    proto_hs_explain(PROTO_HS_CLOSED, NULL, out, sizeof out);
    CHECK(strstr(out, "it probably requires CURVE") != NULL);
    proto_hs_explain(PROTO_HS_OK, &k, out, sizeof out);
    CHECK(out[0] == 0);
}

int main(void)
{
    if (!zmq_has("curve")) { printf("skip: this libzmq has no CURVE\n"); return 77; }
    snprintf(dir, sizeof dir, "/tmp/test_curve.%d", (int)getpid());
    char keys[300];
    snprintf(keys, sizeof keys, "%s/keys", dir);
    mkdir(dir, 0700);
    mkdir(keys, 0700);
    T_RUN(test_read_key);
    T_RUN(test_key_path);
    T_RUN(test_client_load);
    T_RUN(test_explain);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", dir);
    T_DONE();
}
