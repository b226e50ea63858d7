#!/bin/bash
# Fuzzes every file parser of CQF with libFuzzer under AddressSanitizer (Tests/Fuzz/FuzzTargets.swift,
# compiled with CQF's sources): each target runs SECONDS (default 20, CI's short run; a campaign
# gives 3600) from its seeds in Tests/Fuzz/seeds/TARGET, growing its corpus in
# .build/fuzz/corpus/TARGET. A crash, an out-of-bounds access or an input that takes more than
# 10 s or 2 GB fails the run, and libFuzzer keeps the input in .build/fuzz/crashes.
#
#   bash launch/ci/fuzz.sh [SECONDS] [TARGET ...]
#
# Prints per target the inputs tried, the coverage reached (libFuzzer's "cov", edges) and the
# corpus size: the figures docs/data.md records for the campaigns.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-20}
shift || true
targets=("$@")
(( ${#targets[@]} )) || targets=(idx idx-gzip npy npz imagenet-npz packed safetensors checkpoint image config)
out=.build/fuzz
binary=$out/fuzz-cqf
mkdir -p "$out/crashes"

sources=$(find Sources/CQF -name '*.swift' | sort)
if [[ ! -x $binary ]] || [[ -n $(find Sources/CQF Tests/Fuzz -name '*.swift' -newer "$binary" | head -1) ]]; then
    echo "fuzz: building $binary (libFuzzer and AddressSanitizer over CQF's sources)"
    # The linker warns of every sanitizer helper it cannot export: the log keeps them.
    # shellcheck disable=SC2086 # the source list and pkg-config's flags are word lists
    swiftc -O -sanitize=fuzzer,address -parse-as-library -swift-version 5 -module-name CQF \
        -I Sources/CImageCodecs -I Sources/CBLAS -I Sources/CDNNL -I Sources/CPUPeak \
        $(pkg-config --cflags-only-I openblas | sed 's/-I/-Xcc -I/g') \
        $sources Tests/Fuzz/FuzzTargets.swift -o "$binary" >"$out/build.log" 2>&1 \
        || { grep -E 'error' "$out/build.log" | head -20 >&2; echo "fuzz: the build failed (log: $out/build.log)" >&2; exit 1; }
fi
[[ -d Tests/Fuzz/seeds ]] || CQF_FUZZ_SEEDS=Tests/Fuzz/seeds "$binary"

for target in "${targets[@]}"; do
    corpus=$out/corpus/$target
    mkdir -p "$corpus"
    log=$out/$target.log
    status=0
    # Leaks are not checked: Foundation's Data(contentsOf:) leaks 4 KB reading an empty file
    # (found by the first run), which is no defect of a parser and would stop every campaign.
    ASAN_OPTIONS=detect_leaks=0 CQF_FUZZ_TARGET=$target "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$out/crashes/$target-" -print_final_stats=1 "$corpus" "Tests/Fuzz/seeds/$target" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if (( status != 0 )); then
        echo "fuzz: $target FAILED after ${runs:-?} inputs (status $status); the input is in $out/crashes, the log in $log" >&2
        grep -m 5 -E 'ERROR|Fatal error|==[0-9]+==' "$log" >&2 || tail -n 20 "$log" >&2
        exit 1
    fi
    echo "fuzz: $target: ${runs:-?} inputs in $seconds s, 0 crashes, coverage ${coverage:-?} edges, corpus $(ls "$corpus" | wc -l) files"
done
