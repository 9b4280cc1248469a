"""Machine-unlearning methods.

Every method is registered in :data:`UNLEARNERS` and has the same call
(see :mod:`mia_audit.unlearners.base`)::

    u = create_unlearner("finetune")
    original = u.fit(model, X_train, y_train, recipe, seed=0)
    result = u.unlearn(original, retain=(X_r, y_r), forget=(X_f, y_f), seed=1)

Each method lives in its own module of this package; importing the package imports
every module in it, which registers the methods.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from .base import Trained, Unlearner, UnlearningResult, train_original
from .records import Records, fingerprints
from .registry import UNLEARNERS, create_unlearner

for _module in sorted(m.name for m in _pkgutil.iter_modules(__path__)):
    _importlib.import_module(f"{__name__}.{_module}")

__all__ = ["UNLEARNERS", "create_unlearner", "Unlearner", "Trained", "UnlearningResult", "Records",
           "train_original", "fingerprints"]
