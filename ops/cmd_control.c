/* cmd_control.c — `farm resume|retry|cancel|pause|unpause JOB`: one CONTROL message whose verb is
 * the command name; farmd's answer is printed, an error status exits OPS_EXIT_REFUSED. */
#include "ops/commands.h"

#include <string.h>

int ops_cmd_control(ops_ctx_t *c, int argc, char **argv)
{
    int npos, rc;
    char *pos[1], err[512];
    uint64_t id;
    if ((rc = ops_start(c, argc, argv, NULL, 0, pos, 1, 1, &npos)) >= 0) return rc;
    if (ops_job_id(pos[0], &id, err, sizeof err) < 0) { fprintf(stderr, "farm %s: %s\n", argv[0], err); return OPS_EXIT_USAGE; }
    proto_msg_t m, r;
    proto_msg_init(&m, PROTO_CONTROL);
    snprintf(m.verb, sizeof m.verb, "%s", argv[0]);
    m.job_id = id;
    rc = ops_request(c, &m, PROTO_CONTROL_REPLY, &r, err, sizeof err);
    proto_msg_free(&m);
    if (rc) { fprintf(stderr, "farm %s: %s\n", argv[0], err); return rc; }
    const char *text = r.text && *r.text ? r.text : "ok";
    if (r.status != 0) {
        fprintf(stderr, "farm %s: farmd refused: %s\n", argv[0], text);
        proto_msg_free(&r);
        return OPS_EXIT_REFUSED;
    }
    ops_out_t o;
    ops_out_init(&o, c, stdout);
    ops_out_open(&o, NULL);
    ops_out_int(&o, "job_id", "job %lld: ", (int64_t)id);
    ops_out_str(&o, "verb", "%s: ", argv[0]);
    ops_out_str(&o, "message", "%s\n", text);
    ops_out_close(&o);
    proto_msg_free(&r);
    return ops_out_end(&o) < 0 ? OPS_EXIT_ERROR : OPS_EXIT_OK;
}
