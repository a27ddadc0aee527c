-- 002_strategies: cross-window consistency strategies (issue #8).
-- window.role: 'render' (a window of the output) | 'anchor' (the first stage of an `anchor` shot: one
--   frame, rendered before the shot's windows, never stitched into the output).
-- window.after_id: the window that must be verified before this one may be scheduled (chain: the
--   window before it; anchor: the shot's anchor), 0 = none. Resume and retry keep it.
ALTER TABLE window ADD COLUMN role TEXT NOT NULL DEFAULT 'render';
ALTER TABLE window ADD COLUMN after_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX window_after ON window (after_id, state);
