"""Training: the loop every chapter uses (:mod:`.loop`), its fast GPU path (:mod:`.fast`) and
checkpoints (:mod:`.checkpoint`)."""
from .checkpoint import CheckpointMismatch
from .fast import SGD, FastTrainer, caffe_inv
from .loop import History, NonFiniteLossError, Trainer, accuracy

__all__ = ["Trainer", "History", "NonFiniteLossError", "accuracy", "FastTrainer", "SGD", "caffe_inv",
           "CheckpointMismatch"]
