#!/usr/bin/env bash
# Every option of every subcommand, as `kleak SUB --help` prints it, is in the man page (section 8,
# with PRIVILEGES, EXAMPLES, EXIT STATUS and SEE ALSO; every option in its subcommand's section)
# and in the bash completion; the man page renders without a groff warning;
# hidden subcommands stay hidden.
# zsh's and fish's completions, sourced in the real shells, complete a subcommand and its options.
#   docs_test.sh KLEAK_BIN MAN_PAGE_GZ BASH_COMPLETION ZSH_COMPLETION FISH_COMPLETION
set -euo pipefail
kleak=$1 man=$2 completion=$3 zsh_completion=$4 fish_completion=$5
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
# Section 8 (a root tool, as bpftrace), with the sections a reader of such a page looks for.
printf '%s\n' "$roff" | grep -q '^\.TH KLEAK 8 ' || fail "man page is not section 8: $(printf '%s\n' "$roff" | head -1)"
for sh in PRIVILEGES EXAMPLES 'EXIT STATUS' 'SEE ALSO'; do
  printf '%s\n' "$roff" | grep -qx "\.SH $sh" || fail "man page has no $sh section"
done
for cap in CAP_BPF CAP_PERFMON CAP_SYSLOG CAP_DAC_READ_SEARCH; do
  printf '%s\n' "$roff" | sed -n '/^\.SH PRIVILEGES/,/^\.SH /p' | grep -qF "\\fB$cap\\fR" || fail "man page PRIVILEGES lacks $cap"
done
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

# zsh: completion builtins only run inside a completion widget, so compadd, _describe and _files
# print what they are given; the script, the shell and its parameters ($words, $CURRENT) are real.
# compinit -D: no dump file. (Was `-d /dev/null`: compdump writes a temporary file and moves it
# over the dump path, so as root the test replaced /dev/null with a regular file.)
zsh_complete() {
  zsh -f -c 'autoload -Uz compinit && compinit -u -D
    source "$1"; shift
    compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }
    _describe() { local a=${@[-1]}; print -l -- ${${(P)a}%%:*}; }
    _files() { print -- "<files>"; }
    words=(kleak "$@"); CURRENT=$#words; _kleak' zsh "$zsh_completion" "$@"
}
command -v zsh >/dev/null || fail "zsh is not installed (tools/install-deps.sh --test)"
if command -v zsh >/dev/null; then
  zsh_top=$(zsh_complete "")
  grep -qx trace <<<"$zsh_top" || fail "zsh completion of 'kleak ' lacks trace: $zsh_top"
  grep -qx -- --version <<<"$zsh_top" || fail "zsh completion of 'kleak ' lacks --version"
  grep -qx -- --duration <<<"$(zsh_complete trace -)" || fail "zsh completion of 'kleak trace -' lacks --duration"
  grep -qx '<files>' <<<"$(zsh_complete trace -o "")" || fail "zsh completion after 'kleak trace -o' is not files"
fi
# fish: `complete -C` asks fish's own completion engine, as a keypress would.
command -v fish >/dev/null || fail "fish is not installed (tools/install-deps.sh --test)"
if command -v fish >/dev/null; then
  fish_complete() { fish --no-config -c "source $fish_completion; complete -C '$1'" | cut -f1; }
  grep -qx trace <<<"$(fish_complete 'kleak ')" || fail "fish completion of 'kleak ' lacks trace"
  grep -qx -- --duration <<<"$(fish_complete 'kleak trace --du')" || fail "fish completion of 'kleak trace --du' lacks --duration"
  for sub in "${subs[@]}"; do
    for opt in $(help_options "$sub" | grep -- '^--'); do
      grep -qx -- "$opt" <<<"$(fish_complete "kleak $sub $opt")" || fail "fish completion of 'kleak $sub' lacks $opt"
    done
  done
fi
for hidden in help-zsh-completion help-fish-completion; do
  grep -qx "$hidden" <<<"$top_completion" && fail "completion offers the hidden $hidden"
done
[ -c /dev/null ] || fail "/dev/null is no longer a character device (a shell wrote over it)"
[ $fails -eq 0 ] && echo "docs: ${#subs[@]} subcommands, man page and completion complete"
