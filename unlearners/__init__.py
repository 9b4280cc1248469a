"""Machine-unlearning methods (see the unlearners issue).

Every method is registered in :data:`UNLEARNERS` and has the signature
``unlearn(model, retain, forget, *, validation=None, seed) -> UnlearningResult``.
"""

from audit.registry import Registry

UNLEARNERS: Registry = Registry("unlearner")

__all__ = ["UNLEARNERS"]
