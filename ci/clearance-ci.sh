#!/usr/bin/env bash
# Run `clearance check` (stateless) or `clearance promote` (through a server) in a CI job.
#
# The GitHub Action (action.yml) and the GitLab CI component (templates/clearance.yml) both
# run this script, so the two behave the same. Everything comes in through environment
# variables, never through the script's text, so an input cannot inject shell:
#
#   CLEARANCE_CI_MODE         check (default) or promote
#   CLEARANCE_CI_POLICY       check: policy file or directory
#   CLEARANCE_CI_MANIFEST     check: model manifest
#   CLEARANCE_CI_FROM         check: current stage (default: the manifest's)
#   CLEARANCE_CI_MODEL        promote: model name
#   CLEARANCE_CI_VERSION      promote: version
#   CLEARANCE_CI_TO           target stage (both modes)
#   CLEARANCE_CI_CHANGE_TYPE  standard (default), or a change type the policy defines
#   CLEARANCE_CI_REPORTS      folder for the reports (default clearance-reports)
#   CLEARANCE_CI_MARKDOWN, CLEARANCE_CI_JUNIT, CLEARANCE_CI_SARIF
#                             report paths (default: clearance.md, clearance.xml,
#                             clearance.sarif in the reports folder)
#   CLEARANCE_CI_ARGS         more options, split on whitespace (no quoting), e.g. "--now 2026-11-22"
#   CLEARANCE_CI_BIN          the clearance command (default: clearance)
#   CLEARANCE_CI_SERVER_URL, CLEARANCE_CI_TOKEN
#                             promote: the server and the token; default $CLEARANCE_URL and
#                             $CLEARANCE_TOKEN, which clearance reads
#
# The Markdown report is appended to $GITHUB_STEP_SUMMARY when that is set (GitHub), and
# the paths and the exit code are written to $GITHUB_OUTPUT. The script exits with
# clearance's own code, after the reports are written: 0 allowed (approvals may be owed),
# 1 blocked by a gate, 2 bad input.
set -uo pipefail

mode=${CLEARANCE_CI_MODE:-check}
reports=${CLEARANCE_CI_REPORTS:-clearance-reports}
markdown=${CLEARANCE_CI_MARKDOWN:-$reports/clearance.md}
junit=${CLEARANCE_CI_JUNIT:-$reports/clearance.xml}
sarif=${CLEARANCE_CI_SARIF:-$reports/clearance.sarif}
bin=${CLEARANCE_CI_BIN:-clearance}
CLEARANCE_URL=${CLEARANCE_CI_SERVER_URL:-${CLEARANCE_URL:-}}
CLEARANCE_TOKEN=${CLEARANCE_CI_TOKEN:-${CLEARANCE_TOKEN:-}}
if [ "$mode" = promote ]; then
  export CLEARANCE_URL CLEARANCE_TOKEN
else # check keeps no state and reads no server, whatever the job's environment says
  unset CLEARANCE_URL CLEARANCE_TOKEN
fi

fail() {
  echo "clearance-ci: $*" >&2
  exit 2
}

need() { # need VARIABLE INPUT-NAME
  [ -n "${!1:-}" ] || fail "input '$2' is required with mode '$mode'"
}

for path in "$markdown" "$junit" "$sarif"; do
  case "$path" in *$'\n'* | *$'\r'*) fail "a report path holds a line break" ;; esac
done

case "$mode" in
  check)
    need CLEARANCE_CI_TO to
    need CLEARANCE_CI_POLICY policy
    need CLEARANCE_CI_MANIFEST manifest
    args=(check --policy "$CLEARANCE_CI_POLICY" --manifest "$CLEARANCE_CI_MANIFEST"
      --to "$CLEARANCE_CI_TO")
    if [ -n "${CLEARANCE_CI_FROM:-}" ]; then
      args+=(--from "$CLEARANCE_CI_FROM")
    fi
    ;;
  promote)
    need CLEARANCE_CI_TO to
    need CLEARANCE_CI_MODEL model
    need CLEARANCE_CI_VERSION version
    need CLEARANCE_URL server-url
    need CLEARANCE_TOKEN token
    args=(promote "$CLEARANCE_CI_MODEL" "$CLEARANCE_CI_VERSION" --to "$CLEARANCE_CI_TO")
    ;;
  *)
    fail "mode must be 'check' or 'promote', not '$mode'"
    ;;
esac
if [ -n "${CLEARANCE_CI_CHANGE_TYPE:-}" ]; then
  args+=(--change-type "$CLEARANCE_CI_CHANGE_TYPE")
fi
args+=(--markdown "$markdown" --junit "$junit" --sarif "$sarif")
read -r -a extra <<<"${CLEARANCE_CI_ARGS:-}"
args+=(${extra[@]+"${extra[@]}"})

# A report left by an earlier step must not pass for this run's.
rm -f -- "$markdown" "$junit" "$sarif"

"$bin" "${args[@]}"
rc=$?

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  if [ -s "$markdown" ]; then
    cat -- "$markdown" >>"$GITHUB_STEP_SUMMARY"
  else # exit 2: nothing was evaluated, so there is no report; the log says why
    printf '## clearance: no decision (exit %s)\n\nSee the job log for the errors.\n' "$rc" \
      >>"$GITHUB_STEP_SUMMARY"
  fi
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "exit-code=$rc"
    for name in markdown junit sarif; do
      if [ -s "${!name}" ]; then echo "$name=${!name}"; fi
    done
  } >>"$GITHUB_OUTPUT"
fi
exit "$rc"
