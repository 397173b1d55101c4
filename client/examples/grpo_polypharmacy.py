"""GRPO on PolypharmacyEnv with TRL: a language model learns medication reviews by calling the
environment's tools (query_ddi, propose_intervention, finish_review) and is rewarded with the
review's grader score.

Needs a running PolypharmacyEnv server (``bin/run`` in the repository) and, where this runs, a
GPU, a chat model with tool calling and these packages (the pins the project tests against):

    pip install ./client "trl==1.16.0" "transformers==5.23.0" "torch==2.13.0" datasets accelerate
    POLYPHARMACY_ENV_URL=http://127.0.0.1:8000 python client/examples/grpo_polypharmacy.py \\
        --model Qwen/Qwen3-0.6B --max-steps 200 --output-dir var/grpo-polypharmacy

Each training example names an episode (task and seed) and TRL's ``environment_factory`` plays it
on the server: one ``PolypharmacyToolEnv`` per rollout, reset with the example's ``task_id`` and
``seed``, its public methods offered to the model as tools, ``get_reward()`` the score. Train
seeds are 0..N-1; evaluate on seeds 10000 and up (``manage.py run_agent``, or ``--eval-seeds``).
"""

from __future__ import annotations

import argparse

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from polypharmacy_env.trl import PolypharmacyToolEnv

TASKS = ("easy_screening", "budgeted_screening", "complex_tradeoff")
INSTRUCTIONS = (
    "You are reviewing the medicines of an older patient in a research simulator (not clinical advice). "
    "Use the tools: query_ddi to look up interactions between drugs of the regimen, propose_intervention "
    "to stop, dose-reduce, substitute or monitor a risky drug, and finish_review when you are done; the "
    "review is graded on how much lower the regimen's risk is. Budgets are limited. The review so far:\n\n"
)


def episodes(tasks: list[str], first_seed: int, count: int) -> Dataset:
    """One example per (task, seed): the prompt, and the columns TRL passes to ``reset``."""
    rows = [{"prompt": [{"role": "user", "content": INSTRUCTIONS}], "task_id": task, "seed": seed}
            for seed in range(first_seed, first_seed + count) for task in tasks]
    return Dataset.from_list(rows)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a chat model with tool calling, e.g. Qwen/Qwen3-0.6B")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task ids (default: all three)")
    parser.add_argument("--train-seeds", type=int, default=512, help="training episodes per task (seeds 0..N-1)")
    parser.add_argument("--eval-seeds", type=int, default=0, help="evaluation episodes per task (seeds 10000..)")
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--num-generations", type=int, default=8, help="rollouts per example (GRPO's group)")
    parser.add_argument("--max-completion-length", type=int, default=2048)
    parser.add_argument("--max-tool-calls", type=int, default=12, help="tool-calling turns per rollout")
    parser.add_argument("--learning-rate", type=float, default=1e-6)
    parser.add_argument("--output-dir", default="grpo-polypharmacy")
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in float32 (GPUs without bf16)")
    return parser.parse_args(argv)


def training_config(args: argparse.Namespace) -> GRPOConfig:
    return GRPOConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.num_generations,
        max_completion_length=args.max_completion_length,
        max_tool_calling_iterations=args.max_tool_calls,
        logging_steps=1,
        log_completions=True,
        bf16=args.bf16,
        gradient_checkpointing=True,
        report_to="none",
        eval_strategy="steps" if args.eval_seeds else "no",
        eval_steps=50,
    )


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    trainer = GRPOTrainer(
        model=args.model,
        args=training_config(args),
        train_dataset=episodes(tasks, 0, args.train_seeds),
        eval_dataset=episodes(tasks, 10000, args.eval_seeds) if args.eval_seeds else None,
        environment_factory=PolypharmacyToolEnv,  # reads POLYPHARMACY_ENV_URL (and _TOKEN) itself
    )
    trainer.train()
    trainer.save_model(args.output_dir)


if __name__ == "__main__":
    main()
