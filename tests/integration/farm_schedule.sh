#!/usr/bin/env bash
# farm_schedule.sh — the scheduler end to end: windows go out by priority, then submission order;
# a window whose engine no worker advertises is never assigned (capability matching) while the rest
# of the farm's work completes.
source "$(dirname "$0")/lib.bash"
need_bins farmd farm-worker farm
use_tcp_endpoint
quick_timing

mk() {  # name priority engine
  printf 'name,prompt,frames,width,height,engine,window,overlap,outputs,priority\n%s,p,25,32,32,%s,9,2,ffv1,%s\n' "$1" "$3" "$2" >"$T/$1.csv"
}
mk low1 0 testcard; mk high 10 testcard; mk low2 0 testcard; mk model 50 dit
start_farmd
for j in low1 high low2 model; do farm submit "$T/$j.csv" >/dev/null || fail "submit $j"; done
start_worker w1 --engines testcard
for j in 1 2 3; do farm wait $j --timeout 60 || { farm show $j; fail "job $j did not complete"; }; done

order=$(sql "SELECT group_concat(s.name, ' ') FROM (SELECT a.id, s.name FROM attempt a JOIN window w ON w.id = a.window_id JOIN shot s ON s.id = w.shot_id ORDER BY a.id) s")
echo "assignment order: $order"
want="high high high high low1 low1 low1 low1 low2 low2 low2 low2"
[ "$order" = "$want" ] || fail "order '$order', want '$want'"
[ "$(sql "SELECT count(*) FROM attempt WHERE job_id=4")" = 0 ] || fail "a dit window went to a testcard-only worker"
[ "$(sql "SELECT state FROM job WHERE id=4")" = queued ] || fail "the dit job should still be queued"
farm cancel 4 >/dev/null || fail "cancel"
echo "PASS farm_schedule: priority then submission order; engine matching kept the dit job queued"
