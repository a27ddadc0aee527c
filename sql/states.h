/* states.h — the one table of entity states and allowed transitions (job, shot, window, attempt).
 * The state name is what SQLite stores. The store asks this table before every state change and
 * refuses anything it does not list; farmd never writes a state name itself. Not a scheduler. */
#ifndef SQL_STATES_H
#define SQL_STATES_H

typedef enum { STORE_E_JOB, STORE_E_SHOT, STORE_E_WINDOW, STORE_E_ATTEMPT, STORE_E_N_ } store_entity_t;

typedef struct {
    store_entity_t entity;
    const char *event;       /* "assign", "done", "fail", ... */
    const char *from;        /* state name */
    const char *to;
} store_transition_t;

extern const store_transition_t STORE_TRANSITIONS[];
extern const int STORE_N_TRANSITIONS;

/* The state an event moves an entity to from `from`, or NULL when the table does not allow it. */
const char *store_next_state(store_entity_t e, const char *from, const char *event);
const char *store_entity_name(store_entity_t e);   /* "job" | "shot" | "window" | "attempt" */
/* 1 if `state` is terminal for the entity (no transition leaves it except resume/retry). */
int store_state_final(store_entity_t e, const char *state);

#endif
