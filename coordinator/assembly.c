/* assembly.c — the one call site of coord_assemble_shot (coordinator/assemble/): gathers a shot's
 * verified windows from the store on the loop thread, runs the assembly on a pool thread into
 * FARM_HOME/outputs/<job id>/<shot name>, and records the result (or the error) on the loop. */
#include "coordinator/farmd.h"
#include "coordinator/assemble/assemble.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t shot_id;
    store_shot_info_t si;
    proto_manifest_t *man;
    const char **paths;
    const char *outs[PROTO_OUTPUTS_MAX];
    char out_dir[1100];
    coord_assembly_result_t res;
    int ok;
    char err[1024];
} atask_t;

static void atask_free(atask_t *t)
{
    store_shot_info_free(&t->si);
    free(t->man); free(t->paths); free(t);
}

static void assembly_run(void *arg)
{
    atask_t *t = arg;
    const proto_shot_t *s = &t->si.shot;
    if (coord_mkdirs(t->out_dir, t->err, sizeof t->err) != 0) return;
    coord_assembly_t a = {
        .shot_name = s->name, .frames = s->frames, .fps = s->fps, .width = s->width, .height = s->height,
        .n_windows = t->si.n_windows, .artifact_paths = t->paths, .manifests = t->man,
        .n_outputs = s->n_outputs, .outputs = t->outs, .out_dir = t->out_dir,
    };
    t->ok = coord_assemble_shot(&a, &t->res, t->err, sizeof t->err) == 0;
}

static void assembly_finish(void *arg, void *ctx)
{
    atask_t *t = arg;
    coord_farmd_t *f = ctx;
    store_outcome_t o; char err[512], result[9 * 1100 + 1100] = "";
    for (int i = 0; t->ok && i < t->res.n && i < 9; i++) {
        strncat(result, t->res.paths[i], sizeof result - strlen(result) - 2);
        strcat(result, "\n");
    }
    if (t->ok && t->res.contact_sheet[0]) strncat(result, t->res.contact_sheet, sizeof result - strlen(result) - 1);
    if (store_shot_assembled(f->st, t->shot_id, t->ok, t->ok ? result : t->err, coord_wall_ms(), &o, err, sizeof err) != 0)
        coord_logf("shot %lld: %s", (long long)t->shot_id, err);
    else {
        coord_logf("shot %lld (%s) %s%s", (long long)t->shot_id, t->si.shot.name, t->ok ? "assembled" : "assembly failed: ",
                   t->ok ? "" : t->err);
        for (int i = 0; t->ok && i < t->res.n && i < 9; i++)   /* each output's decode-back verdict */
            coord_logf("shot %lld (%s) %s: %s", (long long)t->shot_id, t->si.shot.name, t->res.paths[i], t->res.summary[i]);
        coord_outcome(f, &o);
    }
    atask_free(t);
}

/* Parses the manifests and builds the argument arrays; -1 with t->err. */
static int prepare(coord_farmd_t *f, atask_t *t)
{
    int n = t->si.n_windows;
    t->man = calloc((size_t)n + 1, sizeof *t->man);
    t->paths = calloc((size_t)n + 1, sizeof *t->paths);
    if (!t->man || !t->paths) { snprintf(t->err, sizeof t->err, "out of memory"); return -1; }
    for (int i = 0; i < n; i++) {
        t->paths[i] = t->si.artifacts[i];
        if (proto_manifest_parse(t->si.manifests[i], &t->man[i], t->err, sizeof t->err) != 0) return -1;
    }
    for (int i = 0; i < t->si.shot.n_outputs; i++) t->outs[i] = t->si.shot.outputs[i];
    if (!proto_id_valid(t->si.shot.name)) { snprintf(t->err, sizeof t->err, "shot name is not a valid id"); return -1; }
    snprintf(t->out_dir, sizeof t->out_dir, "%s/%lld/%s", f->dir_out, (long long)t->si.job_id, t->si.shot.name);
    return 0;
}

void coord_assembly_start(coord_farmd_t *f, int64_t shot_id)
{
    atask_t *t = calloc(1, sizeof *t);
    char err[512];
    if (!t) return;
    t->shot_id = shot_id;
    if (store_shot_info(f->st, shot_id, &t->si, err, sizeof err) != 0) {
        coord_logf("assembly of shot %lld: %s", (long long)shot_id, err);
        atask_free(t);
        return;
    }
    coord_task_t task = { assembly_run, assembly_finish, t };
    if (prepare(f, t) != 0) { assembly_finish(t, f); return; }
    coord_logf("assembling shot %lld (%s): %d windows", (long long)shot_id, t->si.shot.name, t->si.n_windows);
    if (coord_tasks_submit(f->atasks, &task) != 0) { snprintf(t->err, sizeof t->err, "out of memory"); assembly_finish(t, f); }
}
