"""The error a model that cannot be loaded raises: importable without torch, so that callers
(the CLI) can catch it without loading torch themselves."""

from __future__ import annotations


class ModelUnavailable(RuntimeError):
    """The configured model or its weights cannot be loaded on this machine."""
