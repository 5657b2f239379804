"""`smarttags keys`: API keys and their roles (only a digest of each key is stored)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import click

from catalog.keys import KeyExists, KeyStore, Role, create_key, open_key_store
from smarttags.cli_support import EXIT_USAGE, AppContext, clean_errors, fail, pass_app


@contextmanager
def _keys(app: AppContext) -> Iterator[KeyStore]:
    keys = open_key_store(app.settings)
    try:
        yield keys
    finally:
        keys.close()


@click.group("keys")
def keys_group() -> None:
    """API keys: once one exists, every HTTP route but /healthz needs a key.

    \b
    Roles:
      reader  search, assets, thumbnails, tags, reports, jobs
      editor  + moderation, uploads, folder settings, reprocessing selected assets
      admin   + training, autotag, reprocessing folders or the library, keys
    Clients send `X-API-Key: KEY` or `Authorization: Bearer KEY`.
    """


@keys_group.command("add")
@click.argument("name")
@click.option(
    "--role", type=click.Choice([r.value for r in Role]), required=True, help="What it may do."
)
@click.option("--json", "as_json", is_flag=True, help="Print {name, role, key} as JSON.")
@pass_app
@clean_errors
def add_cmd(app: AppContext, name: str, role: str, as_json: bool) -> None:
    """Make a key called NAME (the audit log shows `key:NAME`); it is printed this once."""
    with _keys(app) as keys:
        try:
            record, secret = create_key(keys, name, Role(role))
        except (KeyExists, ValueError) as exc:
            fail(str(exc), EXIT_USAGE)
            return
    if as_json:
        click.echo(json.dumps({"name": record.name, "role": record.role.value, "key": secret}))
        return
    click.echo(secret)
    click.echo(
        f"key {record.name!r} ({record.role.value}): store it now, it is not shown again",
        err=True,
    )


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
@clean_errors
def list_cmd(app: AppContext, as_json: bool) -> None:
    """Every key's name, role and creation time (never the key)."""
    with _keys(app) as keys:
        rows = [k.public() for k in keys.list()]
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo("no API keys: the HTTP API is open to anyone who can reach it")
    for row in rows:
        click.echo(f"{row['name']:<24} {row['role']:<7} {row['created_at']}")


@keys_group.command("revoke")
@click.argument("name")
@pass_app
@clean_errors
def revoke_cmd(app: AppContext, name: str) -> None:
    """Delete the key NAME: requests with it get 401 (within SMARTTAGS_KEY_CACHE_S)."""
    with _keys(app) as keys:
        if not keys.revoke(name):
            fail(f"no key named {name!r}", EXIT_USAGE)
    click.echo(f"revoked {name}")
