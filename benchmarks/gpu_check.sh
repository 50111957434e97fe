#!/usr/bin/env bash
# The whole GPU check in one call: benchmarks beside the reference loop, the GAN quality race, and
# every lesson executed under the gpu profile. Made for a short device lease (about 8 minutes on an
# H100/H200) and for a teacher's lab GPU alike.
#
#   bash benchmarks/gpu_check.sh OUTDIR
#
# Needs: python3 with torch (CUDA), torchvision, torchmetrics, matplotlib, scikit-image,
# scikit-learn, tqdm; papermill + ipykernel + ipywidgets for the lessons (installed from .whl/ when
# that folder exists); .bench_ref/examples_loop_reference.py for the reference loop; the offline
# digits cached in data/offline/ (no network needed: GENIMG_OFFLINE=1).
#
# Phase 1 runs alone on the card (timings); phase 2 runs the lessons side by side with the settings
# sweep, so its wall times are upper bounds for a lesson that has the card to itself.
# Knobs (environment): BENCH=0 skips the benchmarks; GAN_ONLY / CLASSIFIER_ONLY / VAE_ONLY / RESTORE_ONLY / TRANSLATE_ONLY /
# DIFFUSION_ONLY="" skip one (or pass --only substrings, e.g. GAN_ONLY="bs1024 bf16 channels_last", TRANSLATE_ONLY="cyclegan",
# DIFFUSION_ONLY="train,ddim-20"); DIFFUSION_FLAGS="--smoke" dry-runs bench_diffusion.py on the CPU; RACE=0 skips the quality race
# and the sweep; LESSONS="notebooks/05_vae.ipynb" runs only those lessons; PROFILE picks the profile;
# SWEEP=0 skips only the settings sweep; REUSE_CHECK=1 also trains lesson 03's gpu DCGAN with and without reuse of D's fakes (gan_reuse.py,
# seed 0, 8,000 steps each: about 3 minutes).
# Writes OUTDIR/results.tgz (logs, JSON, figures, executed notebooks, bands.txt: each lesson's figures against
# its [PROFILE] bands) and prints a summary.
set -u
OUTDIR=${1:-${OUT:-/tmp/gpu_check}}
W="$OUTDIR/work"
mkdir -p "$W/bench" "$W/race" "$W/executed" "$W/logs"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg GENIMG_OFFLINE=1 TQDM_MININTERVAL=5
T0=$(date +%s)
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ -d .whl ] && [ -z "${NO_WHEELS:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import torch, torchvision, torchmetrics; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'torchmetrics', torchmetrics.__version__, torch.cuda.get_device_name(0))"
python3 -c "import papermill, ipykernel, ipywidgets; print('papermill', papermill.__version__)" || echo "papermill missing: lessons will fail"

if [ "${BENCH:-1}" = 1 ]; then  # BENCH=0 skips the benchmarks (a CPU dry run of the rest)
if [ "${GAN_ONLY-all}" != "" ]; then
    stamp "phase 1: GAN step benchmark + reference loop"
    only=(); [ "${GAN_ONLY-all}" != all ] && only=(--only "$GAN_ONLY")
    python3 benchmarks/bench_gan.py --seconds 4 "${only[@]}" --out "$W/bench" --reference .bench_ref/examples_loop_reference.py \
        --reference-args "--seconds 5 --only '${GAN_REF_ONLY:-2 workers,resident bf16 bs64,resident bf16 bs1024}'" \
        >"$W/logs/bench_gan.log" 2>&1
    tail -n 14 "$W/logs/bench_gan.log"
fi
if [ "${CLASSIFIER_ONLY-all}" != "" ]; then
    stamp "phase 1: classifier benchmark"
    python3 benchmarks/bench_classifier.py --seconds 2 --only "${CLASSIFIER_ONLY:-w16 bs1024,w32 bs1024}" --out "$W/bench" \
        >"$W/logs/bench_classifier.log" 2>&1
    tail -n 14 "$W/logs/bench_classifier.log"
fi
if [ "${VAE_ONLY-all}" != "" ]; then
    stamp "phase 1: VAE step benchmark + reference loop"
    python3 benchmarks/bench_vae.py --seconds 3 --out "$W/bench" --reference .bench_ref/examples_loop_reference.py \
        --reference-args "--seconds 4" >"$W/logs/bench_vae.log" 2>&1
    tail -n 16 "$W/logs/bench_vae.log"
fi
if [ "${RESTORE_ONLY-all}" != "" ]; then
    stamp "phase 1: U-Net restoration step benchmark (lesson 06) beside a plain loop"
    python3 benchmarks/bench_restore.py --seconds 3 --out "$W/bench" >"$W/logs/bench_restore.log" 2>&1
    tail -n 12 "$W/logs/bench_restore.log"
fi
if [ "${TRANSLATE_ONLY-all}" != "" ]; then
    stamp "phase 1: pix2pix and CycleGAN step benchmark (lesson 07)"
    only=(); [ "${TRANSLATE_ONLY-all}" != all ] && only=(--only "$TRANSLATE_ONLY")
    python3 benchmarks/bench_translate.py --seconds 2 "${only[@]}" --out "$W/bench" >"$W/logs/bench_translate.log" 2>&1
    tail -n 20 "$W/logs/bench_translate.log"
fi
if [ "${DIFFUSION_ONLY-all}" != "" ]; then
    stamp "phase 1: diffusion training step beside a plain loop, and the samplers (lesson 10)"
    only=(); [ "${DIFFUSION_ONLY-all}" != all ] && only=(--only "$DIFFUSION_ONLY")
    # shellcheck disable=SC2086  # DIFFUSION_FLAGS is a list of flags
    python3 benchmarks/bench_diffusion.py ${DIFFUSION_FLAGS:---seconds 2} "${only[@]}" --out "$W/bench" \
        >"$W/logs/bench_diffusion.log" 2>&1
    tail -n 32 "$W/logs/bench_diffusion.log"
fi
fi
if [ "${RACE:-1}" = 1 ]; then
stamp "phase 1: GAN quality race (examples loop vs course, same seconds)"
python3 benchmarks/gan_race.py --seconds "${RACE_SECONDS:-40}" --out "$W/race" >"$W/logs/gan_race.log" 2>&1
tail -n 5 "$W/logs/gan_race.log"
fi

if [ "${REUSE_CHECK:-0}" = 1 ]; then
    stamp "phase 1: G's update reusing D's fakes vs fresh codes (quality, lesson 03's gpu settings)"
    python3 benchmarks/gan_reuse.py --width 64 --batch 512 --steps 8000 --seeds 0 --out "$W/race" \
        >"$W/logs/gan_reuse.log" 2>&1
    tail -n 3 "$W/logs/gan_reuse.log"
fi

stamp "phase 2: lessons under the gpu profile, beside the settings sweep"
if [ "${SWEEP:-${RACE:-1}}" = 1 ]; then
    python3 benchmarks/gan_race.py --only sweep --seconds "${SWEEP_SECONDS:-50}" --tag gan_sweep --out "$W/race" \
        >"$W/logs/gan_sweep.log" 2>&1 &
fi
for nb in ${LESSONS:-notebooks/[0-9]*.ipynb}; do
    stem=$(basename "$nb" .ipynb)
    (
        s=$(date +%s)
        GENIMG_FIGURES_DIR="$W/executed" python3 -m papermill "$nb" "$W/executed/$stem.ipynb" -p PROFILE "${PROFILE:-gpu}" \
            --cwd notebooks -k python3 --log-output --no-progress-bar >"$W/logs/$stem.log" 2>&1
        rc=$?
        echo "$stem rc=$rc wall_s=$(($(date +%s) - s))" | tee -a "$W/lessons.txt"
    ) &
done
wait
stamp "done"
for f in "$W"/executed/*.json; do
    python3 - "$f" <<'EOF'
import json, sys
v = json.load(open(sys.argv[1]))
keep = {k: v[k] for k in ("lesson", "elapsed_s", "peak_gpu_allocated_gib", "peak_gpu_reserved_gib", "peak_ram_gib",
                          "fid_live_ratio", "fid_live", "fid_real_vs_real", "fid_samples", "train_steps") if k in v}
print(json.dumps(keep))
EOF
done
stamp "each lesson's figures against its [${PROFILE:-gpu}] bands (genimg_course.classroom.bands)"
python3 - "$W/executed" "${PROFILE:-gpu}" <<'EOF' | tee "$W/bands.txt"
import json, sys
from pathlib import Path
from genimg_course.classroom.bands import check_lesson
for f in sorted(Path(sys.argv[1]).glob("*.json")):
    report = check_lesson(json.loads(f.read_text()), Path("notebooks") / f"{f.stem}.ipynb", sys.argv[2])
    misses = "; ".join(m["text"] for m in report["misses"])
    print(f"{f.stem}: {report['status']} ({report['met']} met){': ' + misses if misses else ''}{' ' + report['error'] if report['error'] else ''}")
EOF
[ -f "$W/logs/gan_sweep.log" ] && tail -n 12 "$W/logs/gan_sweep.log"
for stem in $(grep -v "rc=0" "$W/lessons.txt" | cut -d' ' -f1); do
    echo "--- $stem failed:"; tail -n 25 "$W/logs/$stem.log"
done
tar czf "$OUTDIR/results.tgz" -C "$W" . && ls -la "$OUTDIR/results.tgz"
