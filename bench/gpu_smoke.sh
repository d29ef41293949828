#!/usr/bin/env bash
# The GPU path end to end, on a machine with a CUDA GPU (target: under 10 minutes):
#   1. install the GPU build (scripts/install.sh picks `vllm` where nvidia-smi sees a GPU),
#   2. serve the model with CUDA vLLM (LoRA enabled),
#   3. a 20-step GRPO job on `choose` with TRL's colocated vLLM generation
#      (per-prompt structured output, forced tokens masked, no IS correction),
#   4. promote the adapter through the gate,
#   5. one booking run answered by the adapter (its `choose` step records it).
# Prints the time of each phase and the figures the gate reports. Usage:
#   bash bench/gpu_smoke.sh [DATA_DIR]      (default: a fresh temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_smoke: no CUDA GPU here (nvidia-smi sees none); this script is for a GPU machine" >&2
  exit 2
fi

export FORGEYARD_DATA_DIR=${1:-$(mktemp -d /tmp/forgeyard-gpu-smoke.XXXX)}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
export FORGEYARD_SERVE_PORT=${FORGEYARD_SERVE_PORT:-8011}
export FORGEYARD_MODEL_BASE_URL="http://127.0.0.1:${FORGEYARD_SERVE_PORT}/v1"
TENANT=default
BIN=.venv/bin
started=$(date +%s)
phase() { echo "==> [$(( $(date +%s) - started ))s] $*"; }

phase "install (GPU build)"
./scripts/install.sh
"$BIN/python" -c "import torch, vllm; assert torch.cuda.is_available(); print('torch', torch.__version__, 'vllm', vllm.__version__, torch.cuda.get_device_name(0))"

phase "database, tiny model, reward model"
"$BIN/forgeyard" db upgrade
"$BIN/forgeyard" model build-tiny
"$BIN/forgeyard" rewards eval rewards/examples/logistics_booking/reward.yaml \
  --dataset rewards/examples/logistics_booking/labelled.jsonl --out "$FORGEYARD_DATA_DIR/rm-report"

phase "serve with CUDA vLLM on :$FORGEYARD_SERVE_PORT"
"$BIN/forgeyard" model serve > "$FORGEYARD_DATA_DIR/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 180); do
  curl -sf "http://127.0.0.1:${FORGEYARD_SERVE_PORT}/health" >/dev/null && break
  kill -0 $SERVER 2>/dev/null || { tail -50 "$FORGEYARD_DATA_DIR/serve.log"; exit 1; }
  sleep 1
done
curl -sf "http://127.0.0.1:${FORGEYARD_SERVE_PORT}/health" >/dev/null

phase "GRPO, 20 steps, colocated vLLM generation"
"$BIN/forgeyard" train grpo --tenant "$TENANT" --workflow logistics_booking --node choose \
  --reward logistics_booking_rm --max-steps 20 --use-vllm | tee "$FORGEYARD_DATA_DIR/train.log"
ADAPTER=$("$BIN/python" -c "
from forgeyard.records.training import AdapterStatus
from training.adapters import list_adapters
found = list_adapters(tenant_id='$TENANT', node='choose', status=AdapterStatus.candidate)
print(max(found, key=lambda a: a.created_at).id)")

phase "promote $ADAPTER through the gate"
"$BIN/forgeyard" adapters promote "$ADAPTER" --tenant "$TENANT" || echo "gate refused (figures above)"

phase "one booking run (the tenant's active adapter answers choose)"
"$BIN/forgeyard" run logistics_booking \
  --input workflows/examples/logistics_booking/inputs/structured.json --approve \
  | tee "$FORGEYARD_DATA_DIR/run.log"
"$BIN/forgeyard" runs list --limit 1
phase "done; everything is under $FORGEYARD_DATA_DIR"
