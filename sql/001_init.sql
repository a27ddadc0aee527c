-- 001_init: the farm's state. job -> shot -> window -> attempt, plus worker and the append-only event log.
-- State names are the ones in sql/states.c (the single table of states and transitions).
CREATE TABLE job (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  file_name     TEXT NOT NULL,
  state         TEXT NOT NULL,
  created_ms    INTEGER NOT NULL,
  updated_ms    INTEGER NOT NULL,
  n_shots       INTEGER NOT NULL,
  fence_attempt INTEGER NOT NULL DEFAULT 0,   -- failures at or below this attempt id no longer bar a worker (resume)
  error         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE shot (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id    INTEGER NOT NULL REFERENCES job(id),
  idx       INTEGER NOT NULL,
  name      TEXT NOT NULL,
  state     TEXT NOT NULL,
  prompt    TEXT NOT NULL, negative TEXT NOT NULL,
  frames    INTEGER NOT NULL, fps REAL NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
  seed      INTEGER NOT NULL, steps INTEGER NOT NULL, guidance REAL NOT NULL,
  model     TEXT NOT NULL, lora TEXT NOT NULL, engine TEXT NOT NULL,
  win       INTEGER NOT NULL, overlap INTEGER NOT NULL, strategy TEXT NOT NULL,
  outputs   TEXT NOT NULL,                    -- comma-separated format names
  priority  INTEGER NOT NULL,
  result    TEXT NOT NULL DEFAULT '',         -- newline-separated output paths after assembly
  error     TEXT NOT NULL DEFAULT '',
  UNIQUE (job_id, idx), UNIQUE (job_id, name)
);
CREATE TABLE window (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id        INTEGER NOT NULL REFERENCES job(id),
  shot_id       INTEGER NOT NULL REFERENCES shot(id),
  idx           INTEGER NOT NULL,
  first_frame   INTEGER NOT NULL,
  n_frames      INTEGER NOT NULL,
  state         TEXT NOT NULL,
  priority      INTEGER NOT NULL,             -- copied from the shot (scheduler order)
  engine        TEXT NOT NULL,                -- copied from the shot (scheduler match)
  need_gpus     INTEGER NOT NULL,
  need_mem_mb   INTEGER NOT NULL,
  attempts_used INTEGER NOT NULL DEFAULT 0,   -- budget used since the last resume/retry
  attempts_all  INTEGER NOT NULL DEFAULT 0,   -- every attempt ever started
  not_before_ms INTEGER NOT NULL DEFAULT 0,   -- retry backoff
  attempt_id    INTEGER NOT NULL DEFAULT 0,   -- the running (or verified) attempt
  worker_id     TEXT NOT NULL DEFAULT '',
  progress_done INTEGER NOT NULL DEFAULT 0,
  progress_total INTEGER NOT NULL DEFAULT 0,
  manifest      TEXT NOT NULL DEFAULT '',
  artifact      TEXT NOT NULL DEFAULT '',
  UNIQUE (shot_id, idx)
);
CREATE INDEX window_sched ON window (state, priority DESC, job_id, id);
CREATE INDEX window_shot ON window (shot_id, state);
CREATE TABLE worker (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  engines       TEXT NOT NULL,
  n_gpus        INTEGER NOT NULL,
  mem_mb        INTEGER NOT NULL,
  state         TEXT NOT NULL,                 -- idle | busy | lost
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms  INTEGER NOT NULL,
  attempt_id    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE attempt (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- the fencing token sent in ASSIGN
  window_id   INTEGER NOT NULL REFERENCES window(id),
  job_id      INTEGER NOT NULL REFERENCES job(id),
  worker_id   TEXT NOT NULL,
  state       TEXT NOT NULL,
  fail_class  TEXT NOT NULL DEFAULT '',
  reason      TEXT NOT NULL DEFAULT '',
  started_ms  INTEGER NOT NULL,
  ended_ms    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX attempt_window ON attempt (window_id);
CREATE INDEX attempt_job_worker ON attempt (job_id, worker_id, state);
CREATE INDEX attempt_state ON attempt (state);
CREATE TABLE event (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  ts_ms      INTEGER NOT NULL,
  job_id     INTEGER NOT NULL DEFAULT 0,
  window_id  INTEGER NOT NULL DEFAULT 0,
  attempt_id INTEGER NOT NULL DEFAULT 0,
  worker_id  TEXT NOT NULL DEFAULT '',
  kind       TEXT NOT NULL,
  detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX event_job ON event (job_id, id);
CREATE TRIGGER event_append_only_u BEFORE UPDATE ON event BEGIN SELECT RAISE(ABORT, 'event is append-only'); END;
CREATE TRIGGER event_append_only_d BEFORE DELETE ON event BEGIN SELECT RAISE(ABORT, 'event is append-only'); END;
