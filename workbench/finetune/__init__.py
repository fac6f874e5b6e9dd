"""LoRA fine-tuning on chat dialogues: assistant-only loss, length-grouped batches, resumable runs.

    run = train(TrainConfig(name="cotherapist", steps=60))
    merge("cotherapist")              # a full model the registry loads by name
    merged_model("cotherapist")       # the same, merging only when missing or stale

``data`` turns dialogues into examples and batches, ``loss`` computes the assistant-only loss,
``train`` runs the loop and its checkpoints, ``adapters`` reads, merges and loads what it saved.
Importing this package does not import torch.
"""

from workbench.finetune.adapters import (
    adapter_dir,
    has_adapter,
    list_adapters,
    load_with_adapter,
    merge,
    merged_model,
    read_manifest,
    shipped_dir,
    shipped_evaluation,
    trained_dir,
)
from workbench.finetune.data import (
    IGNORE,
    SYSTEMS,
    Example,
    collate,
    encode_dialogue,
    length_batches,
    load_examples,
    with_system,
)
from workbench.finetune.loss import loss_on_labels, output_cross_entropy
from workbench.finetune.train import (
    Checkpoint,
    TrainConfig,
    TrainResult,
    checkpoint_history,
    lora_config,
    remaining_s,
    run_dir,
    train,
)

__all__ = ["IGNORE", "SYSTEMS", "Checkpoint", "Example", "TrainConfig", "TrainResult", "adapter_dir",
           "checkpoint_history", "collate", "encode_dialogue", "has_adapter", "length_batches", "list_adapters",
           "load_examples", "load_with_adapter", "lora_config", "loss_on_labels", "merge", "merged_model",
           "output_cross_entropy", "read_manifest", "remaining_s", "run_dir", "shipped_dir", "shipped_evaluation",
           "train", "trained_dir", "with_system"]
