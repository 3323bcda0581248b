"""Training and evaluation: the ``fit`` loop, the poly learning rate, checkpoints that resume exactly.

- ``fit(model, train_data, val_data, num_classes=..., epochs=...) -> History``
- ``evaluate(model, data, num_classes) -> dict`` and ``predict(model, images) -> labels``
- ``save_checkpoint`` / ``load_checkpoint``: atomic writes, ``weights_only`` reads
- ``poly_lr_lambda``: the papers' ``(1 - t / T) ** 0.9`` schedule for ``LambdaLR``
"""
from seglib.train.checkpoint import (CheckpointError, load_checkpoint, rng_state, save_checkpoint,
                                     seed_everything, set_rng_state)
from seglib.train.evaluate import evaluate, predict
from seglib.train.history import History
from seglib.train.loop import fit, make_optimizer
from seglib.train.schedule import poly_lr_lambda

__all__ = ["CheckpointError", "History", "evaluate", "fit", "load_checkpoint", "make_optimizer",
           "poly_lr_lambda", "predict", "rng_state", "save_checkpoint", "seed_everything", "set_rng_state"]
