#!/usr/bin/env bash
# OpenRLHF 0.11 PPO/GRPO-style training with turnscore as the remote reward (MatchTIR turn-level rewards).
#
# From a clone of the repository (docs/recipes.md):
#   pip install '.[prepare]' ./client                              # turnscore prepare and the client
#   turnscore prepare --for openrlhf GOLD.jsonl... -o data/openrlhf  # train.jsonl, val.jsonl
#   turnscore serve --host 0.0.0.0 --port 8000                      # or the Kubernetes Service in k8s/
#   TURNSCORE=http://rm-host:8000 DATA_DIR=data/openrlhf bash client/examples/openrlhf_launch.sh [args]
#
# Dataset: the JSONL `turnscore prepare --for openrlhf` writes: the chat prompt (tool schemas in its system
# message) in --data.input_key prompt and the gold (JSON string of the gold-data record's gold fields) in
# --data.label_key label. A label may also be a gold trace object, or {"references": [...]} for several golds.
set -euo pipefail

TURNSCORE=${TURNSCORE:-http://turnscore:8000}
MODEL=${MODEL:-Qwen/Qwen2.5-7B-Instruct}
DATA_DIR=${DATA_DIR:-data/openrlhf}
DATA=${DATA:-${DATA_DIR}/train.jsonl}
EVAL_DATA=${EVAL_DATA:-${DATA_DIR}/val.jsonl}
for f in "${DATA}" "${EVAL_DATA}"; do
  [[ -f "$f" ]] || { echo "missing $f: write it with: turnscore prepare --for openrlhf GOLD.jsonl... -o ${DATA_DIR}" >&2; exit 1; }
done

# Variant A (plain HTTP, nothing to install on the trainer): OpenRLHF posts {query, prompts, labels}
# to /v1/openrlhf and gets one reward per sample (the trajectory return R_i). Several replicas:
# comma-separated URLs (OpenRLHF shards each batch across them).
REWARD_ARGS=(--reward.remote_url "${TURNSCORE}/v1/openrlhf")

# Variant B (Python file; needs the client in the Ray workers: `pip install ./client` from a clone): retries with backoff,
# Retry-After, deadline and failover by the turnscore client.
if [[ "${USE_REWARD_FILE:-0}" == "1" ]]; then
  export TURNSCORE_URL="${TURNSCORE}" TURNSCORE_PRESET="${TURNSCORE_PRESET:-matchtir-km}"
  # The file must be readable by the Ray workers at this path (shared filesystem or the job's working_dir).
  REWARD_ARGS=(--reward.remote_url "$(cd "$(dirname "$0")" && pwd)/openrlhf_reward_func.py")
fi

ray job submit --address="${RAY_ADDRESS:-http://127.0.0.1:8265}" \
  --runtime-env-json="{\"env_vars\": {\"TURNSCORE_URL\": \"${TURNSCORE}\", \"TURNSCORE_PRESET\": \"${TURNSCORE_PRESET:-matchtir-km}\"}}" \
  -- python3 -m openrlhf.cli.train_ppo_ray \
  --actor.model_name_or_path "${MODEL}" \
  --data.prompt_dataset "${DATA}" \
  --eval.dataset "${EVAL_DATA}" \
  --data.input_key prompt \
  --data.label_key label \
  --data.apply_chat_template \
  --rollout.n_samples_per_prompt 8 \
  --algo.advantage.estimator group_norm \
  "${REWARD_ARGS[@]}" \
  "$@"
