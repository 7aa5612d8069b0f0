#!/usr/bin/env bash
# Every option of every subcommand, as `kleak SUB --help` prints it, is in the man page (in that
# subcommand's section) and in the bash completion; the man page renders without a groff warning;
# hidden subcommands stay hidden.
#   docs_test.sh KLEAK_BIN MAN_PAGE_GZ BASH_COMPLETION
set -euo pipefail
kleak=$1 man=$2 completion=$3
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# Subcommands: the lines under "Subcommands:" in `kleak --help`.
mapfile -t subs < <("$kleak" --help | sed -n '/^Subcommands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ ${#subs[@]} -ge 4 ] || fail "kleak --help lists ${#subs[@]} subcommands: ${subs[*]}"
# Options of a --help text: the switches at the start of its option lines.
help_options() { "$kleak" "$@" --help | grep -E '^ +-' | sed -E 's/^ +//; s/ .*//' | tr ',' '\n' | grep -E '^-'; }

roff=$(zcat "$man")
warnings=$(printf '%s\n' "$roff" | groff -man -Tutf8 -ww -z 2>&1 || true)
[ -z "$warnings" ] || fail "groff warns about the man page: $warnings"
top_opts=$(help_options)
for opt in $top_opts; do
  printf '%s\n' "$roff" | sed -n '/^\.SH OPTIONS/,/^\.SH /p' | grep -qF "\\fB${opt//-/\\-}\\fR" ||
    fail "man page OPTIONS lacks $opt"
done

# shellcheck disable=SC1090
source "$completion"
complete_words() { COMP_WORDS=(kleak "$@"); COMP_CWORD=$(($# )); COMPREPLY=(); _kleak; printf '%s\n' "${COMPREPLY[@]}"; }
top_completion=$(complete_words "")
for sub in "${subs[@]}"; do
  grep -qx "$sub" <<<"$top_completion" || fail "completion of 'kleak ' lacks $sub"
  section=$(printf '%s\n' "$roff" | awk -v h=".SS \"kleak $sub " 'index($0, h) == 1 { on = 1; print; next } /^\.S[SH] / { on = 0 } on')
  [ -n "$section" ] || { fail "man page has no section for kleak $sub"; continue; }
  sub_completion=$(complete_words "$sub" "-")
  n=0
  for opt in $(help_options "$sub"); do
    n=$((n + 1))
    grep -qF "\\fB${opt//-/\\-}\\fR" <<<"$section" || fail "man page section kleak $sub lacks $opt"
    grep -qx -- "$opt" <<<"$sub_completion" || fail "completion of 'kleak $sub -' lacks $opt"
  done
  echo "kleak $sub: $n options checked"
done
for hidden in help-man help-bash-completion; do
  grep -qx "$hidden" <<<"$top_completion" && fail "completion offers the hidden $hidden"
  grep -q "kleak $hidden" <<<"$roff" && fail "man page documents the hidden $hidden"
done
[ $fails -eq 0 ] && echo "docs: ${#subs[@]} subcommands, man page and completion complete"
