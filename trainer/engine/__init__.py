"""The training engine shared by pre-training and fine-tuning (DESIGN §4).

Modules, each with one job:
    task         the contract with datasets and objectives: `DatasetInfo`, `Task`
    run          config -> components -> trainer: `train`, `evaluate`, `build_task`, `build_dataset`
    trainer      the loop (`Trainer`) and `evaluate_task`
    hooks        scalar logging (TensorBoard, metrics.jsonl), progress bar, evaluation, checkpoints, loss curve
    checkpoint   atomic, verified checkpoints; `load_pretrained` for fine-tuning
    run_folder   one training per run folder (an OS lock); write failures as one line
    resume       what `--resume` checks: a checkpoint, and the run's own config
    optim        AdamW and the learning-rate schedules
    sampling     seeded, resumable, rank-sharded data order; unreadable samples substituted or left out
    seeding      seeds and RNG state
    distributed  the `torchrun` process group

Import from the modules (`from spot.trainer.engine.task import Task`); this package file imports nothing.
"""
