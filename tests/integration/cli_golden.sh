#!/usr/bin/env bash
# cli_golden.sh — `farm` help/usage texts, exit codes and `submit --dry-run` output compared with the
# expected files in tests/golden/cli/ (stdout, then "exit: N"). No farmd needed.
# UPDATE=1 bash tests/integration/cli_golden.sh rewrites the golden files after a deliberate change.
set -u
cd "$(dirname "$0")/../.."
BIN=${FARM_BIN:-bin}
FARM=$BIN/farm
[ -x "$FARM" ] || { echo "no $FARM: build first"; exit 1; }
G=tests/golden/cli
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export NO_COLOR=1
unset FARM_COORDINATOR
fail=0
# name | arguments (word-split)
cases=(
  "help|--help"
  "help_cmd|help"
  "noargs|"
  "unknown|frobnicate"
  "submit_help|submit --help"
  "ls_help|ls --help"
  "show_help|show --help"
  "workers_help|workers --help"
  "watch_help|watch --help"
  "logs_help|logs --help"
  "wait_help|wait --help"
  "cancel_help|help cancel"
  "resume_help|resume --help"
  "keygen_help|keygen --help"
  "dry_csv|submit --dry-run ops/examples/testcard.csv"
  "dry_json|submit --dry-run ops/examples/testcard.json"
  "dry_csv_json|--json submit ops/examples/testcard.csv --dry-run"
  "dry_dit|submit --dry-run ops/examples/dit.csv"
  "show_badid|show 12x"
  "submit_noarg|submit"
  "submit_badopt|submit --frobnicate x.csv"
  "wait_badtimeout|wait 1 --timeout -3"
)
# farm-worker's own options (its command list grows with the model subcommands, so not that)
WORKER=$BIN/farm-worker
[ -x "$WORKER" ] && cases+=("worker_run_help|@run --help" "worker_bad_engine|@--engines foo --outbox $tmp/ob"
                            "worker_bad_opt|@run --heartbeat-ms 5" "worker_unknown|@frobnicate")
for c in "${cases[@]}"; do
  name=${c%%|*}; args=${c#*|}
  prog=$FARM
  case $args in @*) prog=$WORKER; args=${args#@} ;; esac
  # shellcheck disable=SC2086
  "$prog" $args >"$tmp/out" 2>"$tmp/err"; rc=$?
  { cat "$tmp/out"; echo "exit: $rc"; } >"$tmp/$name.out"
  if [ "${UPDATE:-0}" = 1 ]; then cp "$tmp/$name.out" "$G/$name.out"; continue; fi
  if ! diff -u "$G/$name.out" "$tmp/$name.out" >"$tmp/diff"; then
    echo "FAIL $name: farm $args"; cat "$tmp/diff"; echo "  stderr:"; sed 's/^/    /' "$tmp/err"; fail=1
  else echo "ok   $name"; fi
  # every non-zero exit must say something on stderr, and stderr never carries data
  if [ $rc -ne 0 ] && [ ! -s "$tmp/err" ]; then echo "FAIL $name: exit $rc without a message on stderr"; fail=1; fi
done
# the dry-run JSON must parse and agree with the text (4 shots)
"$FARM" --json submit --dry-run ops/examples/testcard.json >"$tmp/j" || fail=1
python3 -c "import json,sys; d=json.load(open('$tmp/j')); assert d['n_shots']==4 and [s['frames'] for s in d['shots']]==[1,300,17,40], d" \
  || { echo "FAIL dry-run JSON"; fail=1; }
# a full stdout is an error (ferror(stdout) is checked)
if [ -w /dev/full ]; then
  "$FARM" --help >/dev/full 2>/dev/null && { echo "FAIL: --help to /dev/full exited 0"; fail=1; }
  "$FARM" submit --dry-run ops/examples/testcard.csv >/dev/full 2>/dev/null && { echo "FAIL: dry-run to /dev/full exited 0"; fail=1; }
fi
# keygen: a pair with the right modes, never overwritten
export FARM_HOME=$tmp/home
"$FARM" keygen k1 >/dev/null 2>&1 || { echo "FAIL: keygen"; fail=1; }
[ "$(stat -c %a "$FARM_HOME/keys/k1.secret" 2>/dev/null)" = 600 ] || { echo "FAIL: secret key mode"; fail=1; }
[ "$(head -c 40 "$FARM_HOME/keys/k1.public" | tr -cd '\041-\176' | wc -c)" = 40 ] || { echo "FAIL: public key is not 40 Z85 chars"; fail=1; }
"$FARM" keygen k1 >/dev/null 2>&1 && { echo "FAIL: keygen overwrote a key"; fail=1; }
"$FARM" keygen ../x >/dev/null 2>&1 && { echo "FAIL: keygen accepted ../x"; fail=1; }
exit $fail
