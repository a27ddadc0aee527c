/* test_worker_outbox.c — the worker outbox is crash-safe: committed entries survive, partial ones
 * (artifact without meta, temporaries, damaged artifacts) are dropped on reopen, and a child killed
 * with SIGKILL at random moments while writing never leaves an entry that fails verification. */
#include "tests/test.h"
#include "worker/outbox.h"
#include "worker/testcard.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_dir[256];

static void make_frames(proto_frames_t *f, int n, uint64_t seed)
{
    char err[128];
    CHECK(proto_frames_alloc(f, 32, 16, n, 0, err, sizeof err) == 0);
    for (int i = 0; i < n; i++) wrk_testcard_frame(seed, i, 32, 16, proto_frame(f, i), err, sizeof err);
}

static int exists(uint64_t id, const char *ext)
{
    char p[512];
    snprintf(p, sizeof p, "%s/a%llu%s", g_dir, (unsigned long long)id, ext);
    return access(p, F_OK) == 0;
}

static void test_put_list_remove(void)
{
    wrk_outbox_t ob;
    char err[256];
    CHECKF(wrk_outbox_open(&ob, g_dir, 1, err, sizeof err) == 0, "%s", err);
    proto_frames_t f;
    make_frames(&f, 3, 5);
    wrk_outbox_entry_t e, *l = NULL;
    int n = -1;
    CHECKF(wrk_outbox_put(&ob, 17, &f, &e, err, sizeof err) == 0, "%s", err);
    CHECK(wrk_outbox_put(&ob, 9, &f, &e, err, sizeof err) == 0);
    CHECK(wrk_outbox_list(&ob, &l, &n, err, sizeof err) == 0 && n == 2);
    CHECK(n == 2 && l[0].attempt_id == 9 && l[1].attempt_id == 17);     /* attempt order */
    proto_manifest_t m;
    CHECK(n == 2 && proto_manifest_parse(l[1].manifest, &m, err, sizeof err) == 0 && m.n == 3 && m.w == 32);
    CHECK(n == 2 && proto_artifact_verify(l[1].path, &m, NULL, err, sizeof err) == 0);
    free(l);
    CHECK(wrk_outbox_remove(&ob, 9, err, sizeof err) == 0 && !exists(9, ".frm") && !exists(9, ".meta"));
    CHECK(wrk_outbox_remove(&ob, 9, err, sizeof err) == 0);             /* idempotent */
    CHECK(wrk_outbox_remove(&ob, 17, err, sizeof err) == 0);
    proto_frames_free(&f);
}

static void test_reopen_drops_partial(void)
{
    wrk_outbox_t ob;
    char err[256], p[512];
    proto_frames_t f;
    make_frames(&f, 2, 6);
    wrk_outbox_entry_t e;
    CHECK(wrk_outbox_open(&ob, g_dir, 1, err, sizeof err) == 0);
    CHECK(wrk_outbox_put(&ob, 1, &f, &e, err, sizeof err) == 0);        /* good */
    CHECK(wrk_outbox_put(&ob, 2, &f, &e, err, sizeof err) == 0);        /* crash before meta: */
    snprintf(p, sizeof p, "%s/a2.meta", g_dir); unlink(p);
    CHECK(wrk_outbox_put(&ob, 3, &f, &e, err, sizeof err) == 0);        /* damaged artifact: */
    int fd = open(e.path, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, "XXXX", 4, 100) == 4);
    close(fd);
    CHECK(wrk_outbox_put(&ob, 4, &f, &e, err, sizeof err) == 0);        /* truncated artifact: */
    CHECK(truncate(e.path, 50) == 0);
    snprintf(p, sizeof p, "%s/a5.meta.tmp.123", g_dir);                 /* leftover temporary */
    FILE *t = fopen(p, "w"); fputs("x", t); fclose(t);
    snprintf(p, sizeof p, "%s/a6.meta", g_dir);                         /* garbage meta */
    t = fopen(p, "w"); fputs("farm-outbox 1\nattempt=7\n", t); fclose(t);
    CHECK(wrk_outbox_open(&ob, g_dir, 1, err, sizeof err) == 0);        /* "restart" */
    wrk_outbox_entry_t *l = NULL;
    int n = 0;
    CHECK(wrk_outbox_list(&ob, &l, &n, err, sizeof err) == 0);
    CHECKF(n == 1 && l[0].attempt_id == 1, "n=%d", n);
    CHECK(!exists(2, ".frm") && !exists(3, ".frm") && !exists(4, ".meta") && !exists(6, ".meta"));
    snprintf(p, sizeof p, "%s/a5.meta.tmp.123", g_dir);
    CHECK(access(p, F_OK) != 0);
    free(l);
    wrk_outbox_remove(&ob, 1, err, sizeof err);
    proto_frames_free(&f);
}

/* A child writes entries forever; it is SIGKILLed at a random moment; every entry that survives
 * must verify, and none may be half there. */
static void test_kill_while_writing(void)
{
    srand(12345);
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            wrk_outbox_t ob;
            char err[256];
            proto_frames_t f;
            if (wrk_outbox_open(&ob, g_dir, 0, err, sizeof err) < 0) _exit(1);
            make_frames(&f, 40, 7);
            for (uint64_t id = 1000 * (uint64_t)(round + 1);; id++) {
                wrk_outbox_entry_t e;
                if (wrk_outbox_put(&ob, id, &f, &e, err, sizeof err) < 0) _exit(1);
            }
        }
        struct timespec ts = { 0, (long)(20 + rand() % 60) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st));
        wrk_outbox_t ob;
        char err[256];
        CHECK(wrk_outbox_open(&ob, g_dir, 1, err, sizeof err) == 0);
        wrk_outbox_entry_t *l = NULL;
        int n = 0, bad = 0;
        CHECK(wrk_outbox_list(&ob, &l, &n, err, sizeof err) == 0);
        for (int i = 0; i < n; i++) {
            proto_manifest_t m;
            if (proto_manifest_parse(l[i].manifest, &m, err, sizeof err) < 0 ||
                proto_artifact_verify(l[i].path, &m, NULL, err, sizeof err) < 0) bad++;
        }
        CHECKF(bad == 0 && n > 0, "round %d: %d entries, %d bad", round, n, bad);
        free(l);
    }
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_worker_outbox.%d/deep/box", (int)getpid());
    T_RUN(test_put_list_remove);
    T_RUN(test_reopen_drops_partial);
    T_RUN(test_kill_while_writing);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/test_worker_outbox.%d", (int)getpid());
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    T_DONE();
}
