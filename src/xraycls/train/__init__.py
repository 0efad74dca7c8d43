"""Training: :class:`TrainConfig` (settings as data) and :class:`Trainer` (seeded, resumable,
atomically checkpointed, optionally distributed).

Examples:
    >>> from xraycls.train import TrainConfig
    >>> TrainConfig(epochs=5).to_dict()["epochs"]
    5
"""

from xraycls.train._config import LR_SCHEDULES, TrainConfig, learning_rate_at
from xraycls.train._trainer import Trainer

__all__ = ["LR_SCHEDULES", "TrainConfig", "Trainer", "learning_rate_at"]
