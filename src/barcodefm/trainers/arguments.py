"""``TrainingArguments`` from our options, with SPEC's optimisation defaults.

AdamW (weight decay on everything but biases and LayerNorm weights, the Trainer's rule), a
cosine schedule with linear warm-up that ends at ``min_lr_rate`` of the peak (transformers'
``cosine_with_min_lr``). On a machine without CUDA the Trainer runs on the CPU, and a
``torchrun`` / ``accelerate launch`` of several processes runs data-parallel over gloo
(``use_cpu=True``).
"""

from __future__ import annotations

import torch
from transformers import TrainingArguments

from .options import TrainingOptions


def make_training_arguments(
    options: TrainingOptions, checkpoint_dir, has_eval: bool, label_names=("labels",)
) -> TrainingArguments:
    save_steps = options.save_steps
    eval_steps = options.eval_steps if has_eval else None
    return TrainingArguments(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.eval_batch_size or options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        num_train_epochs=options.epochs,
        max_steps=options.max_steps if options.max_steps else -1,
        learning_rate=options.lr,
        weight_decay=options.weight_decay,
        optim="adamw_torch",
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": options.min_lr_rate},
        warmup_steps=options.warmup,
        max_grad_norm=1.0,
        seed=options.seed,
        data_seed=options.seed,
        bf16=options.bf16,
        logging_strategy="steps",
        logging_steps=options.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if eval_steps else "no",
        eval_steps=eval_steps,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        save_total_limit=options.save_total_limit,
        report_to="none",
        # Our collators need the raw ``sequence`` and ``index`` columns, which no forward takes.
        remove_unused_columns=False,
        label_names=list(label_names),
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
        ddp_find_unused_parameters=False,
        disable_tqdm=False,
    )
