"""The model hub, checked once: when it cannot be reached, the hub client goes offline at once
instead of spending a minute on retries before it fails.

A weights download only happens for a pretrained tag that is not in the local cache; the
check runs then, once per process, with a short timeout (`hub_probe_timeout_s`).
"""

from __future__ import annotations

import os
import socket
import sys
from functools import lru_cache

from catalog.settings import Settings

OFFLINE_VARIABLE = "HF_HUB_OFFLINE"
_TRUE = ("1", "true", "yes", "on")


def offline_requested() -> bool:
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() in _TRUE


@lru_cache(maxsize=4)
def _reachable(host: str, port: int, timeout_s: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout_s):
            return True
    except OSError:
        return False


def go_offline() -> None:
    """Make the hub client fail at once from now on, in this process and its children."""
    os.environ[OFFLINE_VARIABLE] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # imported already: it read the variable at import time
        constants.HF_HUB_OFFLINE = True


def hub_reachable(settings: Settings) -> bool:
    """Whether weights can be downloaded; switches the hub client offline when not."""
    if offline_requested():
        return False
    if _reachable(settings.hub_host, settings.hub_port, settings.hub_probe_timeout_s):
        return True
    go_offline()
    return False
