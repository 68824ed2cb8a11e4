"""The step arithmetic both of kohya's trainers share, as plain numbers.

sd-scripts (train_network.py L799-805, L978-979) and musubi-tuner
(training/trainer_base.py:1639-1646, 1796-1797 at its pinned commit; hv_train.py:855, 919-920 and
the other full fine-tune scripts the same) compute, from N = the DataLoader's length (the sum of
the datasets' batches), P processes and G accumulation steps:

    Nd = ceil(N / P)                       accelerate's even_batches sharding
    U  = ceil(Nd / G)                      num_update_steps_per_epoch
    S  = max_train_epochs * ceil(N / P / G) when max_train_epochs is set (float division)
       = max_train_steps otherwise (argparse default: 1600 in both)
    E  = ceil(S / U)                       num_train_epochs
"""
from __future__ import annotations

import math


def step_numbers(num_batches: int, num_processes: int, accumulation: int, max_train_epochs,
                 max_train_steps, default_steps: int = 1600) -> dict:
    N, P, G = num_batches, num_processes, accumulation
    Nd = math.ceil(N / P)
    U = math.ceil(Nd / G)
    if max_train_epochs is not None:
        S = max_train_epochs * math.ceil(N / P / G)
        source = "max_train_epochs"
    elif max_train_steps is not None:
        S = max_train_steps
        source = "max_train_steps"
    else:
        S = default_steps
        source = "default"
    E = math.ceil(S / U) if U else 0
    return {"num_batches": N, "num_batches_per_epoch": Nd, "num_update_steps_per_epoch": U,
            "max_train_steps": S, "num_train_epochs": E, "steps_source": source,
            "gradient_accumulation_steps": G, "num_processes": P}
