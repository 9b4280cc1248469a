"""Machine-unlearning methods.

Every method is registered in :data:`UNLEARNERS` and has the same call
(see :mod:`unlearners.base`)::

    u = create_unlearner("finetune")
    original = u.fit(model, X_train, y_train, recipe, seed=0)
    result = u.unlearn(original, retain=(X_r, y_r), forget=(X_f, y_f), seed=1)
"""

from .base import Trained, Unlearner, UnlearningResult, train_original
from .records import Records, fingerprints
from .registry import UNLEARNERS, create_unlearner
from . import retrain as _retrain  # noqa: F401  (registers retrain)

__all__ = ["UNLEARNERS", "create_unlearner", "Unlearner", "Trained", "UnlearningResult", "Records",
           "train_original", "fingerprints"]
