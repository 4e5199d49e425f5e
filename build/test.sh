#!/usr/bin/env bash
# One command: install what is missing, build native + managed, run every test.
# Prints the test runner's summary, then 'N skipped' and, last, 'N passed, N failed'.
# The fuzzing corpora committed under test/fixtures/fuzz are replayed here (seconds, no fuzzing, no clang): the
# native ones through the Release library (ImageFuzzCorpusTests), the managed ones by ParserFuzzTests, which also
# samples 1,500 generated inputs per parser property. The campaigns themselves are build/fuzz.sh.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/build/install-deps.sh" || exit 1
CONFIGURATION=Release "$root/build/build.sh" || exit 1
log=$(mktemp)
dotnet test "$root/MLNet.Attention.sln" -c Release --no-build -nologo 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# Sum the per-assembly summaries ("Passed!  - Failed: 0, Passed: 97, Skipped: 0, Total: 97").
read -r passed failed skipped < <(grep -E '^(Passed|Failed)!' "$log" | sed -E 's/.*Failed: *([0-9]+), Passed: *([0-9]+), Skipped: *([0-9]+).*/\2 \1 \3/' |
  awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
rm -f "$log"
if [[ "$passed" == 0 && "$failed" == 0 ]]; then echo "no test ran" >&2; rc=1; fi
echo "$skipped skipped"
echo "$passed passed, $failed failed"
exit "$rc"
