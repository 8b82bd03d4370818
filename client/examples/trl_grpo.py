"""GRPO with TRL's GRPOTrainer and turnscore rewards, on the folder ``turnscore prepare --for trl`` writes.

    pip install '.[prepare]' ./client trl                     # from a clone (docs/recipes.md)
    turnscore prepare --for trl GOLD.jsonl... -o data/trl     # prompt, gold, tools columns; train/validation
    turnscore serve --port 8000                               # or any deployment of the service
    TURNSCORE_URL=http://127.0.0.1:8000 python client/examples/trl_grpo.py data/trl Qwen/Qwen3-0.6B

``TURNSCORE_PRESET`` / ``TURNSCORE_CONFIG`` choose the scoring (default preset of the service otherwise).
"""

from __future__ import annotations

import sys

from datasets import load_dataset
from trl import GRPOConfig, GRPOTrainer
from turnscore_client.trl import TurnScoreReward


def main(data_dir: str, model: str, output_dir: str = "runs/trl-turnscore") -> None:
    data = load_dataset(data_dir)  # splits train and validation (train.parquet, val.parquet)
    args = GRPOConfig(
        output_dir=output_dir,
        num_generations=8,
        per_device_train_batch_size=8,
        max_completion_length=1024,
        learning_rate=1e-6,
        logging_steps=1,
        eval_strategy="steps" if "validation" in data else "no",
        eval_steps=50,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[TurnScoreReward(gold_column="gold")],  # TURNSCORE_URL; one request per reward call
        args=args,
        train_dataset=data["train"],
        eval_dataset=data.get("validation"),
    )
    trainer.train()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(f"usage: {sys.argv[0]} DATA_DIR MODEL [OUTPUT_DIR]")
    main(*sys.argv[1:4])
