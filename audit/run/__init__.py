"""The pipeline: the only layer that imports attacks, unlearners and reports.

``run_audit(config)`` audits a model the toolkit trains; ``run_deployed_audit(target)`` a model
file or an endpoint; ``write_outputs`` renders a result as one output set. The modules:

- :mod:`.pipeline`: ``run_audit``, ``write_outputs``;
- :mod:`.deployed`: ``run_deployed_audit`` (a model file or an HTTP endpoint);
- :mod:`.attack_entries`: signals, the signal attacks' entries, ``with_verdict``;
- :mod:`.mitigations`: every attack again on each post-hoc mitigation;
- :mod:`.unlearning`: unlearners against their retrained models;
- :mod:`.references`: attacks that need reference models, pairs or queries;
- :mod:`.shadow_unlearning`: the shadow pairs that the two-model attack and U-LiRA learn from.

Submodules load on demand: importing this package imports none of them.
"""

from __future__ import annotations

from typing import Any

_LAZY = {"run_audit": "pipeline", "write_outputs": "pipeline", "check_out_dir": "pipeline",
         "run_deployed_audit": "deployed"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
