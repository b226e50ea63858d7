#!/bin/bash
# The paper's Table 1 ablation on Fashion-MNIST (docs/results.md): each run trains the default
# config with one objective and one seed on 2 ranks for the same wall-clock budget, is stopped
# with SIGUSR1 (every rank checkpoints after the same step), then evaluated on the 10,000 test
# images (not gan, which has no likelihood) and sampled: 10,000 images as npz plus a grid for
# docs/images, scored (FD, IS, KID, precision/recall) against the test images in the
# Fashion-MNIST classifier's features. Then FD and IS of 2,000 samples from ten of the run's
# checkpoints make its FD curve (checkpoint-scores.jsonl, with the wall-clock seconds from
# metrics.jsonl at that step), measured after training so the probe takes nothing from the budget.
#
#   launch/ablation.sh [MINUTES] [OBJECTIVE[@SEED] ...]
#
# Default: 20 minutes; cqf and vae with seeds 0, 1 and 2, gan, cq and mle with seed 0, in an
# order that gives a first comparison early. DISTRIBUTED names the built executable (default
# .build/release/Distributed); each run goes to runs/ablation-<objective>-seed<seed>, its
# summary to summary.txt there. A finished run is kept and skipped, so the script resumes.
# SETTINGS adds KEY=VALUE config overrides to every run and TAG names such runs apart
# (runs/ablation-<objective>-<tag>-seed<seed>). The config generates from averaged weights
# (ema_decay 0.999) with lambda_q 3: SETTINGS="ema_decay=0 lambda_q=10" gives the table's runs
# (docs/results.md), TAG=ema SETTINGS=lambda_q=10 the averaged ones.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-20}
shift || true
runs=("$@")
(( ${#runs[@]} )) || runs=(cqf@0 vae@0 gan cqf@1 vae@1 cqf@2 vae@2 cq mle)
executable=${DISTRIBUTED:-.build/release/Distributed}
[[ -x $executable ]] || { echo "ablation: $executable is missing: swift build -c release first" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# What one objective needs beyond the shared config. gan: with the shared Adamax settings
# (lr 0.002, beta1 0.9) the generator saturated to white images by step 40 and never came back
# (measured, docs/results.md); a GAN's usual lr 0.0002 and beta1 0.5, for both networks, keep
# it training.
declare -A extra=([gan]="lr=0.0002 beta1=0.5 d_lr=0.0002 d_beta1=0.5")
# The config's FD/IS probe (score_every) is off: it costs a fixed time per 200 steps, so it would
# take more of the budget from the objectives with cheap steps.
bash launch/classifier.sh "$executable"
classifier=runs/classifier/fashion-mnist.safetensors

for run in "${runs[@]}"; do
    objective=${run%@*}
    seed=0
    [[ $run == *@* ]] && seed=${run#*@}
    out=runs/ablation-$objective${TAG:+-$TAG}-seed$seed
    if [[ -e $out ]]; then
        grep -q '^score: ' "$out/summary.txt" 2>/dev/null && [[ -s $out/checkpoint-scores.jsonl ]] \
            && { echo "ablation: $out is finished; kept"; continue; }
        echo "ablation: $out is unfinished; move it away to rerun $run" >&2; exit 2
    fi
    mkdir -p "$out" docs/images
    echo "ablation: $objective, seed $seed, for $minutes minutes into $out"
    started=$(date +%s)
    status=0
    # Status 75: stopped by the signal after checkpointing, which is what the budget asks for.
    timeout --preserve-status --signal=USR1 --kill-after=120 "${minutes}m" \
        mpirun -n 2 "$executable" train --config configs/fashion-mnist.json --out "$out" --seed "$seed" \
            --steps 1000000 score_every=0 objective="$objective" ${extra[$objective]:-} ${SETTINGS:-} >"$out/train.log" 2>&1 || status=$?
    (( status == 75 || status == 0 )) || { echo "ablation: $run ended with status $status (see $out/train.log)" >&2; exit 1; }
    checkpoint=$out/checkpoints/latest.safetensors
    {
        echo "objective: $objective"
        echo "seed: $seed"
        echo "wall-clock: $(( $(date +%s) - started )) s"
        echo "steps: $(sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$out/metrics.jsonl" | tail -1)"
        [[ $objective == gan ]] || echo "eval: $("$executable" eval --checkpoint "$checkpoint")"
    } >"$out/summary.txt.partial"
    "$executable" sample --checkpoint "$checkpoint" --count 10000 --out "$out/samples.npz" \
        --grid "docs/images/ablation-$objective${TAG:+-$TAG}-seed$seed.png"
    scores=$("$executable" score --samples "$out/samples.npz" --dataset fashion-mnist --features "$classifier")
    echo "score: $scores" >>"$out/summary.txt.partial"
    python3 launch/checkpoint-scores.py "$executable" "$out" "$classifier" >"$out/checkpoint-scores.jsonl.partial"
    mv "$out/checkpoint-scores.jsonl.partial" "$out/checkpoint-scores.jsonl"
    mv "$out/summary.txt.partial" "$out/summary.txt"
    cat "$out/summary.txt"
done
