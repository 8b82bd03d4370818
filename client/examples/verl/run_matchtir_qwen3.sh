#!/usr/bin/env bash
# MatchTIR on verl 0.9.1 with turnscore: Qwen3 + verl's tool agent loop, per-turn rewards from the service,
# dual-level advantages from the turnscore_dual estimator. Mirrors MatchTIR's Scripts/run.sh (verl 0.3.1
# fork) with current config keys; see docs/verl.md for the key-by-key migration.
#
# From a clone of the repository (docs/recipes.md):
#   pip install . './client[verl]'               # the service (turnscore) and the plugin (entry point verl.plugins)
#   turnscore prepare --for verl GOLD.jsonl... -o data/matchtir   # train.parquet, val.parquet, tool_config.yaml
#   turnscore serve --host 0.0.0.0 --port 8000  # or any deployment of the service
#   TURNSCORE_URL=http://rm-host:8000 MODEL=Qwen/Qwen3-8B bash client/examples/verl/run_matchtir_qwen3.sh [overrides]
#
# DATA_DIR (default data/matchtir) is the folder `turnscore prepare -o` wrote; TRAIN_FILES, VAL_FILES and
# TOOL_CONFIG override single files. tool_config.yaml declares every tool of the records as
# turnscore_client.verl.tools.RecordingTool (records the call, fixed observation): change a tool's class_name
# there to run a real tool.
#
# TURNSCORE_DRY_RUN=1 prints the overrides (one per line) instead of launching (used by the tests, which
# compose them against verl's own config schema).
set -euo pipefail

MODEL=${MODEL:-Qwen/Qwen3-8B}
DATA_DIR=${DATA_DIR:-data/matchtir}
TRAIN_FILES=${TRAIN_FILES:-${DATA_DIR}/train.parquet}
VAL_FILES=${VAL_FILES:-${DATA_DIR}/val.parquet}
TOOL_CONFIG=${TOOL_CONFIG:-${DATA_DIR}/tool_config.yaml}
TURNSCORE_URL=${TURNSCORE_URL:-http://127.0.0.1:8000}
PRESET=${PRESET:-matchtir-km}          # matchtir-ot for the soft (OT) variant; matchtir-reference-km to reproduce the fork
N_GPUS=${N_GPUS:-8}
NNODES=${NNODES:-1}

ARGS=(
    # --- turnscore: rewards per turn in the agent loop, dual-level advantages in the estimator ---
    algorithm.adv_estimator=turnscore_dual
    algorithm.use_kl_in_reward=False
    "+algorithm.turnscore_url=${TURNSCORE_URL}"
    "+algorithm.turnscore_preset=${PRESET}"
    +algorithm.turnscore_gamma=0.9
    actor_rollout_ref.rollout.agent.default_agent_loop=turnscore_tool_agent
    # --- multi-turn tool use (verl's ToolAgentLoop, hermes tool-call format for Qwen3) ---
    actor_rollout_ref.rollout.name=vllm
    actor_rollout_ref.rollout.mode=async
    actor_rollout_ref.rollout.multi_turn.enable=True
    actor_rollout_ref.rollout.multi_turn.format=hermes
    "actor_rollout_ref.rollout.multi_turn.tool_config_path=${TOOL_CONFIG}"
    actor_rollout_ref.rollout.multi_turn.max_assistant_turns=10
    actor_rollout_ref.rollout.multi_turn.max_parallel_calls=8
    actor_rollout_ref.rollout.multi_turn.max_tool_response_length=4096
    # --- data (as the fork: 7000 prompt / 23000 response tokens, thinking on) ---
    "data.train_files=${TRAIN_FILES}"
    "data.val_files=${VAL_FILES}"
    data.train_batch_size=256
    data.max_prompt_length=7000
    data.max_response_length=23000
    data.filter_overlong_prompts=True
    data.truncation=error
    data.return_raw_chat=True
    # the agent loop offers each sample its own tools (extra_info.tool_selection); the dataset's length
    # filter would count every tool of the config in every prompt, so it is given none
    data.tool_config_path=null
    +data.apply_chat_template_kwargs.enable_thinking=True
    # --- actor / rollout / ref: the fork's hyper-parameters ---
    "actor_rollout_ref.model.path=${MODEL}"
    actor_rollout_ref.model.use_remove_padding=True
    actor_rollout_ref.model.enable_gradient_checkpointing=True
    actor_rollout_ref.actor.optim.lr=1e-6
    actor_rollout_ref.actor.ppo_mini_batch_size=32
    actor_rollout_ref.actor.use_dynamic_bsz=True
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=30000
    actor_rollout_ref.actor.use_kl_loss=True
    actor_rollout_ref.actor.kl_loss_coef=0.001
    actor_rollout_ref.actor.kl_loss_type=low_var_kl
    actor_rollout_ref.actor.entropy_coeff=0.001
    actor_rollout_ref.actor.fsdp_config.param_offload=True
    actor_rollout_ref.actor.fsdp_config.optimizer_offload=True
    actor_rollout_ref.rollout.temperature=1.0
    actor_rollout_ref.rollout.tensor_model_parallel_size=1
    actor_rollout_ref.rollout.gpu_memory_utilization=0.7
    actor_rollout_ref.rollout.n=16
    actor_rollout_ref.rollout.max_num_batched_tokens=32768
    actor_rollout_ref.ref.fsdp_config.param_offload=True
    # --- trainer (v1 trainer: required, it stores the agent loop's token-level rewards) ---
    trainer.use_v1=True
    trainer.v1.trainer_mode=turnscore_sync     # verl's sync trainer + turnscore/<field> in every step's metrics
    trainer.critic_warmup=0
    "trainer.logger=[console,wandb]"
    trainer.project_name=MatchTIR
    trainer.experiment_name=MatchTIR-Qwen3-turnscore
    trainer.val_before_train=False
    "trainer.n_gpus_per_node=${N_GPUS}"
    "trainer.nnodes=${NNODES}"
    trainer.save_freq=8
    trainer.test_freq=4
    trainer.total_epochs=3
)

if [[ "${TURNSCORE_DRY_RUN:-0}" == "1" ]]; then
    printf '%s\n' "${ARGS[@]}" "$@"
    exit 0
fi

for f in "${TRAIN_FILES}" "${VAL_FILES}" "${TOOL_CONFIG}"; do
    [[ -f "$f" ]] || { echo "missing $f: write it with: turnscore prepare --for verl GOLD.jsonl... -o ${DATA_DIR}" >&2; exit 1; }
done
# verl swallows plugin import errors: fail here, loudly, if the names are not registered.
python3 -m turnscore_client.verl check
python3 -c "import httpx, sys; r = httpx.get('${TURNSCORE_URL}/readyz', timeout=5); sys.exit(r.status_code != 200)" \
    || { echo "turnscore service not ready at ${TURNSCORE_URL}" >&2; exit 1; }

exec python3 -m verl.trainer.main_ppo "${ARGS[@]}" "$@"
