#!/usr/bin/env bash
# First contact, as a new user meets it (issue 12): a fresh virtual environment, `pip install .`,
# an empty model cache (SPEECHCHURN_HOME), two worker processes. Every sample file must be done on
# the first run, for faster-whisper on all of audio_samples and for openai-whisper on two calls.
# pip's download cache is reused; nothing else from the test environment is.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
REPO=$PWD
WORK=$(mktemp -d -t speechchurn-first-contact.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
OPENAI_CALLS=(20261028_100012_13700002204_out.wav 20260615_091245_15900003305_in.wav)

say() { printf '[first-contact %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# errors.csv holds only its header line, and the command exited 0
check_clean() {
    local out=$1 rc=$2 rows
    rows=$(($(wc -l <"$out/errors.csv") - 1))
    if [[ $rc -ne 0 || $rows -ne 0 ]]; then
        say "FAILED: exit $rc, $rows row(s) in $out/errors.csv"
        cat "$out/errors.csv" >&2
        exit 1
    fi
}

say "fresh venv in $WORK/venv"
python -m venv "$WORK/venv"
# shellcheck disable=SC1091
source "$WORK/venv/bin/activate"

say "README's first command: pip install -c constraints.txt . && speechchurn analyze audio_samples --workers 2"
pip install -q -c "$REPO/constraints.txt" "$REPO"
export SPEECHCHURN_HOME="$WORK/home-faster"
rc=0
(cd "$WORK" && speechchurn analyze "$REPO/audio_samples" --out "$WORK/out-faster" --workers 2) || rc=$?
check_clean "$WORK/out-faster" "$rc"
expected=$(find "$REPO/audio_samples" -name '*.wav' | wc -l)
done_rows=$(python -c "import pandas, sys; print(len(pandas.read_csv(sys.argv[1])))" "$WORK/out-faster/calls.csv")
[[ $done_rows -eq $expected ]] || { say "FAILED: $done_rows of $expected calls in calls.csv"; exit 1; }
say "faster-whisper: $done_rows/$expected files done on the first run"

say "openai-whisper on two calls, empty model cache (torch==2.13.0 first: the local CPU wheel)"
pip install -q -c "$REPO/constraints.txt" torch==2.13.0 && pip install -q -c "$REPO/constraints.txt" "$REPO[openai]"
mkdir "$WORK/two"
for name in "${OPENAI_CALLS[@]}"; do cp "$REPO/audio_samples/$name" "$WORK/two/"; done
export SPEECHCHURN_HOME="$WORK/home-openai"
rc=0
speechchurn analyze "$WORK/two" --out "$WORK/out-openai" --engine openai-whisper --workers 2 || rc=$?
check_clean "$WORK/out-openai" "$rc"
say "openai-whisper: ${#OPENAI_CALLS[@]} files done on the first run"
