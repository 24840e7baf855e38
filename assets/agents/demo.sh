#!/bin/sh
# cattery demo agent: behaves like an LLM agent (progress, logs, llm_call
# metrics, a result) at a human pace, without calling any model. POSIX sh plus
# sed, grep and awk, so it also runs under busybox.
#
# Scripted by lines in the task description (<kind> may be `*` for every step;
# a line for the step's own kind wins over `*`):
#   @demo <kind> rating <r1> <r2> ...      companion rating per attempt (last repeats)
#   @demo <kind> ask <question> | <a> | <b> raise a decision on the first run
#   @demo <kind> ask-always <q> | <a> | <b> raise the decision on every run, answered or not
#   @demo <kind> fail <n>                   exit non-zero on the first n attempts
#   @demo <kind> fail-at <n> ...            exit non-zero on exactly these attempts
#   @demo <kind> nograde <n>                a grader returns no grade on its first n attempts
#   @demo <kind> pr <url>                   report a pull request at this url
#   @demo <kind> sleep <ms>                 total time the step takes (default 1500)
#   @demo <kind> tokens <n>                 completion tokens per model call (default 800)
#   @demo <kind> edit <path> <text>         append a line to a file of the run's worktree
#   @demo <kind> delete <path>              delete a file of the run's worktree
#   @demo <kind> estimate <c> <r> <i>       reply with a task estimate (each 0..1)
#   @demo <kind> finding <n> <sev> <cat> <title>  a review finding on passes 1..n
#   @demo <kind> question <text>            a bug investigator's open question
#   @demo <kind> clear                      a bug investigator finds the report clear
#
# `edit` and `delete` may be given many times; they act only in a run's
# worktree (the working directory, with a `.git` of its own), and in <text>
# `{attempt}` becomes the attempt's number. The agent commits nothing: the
# daemon commits what it left.
#
# With CATTERY_DEMO_LOG set, each attempt appends `start`, `finish`, `fail` or
# `overlap` lines (`<what> <run> <step> <attempt> <job>`) to that file.
set -u

ctx="${CATTERY_CONTEXT:-/cattery/context.json}"
if [ ! -r "$ctx" ]; then
  echo "demo agent: cannot read the step context at $ctx" >&2
  exit 2
fi

# A top-level scalar of the pretty-printed context.
field() {
  sed -n 's/^  "'"$1"'": "\{0,1\}\([^",]*\)"\{0,1\},\{0,1\}$/\1/p' "$ctx" | head -n 1
}

kind=$(field agent_kind)
attempt=$(field attempt)
run_id=$(field run_id)
step=$(field step_index)
job=$(field job_id)
grades=$(field grades)
review_pass=$(field review_pass)

# Arguments of the last `@demo` line for this kind (or `*`) with verb $1.
directive() {
  lines=$(grep -o '"@demo [^"]*"' "$ctx" | tr -d '"')
  for who in '*' "$kind"; do
    printf '%s\n' "$lines" | while read -r _tag k verb rest; do
      if [ "$k" = "$who" ] && [ "$verb" = "$1" ]; then printf '%s\n' "$rest"; fi
    done
  done | tail -n 1
}

# Arguments of every `@demo` line for this kind or `*` with verb $1.
directives() {
  grep -o '"@demo [^"]*"' "$ctx" | tr -d '"' | while read -r _tag k verb rest; do
    if { [ "$k" = '*' ] || [ "$k" = "$kind" ]; } && [ "$verb" = "$1" ]; then printf '%s\n' "$rest"; fi
  done
}

# The edits the description asks for, in the worktree only.
edit_worktree() {
  [ -e .git ] || return 0
  # One space ends the path; the rest of the line, indentation and all, is the text.
  directives edit | while IFS= read -r line; do
    path=${line%% *}
    text=${line#"$path"}
    text=${text# }
    case "$path" in '' | /* | *..*) continue ;; esac
    mkdir -p "$(dirname "$path")"
    printf '%s\n' "$text" | sed "s/{attempt}/$attempt/g" >>"$path"
    echo "{\"type\":\"log\",\"level\":\"info\",\"msg\":\"edited $path\"}"
  done
  directives delete | while read -r path _; do
    case "$path" in /* | *..*) continue ;; esac
    rm -f "$path"
  done
}

json_escape() {
  printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n'
}

note() {
  [ -n "${CATTERY_DEMO_LOG:-}" ] && echo "$1 $run_id $step $attempt $job" >>"$CATTERY_DEMO_LOG"
  return 0
}

pace_ms=$(directive sleep)
pace_ms=${pace_ms:-1500}
tokens=$(directive tokens)
tokens=${tokens:-800}
ticks=3

# With a ledger, a step also holds a lock for as long as its agent lives: a
# second copy of the same step running at the same time says so, and a
# killed agent's lock goes with it.
if [ -n "${CATTERY_DEMO_LOG:-}" ] && command -v flock >/dev/null 2>&1; then
  exec 9>>"$CATTERY_DEMO_LOG.$run_id.$step.lock"
  flock -n 9 || note overlap
fi
note start
echo "{\"type\":\"log\",\"level\":\"info\",\"msg\":\"$kind starting attempt $attempt\"}"

i=1
while [ "$i" -le "$ticks" ]; do
  if [ "$pace_ms" -gt 0 ]; then
    sleep "$(awk -v ms="$pace_ms" -v n="$ticks" 'BEGIN { printf "%.3f", ms / n / 1000 }')"
  fi
  prompt=$((1200 + i * 150))
  echo "{\"type\":\"llm_call\",\"model\":\"demo-large\",\"prompt_tokens\":$prompt,\"completion_tokens\":$tokens,\"max_output_tokens\":4096,\"finish_reason\":\"stop\",\"upstream_ms\":$((400 + i * 90)),\"overhead_ms\":$((20 + i))}"
  echo "{\"type\":\"progress\",\"done\":$i,\"total\":$ticks,\"label\":\"$kind pass $i\"}"
  echo "thinking about pass $i"
  i=$((i + 1))
done

edit_worktree

fails=$(directive fail)
if [ -n "$fails" ] && [ "$attempt" -le "$fails" ]; then
  echo "demo agent: simulated failure on attempt $attempt of $fails" >&2
  note fail
  exit 3
fi
for n in $(directive fail-at); do
  if [ "$attempt" = "$n" ]; then
    echo "demo agent: simulated failure on attempt $attempt" >&2
    note fail
    exit 3
  fi
done

chosen=""
if ! grep -q '^  "chosen_option": null' "$ctx"; then
  chosen=$(sed -n 's/^    "option": "\(.*\)"$/\1/p' "$ctx" | head -n 1)
fi

ask=$(directive ask)
always=$(directive ask-always)
if [ -n "$always" ]; then ask=$always; fi
if [ -n "$ask" ] && { [ -z "$chosen" ] || [ -n "$always" ]; }; then
  question=$(printf '%s' "$ask" | awk -F'|' '{ gsub(/^ +| +$/, "", $1); print $1 }')
  options=$(printf '%s' "$ask" | awk -F'|' '{
    for (i = 2; i <= NF; i++) { gsub(/^ +| +$/, "", $i); gsub(/"/, "\\\"", $i); printf "%s\"%s\"", (i > 2 ? "," : ""), $i }
  }')
  note finish
  echo "{\"type\":\"result\",\"output\":\"$kind needs a decision\",\"decision\":{\"question\":\"$(json_escape "$question")\",\"options\":[$options]}}"
  exit 0
fi

output="$kind output, attempt $attempt"
[ -n "$chosen" ] && output="$output, going with $chosen"
if grep -q '^  "rework": {' "$ctx"; then
  output="$output, reworked after feedback"
  previous=$(sed -n 's/^    "previous_proposal": "\(.*\)",\{0,1\}$/\1/p' "$ctx" | head -n 1)
  [ -n "$previous" ] && output="$output on [$previous]"
fi

# Structured replies: an estimate, a review's findings, an investigation.
estimate=$(directive estimate)
if [ -n "$estimate" ]; then
  set -- $estimate
  output="{\"complexity\": $1, \"risk\": $2, \"impact\": $3, \"rationale\": \"demo estimate\"}"
fi
if [ -n "$review_pass" ]; then
  items=$(directives finding | while read -r upto sev cat title; do
    [ "$review_pass" -le "$upto" ] || continue
    printf '{"category": "%s", "severity": "%s", "title": "%s", "detail": "%s (pass %s)"},' \
      "$cat" "$sev" "$(json_escape "$title")" "$(json_escape "$title")" "$review_pass"
  done)
  output="{\"items\": [${items%,}]}"
fi
questions=$(directives question | while IFS= read -r q; do printf '"%s",' "$(json_escape "$q")"; done)
if [ -n "$questions" ]; then
  output="$output
\`\`\`json
{\"clarity\": \"needs_clarification\", \"questions\": [${questions%,}]}
\`\`\`"
elif grep -q "\"@demo $kind clear\"" "$ctx"; then
  output="$output
\`\`\`json
{\"clarity\": \"clear\", \"questions\": []}
\`\`\`"
fi

grade=""
ratings=$(directive rating)
nograde=$(directive nograde)
if [ -n "$nograde" ] && [ "$attempt" -le "$nograde" ]; then
  grades=""
  output="$output, and no grade (truncated)"
fi
if [ -n "$grades" ] && [ "$grades" != null ]; then
  rating=$(printf '%s\n' "${ratings:-0.9}" | awk -v n="$attempt" '{ i = (n <= NF ? n : NF); print $i }')
  grade=",\"grade\":{\"rating\":$rating,\"feedback\":\"$kind rated attempt $attempt at $rating\"}"
fi

pr=$(directive pr)
pull_request=""
[ -n "$pr" ] && pull_request=",\"pull_request\":{\"url\":\"$(json_escape "$pr")\"}"

note finish
echo "{\"type\":\"result\",\"output\":\"$(json_escape "$output")\"$grade$pull_request}"
