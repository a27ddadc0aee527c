/* states.c — the transition table (DESIGN.md §5). Everything that changes a state goes through it. */
#include "sql/states.h"
#include <string.h>

#define J STORE_E_JOB
#define S STORE_E_SHOT
#define W STORE_E_WINDOW
#define A STORE_E_ATTEMPT
const store_transition_t STORE_TRANSITIONS[] = {
    /* job: queued -> running -> done | failed; paused and cancelled by operators */
    { J, "start",    "queued",    "running" },
    { J, "pause",    "queued",    "paused" },
    { J, "pause",    "running",   "paused" },
    { J, "unpause",  "paused",    "running" },
    { J, "complete", "running",   "done" },
    { J, "complete", "paused",    "done" },
    { J, "fail",     "running",   "failed" },
    { J, "fail",     "paused",    "failed" },
    { J, "cancel",   "queued",    "cancelled" },
    { J, "cancel",   "running",   "cancelled" },
    { J, "cancel",   "paused",    "cancelled" },
    { J, "resume",   "failed",    "running" },
    { J, "resume",   "cancelled", "running" },
    { J, "resume",   "paused",    "running" },
    { J, "retry",    "failed",    "running" },
    { J, "retry",    "running",   "running" },
    /* shot: queued -> rendering -> assembling -> done | failed */
    { S, "start",    "queued",    "rendering" },
    { S, "assemble", "rendering", "assembling" },
    { S, "assemble", "queued",    "assembling" },
    { S, "complete", "assembling", "done" },
    { S, "fail",     "assembling", "failed" },
    { S, "fail",     "rendering", "failed" },
    { S, "fail",     "queued",    "failed" },
    { S, "cancel",   "queued",    "cancelled" },
    { S, "cancel",   "rendering", "cancelled" },
    { S, "cancel",   "assembling", "cancelled" },
    { S, "resume",   "failed",    "rendering" },
    { S, "resume",   "cancelled", "rendering" },
    /* window: queued -> running -> verified; failures back to queued until the budget is spent */
    { W, "assign",   "queued",    "running" },
    { W, "done",     "running",   "verified" },
    { W, "retry",    "running",   "queued" },     /* failed attempt, budget left (backoff) */
    { W, "requeue",  "running",   "queued" },     /* infrastructure: no budget used */
    { W, "fail",     "running",   "failed" },     /* budget spent */
    { W, "cancel",   "queued",    "cancelled" },
    { W, "cancel",   "running",   "cancelled" },
    { W, "block",    "queued",    "cancelled" },  /* the window it waits for (chain, anchor) failed */
    { W, "resume",   "failed",    "queued" },
    { W, "resume",   "cancelled", "queued" },
    /* attempt: running -> done | failed | lost | cancelled (fencing: only a running attempt moves) */
    { A, "done",     "running",   "done" },
    { A, "fail",     "running",   "failed" },
    { A, "lost",     "running",   "lost" },
    { A, "cancel",   "running",   "cancelled" },
};
const int STORE_N_TRANSITIONS = sizeof STORE_TRANSITIONS / sizeof STORE_TRANSITIONS[0];

static const char *const FINAL[STORE_E_N_][4] = {
    [J] = { "done", "failed", "cancelled", NULL },
    [S] = { "done", "failed", "cancelled", NULL },
    [W] = { "verified", "failed", "cancelled", NULL },
    [A] = { "done", "failed", "lost", "cancelled" },
};

const char *store_next_state(store_entity_t e, const char *from, const char *event)
{
    for (int i = 0; from && event && i < STORE_N_TRANSITIONS; i++) {
        const store_transition_t *t = &STORE_TRANSITIONS[i];
        if (t->entity == e && strcmp(t->from, from) == 0 && strcmp(t->event, event) == 0) return t->to;
    }
    return NULL;
}

const char *store_entity_name(store_entity_t e)
{
    static const char *const N[STORE_E_N_] = { "job", "shot", "window", "attempt" };
    return e < STORE_E_N_ ? N[e] : "?";
}

int store_state_final(store_entity_t e, const char *state)
{
    for (int i = 0; e < STORE_E_N_ && state && i < 4; i++)
        if (FINAL[e][i] && strcmp(FINAL[e][i], state) == 0) return 1;
    return 0;
}
