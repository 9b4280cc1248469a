"""Versions and device, recorded in every result for the audit trail."""

from __future__ import annotations

import platform
from importlib import metadata


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment(device: str) -> dict[str, str | None]:
    return {
        "python": platform.python_version(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "sklearn": _version("scikit-learn"),
        "xgboost": _version("xgboost"),
        "device": device,
        "platform": platform.platform(),
    }
