"""What the routes depend on, as `Annotated` dependencies: settings, the store, the queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from catalog.jobs import JobStore
from catalog.queue import JobQueue
from catalog.settings import Settings
from catalog.store import AssetStore


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _store(request: Request) -> AssetStore:
    return request.app.state.stores.get()


def _queue(request: Request) -> JobQueue:
    return request.app.state.queue


def _jobs(request: Request) -> JobStore:
    return request.app.state.queue.jobs


SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[AssetStore, Depends(_store)]
QueueDep = Annotated[JobQueue, Depends(_queue)]
JobsDep = Annotated[JobStore, Depends(_jobs)]
