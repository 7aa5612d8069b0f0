#!/usr/bin/env bash
# The commands and paths README.md and docs/*.md give are real:
# - every kleak command in a fenced shell block (sh, bash, shell, console; and the `# `/`$ ` prompt
#   lines of the other blocks, where reports are shown with the command that made them) names a
#   subcommand `kleak --help` lists, and every option it uses is in `kleak SUB --help`. A kleak
#   command is one whose program is kleak (any path to it), `tools/run.sh` (options of `kleak
#   trace`) or `deploy/container/run.sh` (kleak's arguments after its podman options and `--`),
#   also behind sudo, env, time or setpriv;
# - every repository path they mention (tools/..., deploy/..., tests/..., docs/, ...) exists;
# - every relative link points to a file that exists, and its #anchor to a heading there.
#   doc_commands_test.sh KLEAK_BIN SOURCE_DIR
set -euo pipefail
kleak=$1 src=$2
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

mapfile -t subs < <("$kleak" --help | sed -n '/^Subcommands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ ${#subs[@]} -ge 4 ] || { echo "FAIL: kleak --help lists ${#subs[@]} subcommands: ${subs[*]}"; exit 1; }
# Options of a --help text: the switches at the start of its option lines (as docs_test.sh reads them).
help_options() { "$kleak" "$@" --help | grep -E '^ +-' | sed -E 's/^ +//; s/ .*//' | tr ',' '\n' | grep -E '^-'; }
declare -A opts
opts[-]=$(help_options)  # kleak itself
for sub in "${subs[@]}"; do opts[$sub]=$(help_options "$sub"); done

docs=("$src/README.md" "$src"/docs/*.md)
if [ ! -d "$src/docs" ] || [ ${#docs[@]} -lt 2 ]; then fail "no docs/*.md beside README.md"; fi

# What the Markdown says, one record a line (python: fences, shell words, links, slugs):
#   cmd WHERE SUB OPTION...     a kleak command (SUB empty: options of kleak itself)
#   path WHERE PATH             a repository path, relative to SOURCE_DIR
#   fail WHERE MESSAGE          a line that cannot be read, a link to a missing heading
records=$(python3 - "$src" "${docs[@]}" <<'PY'
import os, re, shlex, sys

src, files = sys.argv[1], sys.argv[2:]
SHELL = {"sh", "bash", "shell", "console"}
WRAPPERS = {"sudo", "env", "time", "exec", "nohup"}
SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")", "|&"}
REDIRECTS = {">", ">>", "<", "<<", ">&", "<&", "&>"}
ROOTS = ("tools", "deploy", "tests", "bench", "bpf", "user", "include", "cmake", "vmlinux", "docs", ".ci")
PATH_RE = re.compile(r"(?<![\w./~-])((?:%s)/(?:[\w.*/-]|\{[\w.,]*\})*)" % "|".join(re.escape(r) for r in ROOTS))
LINK_RE = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
out = []


def braces(path):
    """include/kleak/{a,b}.h -> include/kleak/a.h, include/kleak/b.h (globs are left to the shell)."""
    m = re.search(r"\{([^{}]*)\}", path)
    if not m:
        return [path]
    return [q for alt in m.group(1).split(",") for q in braces(path[:m.start()] + alt + path[m.end():])]


def emit(*fields):
    out.append("\t".join(fields))


def slug(heading):
    # GitHub's anchors: lower case, markup and punctuation dropped (not - or _), spaces to -.
    text = re.sub(r"[`*]", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen, result, fence = {}, set(), None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^(```|~~~)", line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            continue
        h = re.match(r"^#{1,6} +(.*?) *#*$", line)
        if h and not fence:
            s = slug(h.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            result.add(s if n == 0 else f"{s}-{n}")
    return result


def kleak_words(words):
    """The kleak arguments of one simple command, or None when it runs no kleak."""
    while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in WRAPPERS):
        words = words[1:]
    if not words:
        return None
    prog = words[0]
    if prog == "setpriv":  # setpriv's own options, then the program
        for i, w in enumerate(words[1:], 1):
            if os.path.basename(w) == "kleak":
                return words[i + 1:]
        return None
    if os.path.basename(prog) == "kleak":
        return words[1:]
    if prog.endswith("tools/run.sh"):
        return ["trace"] + words[1:]
    if prog.endswith("deploy/container/run.sh"):
        rest = words[1:]
        return rest[rest.index("--") + 1:] if "--" in rest else rest
    return None


def check_command(where, line):
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    try:
        words = list(lex)
    except ValueError as e:
        emit("fail", where, f"cannot read as shell ({e}): {line}")
        return
    command, commands = [], []
    skip = False
    for w in words:
        if skip:
            skip = False
        elif w in SEPARATORS:
            commands.append(command)
            command = []
        elif w in REDIRECTS:
            skip = True
        else:
            command.append(w)
    commands.append(command)
    for command in commands:
        args = kleak_words(command)
        if args is None:
            continue
        sub = "" if not args or args[0].startswith("-") else args[0]
        rest = args[1:] if sub else args
        flags = [a.split("=", 1)[0] for a in rest if a.startswith("-") and a not in ("-", "--")]
        emit("cmd", where, sub, *flags)


for path in files:
    rel = os.path.relpath(path, src)
    lines = open(path, encoding="utf-8").read().split("\n")
    fence, info, pending, start = None, "", "", 0
    for n, line in enumerate(lines, 1):
        where = f"{rel}:{n}"
        m = re.match(r"^\s*(```+|~~~+)\s*([\w+-]*)", line)
        if m and (fence is None or m.group(1).startswith(fence)):
            if fence is None:
                fence, info = m.group(1), m.group(2).lower()
            else:
                fence = None
            continue
        for mention in PATH_RE.findall(line):
            for p in braces(mention.rstrip(".")):
                emit("path", where, p)
        if fence is None:
            for target in LINK_RE.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue  # https:, mailto:
                file, _, anchor = target.partition("#")
                resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
                if not os.path.exists(resolved):
                    emit("fail", where, f"link to a missing file: {target}")
                elif anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                    emit("fail", where, f"link to a missing heading: {target}")
            continue
        # Shell blocks: every line (console: its prompt lines); plain and text blocks (a report
        # under the command that made it): their prompt lines; yaml and the like: none.
        text = line
        if info not in SHELL - {"console"}:
            m = re.match(r"^[#$] (.*)", line)
            if info not in SHELL | {"", "text"} or not m:
                continue
            text = m.group(1)
        if text.rstrip().endswith("\\"):  # a continued line: read it whole
            pending += text.rstrip()[:-1] + " "
            start = start or n
            continue
        if pending:
            text, where, pending, start = pending + text, f"{rel}:{start}", "", 0
        check_command(where, text)
print("\n".join(out))
PY
)

ncmd=0 npath=0
while IFS=$'\t' read -r kind where rest; do
  case $kind in
    cmd)
      ncmd=$((ncmd + 1))
      read -r -a words <<<"$rest"
      sub=${words[0]:-}
      # A line without a subcommand has its options in the first field.
      if [[ $sub == -* ]]; then sub=""; else words=("${words[@]:1}"); fi
      if [ -n "$sub" ] && [ -z "${opts[$sub]+x}" ]; then
        fail "$where: kleak $sub: no such subcommand (kleak --help lists ${subs[*]})"
        continue
      fi
      for flag in "${words[@]}"; do
        grep -qxF -- "$flag" <<<"${opts[${sub:--}]}" || fail "$where: kleak${sub:+ $sub} $flag: not an option of \`kleak${sub:+ $sub} --help\`"
      done
      ;;
    path)
      npath=$((npath + 1))
      # (a glob, tests/qemu/*, must match something)
      compgen -G "$src/$rest" >/dev/null || fail "$where: $rest: no such file or directory in the repository"
      ;;
    fail) fail "$where: $rest" ;;
    "") ;;
  esac
done <<<"$records"
[ $ncmd -ge 10 ] || fail "only $ncmd kleak commands found in the docs: is the Markdown read right?"
[ $fails -eq 0 ] && echo "doc commands: $ncmd kleak commands and $npath repository paths in ${#docs[@]} files hold"
[ $fails -eq 0 ]
