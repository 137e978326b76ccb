"""policy-watcher: know the moment a vendor's terms change something that matters."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
