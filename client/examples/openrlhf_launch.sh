#!/usr/bin/env bash
# OpenRLHF 0.11 PPO/GRPO-style training with turnscore as the remote reward (MatchTIR turn-level rewards).
#
# Dataset: JSONL with the prompt in --data.input_key and the gold tool-call trace in --data.label_key,
# e.g. {"prompt": [...chat...], "gold": {"calls": [{"name": "get_weather", "arguments": {"city": "Beijing"}}],
#        "answer": "15 degrees", "accepted_values": null}}
# (the label may also be a JSON string of that object, or {"references": [...]} for several golds).
#
# The service: `turnscore serve --host 0.0.0.0 --port 8000` (or the Kubernetes Service in k8s/).
set -euo pipefail

TURNSCORE=${TURNSCORE:-http://turnscore:8000}
MODEL=${MODEL:-Qwen/Qwen2.5-7B-Instruct}
DATA=${DATA:-/data/tool_use_train.jsonl}

# Variant A (plain HTTP, nothing to install on the trainer): OpenRLHF posts {query, prompts, labels}
# to /v1/openrlhf and gets one reward per sample (the trajectory return R_i). Several replicas:
# comma-separated URLs (OpenRLHF shards each batch across them).
REWARD_ARGS=(--reward.remote_url "${TURNSCORE}/v1/openrlhf")

# Variant B (Python file; needs `pip install turnscore-client` in the Ray workers): retries with backoff,
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
  --data.input_key prompt \
  --data.label_key gold \
  --data.apply_chat_template \
  --rollout.n_samples_per_prompt 8 \
  --algo.advantage.estimator group_norm \
  "${REWARD_ARGS[@]}" \
  "$@"
