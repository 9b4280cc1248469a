"""mia-audit: membership-inference audits of trained and unlearned models.

The core of this package (data, models, training, adapters, signals, metrics,
errors) is imported by ``attacks``, ``unlearners`` and ``reports``; only the
orchestration (``audit.runner``, ``audit.cli``, ``audit.testing``) imports those.
Importing ``audit`` itself is cheap: submodules load on demand.
"""

__version__ = "0.1.0"
TOOL_NAME = "mia-audit"
