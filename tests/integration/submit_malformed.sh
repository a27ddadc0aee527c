#!/usr/bin/env bash
# submit_malformed.sh — issue #2, item 6: malformed shot lists (missing column, negative or
# non-numeric frames, duplicate names, unknown format, bad UTF-8, over-long prompt, ../x names,
# empty file, a 10 MB file, ...) each make `farm submit` exit non-zero with a message naming the row
# and field, both when the CLI validates locally and when farmd validates (--no-local-check), and
# the database is byte-for-byte unchanged (sqlite3 .dump before and after).
source "$(dirname "$0")/lib.bash"
need_bins farmd farm
need_cmds sqlite3
start_farmd
farm submit "$ROOT/ops/examples/testcard.csv" >/dev/null || fail "the valid example was refused"
D=$T/lists; mkdir -p "$D"
H='name,prompt,frames'
printf 'name,prompt\na,x\n'                            >"$D/missing_column.csv"
printf '%s\na,x,-4\n' "$H"                             >"$D/negative_frames.csv"
printf '%s\na,x,many\n' "$H"                           >"$D/nonnumeric_frames.csv"
printf '%s\na,x,99999999999999999999\n' "$H"           >"$D/overflow_frames.csv"
printf '%s\na,x,5\nb,x,5\na,y,5\n' "$H"                >"$D/duplicate_names.csv"
printf '%s,outputs\na,x,5,gif\n' "$H"                  >"$D/unknown_format.csv"
printf '%s\na,bad \xc3\x28 utf8,5\n' "$H"              >"$D/bad_utf8.csv"
{ printf '%s\na,' "$H"; head -c 2001 /dev/zero | tr '\0' x; printf ',5\n'; } >"$D/long_prompt.csv"
printf '%s\n../x,x,5\n' "$H"                           >"$D/dotdot_name.csv"
printf '%s\na/b,x,5\n' "$H"                            >"$D/slash_name.csv"
: >"$D/empty.csv"
{ printf '%s\n' "$H"; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' a; } >"$D/ten_mb.csv"
printf '%s,colour\na,x,5,red\n' "$H"                   >"$D/unknown_column.csv"
printf '%s,window,engine\na,x,5,10,testcard\n' "$H"    >"$D/bad_window.csv"
printf '%s,window,overlap\na,x,5,9,9\n' "$H"           >"$D/overlap_too_big.csv"
printf '%s,width\na,x,5,100\n' "$H"                    >"$D/dit_width.csv"
printf '%s,engine\na,x,5,magic\n' "$H"                 >"$D/unknown_engine.csv"
printf '%s\na,"x,5\n' "$H"                             >"$D/unterminated_quote.csv"
printf '[{"name":"a","prompt":"p","frames":true}]'     >"$D/json_bool_frames.json"
printf '[{"name":"a","prompt":"p","frames":5,}]'       >"$D/json_syntax.json"
printf '[{"name":"a","prompt":"p","frames":5},{"name":"b","frames":0,"engine":"testcard"}]' >"$D/json_row2.json"
# expected: file -> text that must appear in the error (row and field, or "file" for whole-file errors)
declare -A want=(
  [missing_column.csv]="row 0, field 'frames'"   [negative_frames.csv]="row 1, field 'frames'"
  [nonnumeric_frames.csv]="row 1, field 'frames'" [overflow_frames.csv]="row 1, field 'frames'"
  [duplicate_names.csv]="row 3, field 'name'"    [unknown_format.csv]="row 1, field 'outputs'"
  [bad_utf8.csv]="row 1, field 'prompt'"         [long_prompt.csv]="row 1, field 'prompt'"
  [dotdot_name.csv]="row 1, field 'name'"        [slash_name.csv]="row 1, field 'name'"
  [empty.csv]="file: file is empty"              [ten_mb.csv]="at most 4194304"
  [unknown_column.csv]="row 0, field 'colour'"   [bad_window.csv]="row 1, field 'window'"
  [overlap_too_big.csv]="row 1, field 'overlap'" [dit_width.csv]="row 1, field 'width'"
  [unknown_engine.csv]="row 1, field 'engine'"   [unterminated_quote.csv]="row 1: CSV syntax error"
  [json_bool_frames.json]="row 1, field 'frames'" [json_syntax.json]="JSON syntax error at line 1"
  [json_row2.json]="row 2, field 'frames'"
)
before=$(sql .dump | md5sum)
jobs_before=$(sql 'select count(*) from job')
n=0
for f in "${!want[@]}"; do
  for mode in local farmd; do
    extra=(); [ $mode = farmd ] && extra=(--no-local-check)
    farm submit "${extra[@]}" "$D/$f" >"$T/out" 2>"$T/err"; rc=$?
    [ $rc -ne 0 ] || fail "$f ($mode): accepted"
    grep -qF -- "${want[$f]}" "$T/err" || { cat "$T/err"; fail "$f ($mode): error does not name '${want[$f]}'"; }
    [ -s "$T/out" ] && fail "$f ($mode): printed data on stdout"
    n=$((n + 1))
  done
done
after=$(sql .dump | md5sum)
[ "$before" = "$after" ] || fail "the database changed"
[ "$(sql 'select count(*) from job')" = "$jobs_before" ] || fail "job count changed"
[ "$(sql 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
echo "$n refusals (${#want[@]} malformed lists x local/farmd), database unchanged"
