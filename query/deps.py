"""What the routes depend on, as `Annotated` dependencies: settings, the store, the queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from catalog.encoders import QueryEncoder
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


def _encoder(request: Request) -> QueryEncoder | None:
    """What turns a query into an embedding (None: this app searches by keyword only)."""
    return request.app.state.encoder


SettingsDep = Annotated[Settings, Depends(_settings)]
EncoderDep = Annotated[QueryEncoder | None, Depends(_encoder)]
StoreDep = Annotated[AssetStore, Depends(_store)]
QueueDep = Annotated[JobQueue, Depends(_queue)]
JobsDep = Annotated[JobStore, Depends(_jobs)]
