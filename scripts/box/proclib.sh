# proclib.sh -- sourced by run-suite and hang-snapshot (busybox sh, in the box).
# session_pids SID: the pids whose session is SID (fields of /proc/P/stat
# after "comm) ": 1 state ... 4 session).  Builtins only: a fork per
# process is slow on a loaded box, and one busybox awk over every stat file
# stops at the first file that vanishes under it (a process that exits), so
# it listed nobody -- which let run-suite start the next test while the
# killed one's QEMUs were still there (CI, stop 22).
session_pids() {
  for _f in /proc/[0-9]*/stat; do
    read -r _l < "$_f" 2>/dev/null || continue
    set -- "$1" ${_l##*) }
    [ "$5" = "$1" ] || continue
    _f=${_f#/proc/}; echo "${_f%/stat}"
  done
}
