"""The body of `PATCH /assets/{id}`: the metadata a person edits (title, description,
keywords), bounded.

The schema states the default bounds (catalog/settings.py); `check_limits` applies the
configured ones. Titles and keywords hold no control character; a description may hold line
breaks and tabs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from catalog.asset import CONTROL
from catalog.settings import Settings

_DEFAULTS = Settings.model_fields
# a description keeps tab, line feed and carriage return
_TEXT_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
LINE_PATTERN = f"^[^{CONTROL}]*$"
TEXT_PATTERN = f"^[^{_TEXT_CONTROL}]*$"
_LINE = re.compile(LINE_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)

Keyword = Annotated[
    str,
    Field(
        max_length=_DEFAULTS["max_keyword_chars"].default,
        json_schema_extra={"pattern": LINE_PATTERN},
    ),
]


class AssetEdit(BaseModel):
    """Missing keys keep their value; at least one is needed. Keywords replace the list
    (blank ones are dropped, repeats kept once)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    title: SkipJsonSchema[None] | str = Field(
        None,
        max_length=_DEFAULTS["max_title_chars"].default,
        json_schema_extra={"pattern": LINE_PATTERN},
    )
    description: SkipJsonSchema[None] | str = Field(
        None,
        max_length=_DEFAULTS["max_description_chars"].default,
        json_schema_extra={"pattern": TEXT_PATTERN},
    )
    keywords: SkipJsonSchema[None] | list[Keyword] = Field(
        None, max_length=_DEFAULTS["max_keywords"].default
    )

    @model_validator(mode="before")
    @classmethod
    def _something_to_change(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if not data:
                raise ValueError("nothing to change: give a title, description and/or keywords")
            if any(value is None for value in data.values()):
                raise ValueError("a value is text (title, description) or a list (not null)")
        return data

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not _LINE.match(value):
            raise ValueError("a title must not contain control characters (newlines, tabs, NUL)")
        return value.strip()

    @field_validator("description")
    @classmethod
    def _text(cls, value: str) -> str:
        if not _TEXT.match(value):
            raise ValueError("a description must not contain control characters but line breaks")
        return value.strip()

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        if any(not _LINE.match(k) for k in value):
            raise ValueError("a keyword must not contain control characters (newlines, tabs, NUL)")
        return value


def check_limits(changes: dict[str, Any], settings: Settings) -> None:
    """ValueError when a value is over the configured bounds."""
    limits = {"title": settings.max_title_chars, "description": settings.max_description_chars}
    for field, limit in limits.items():
        if len(changes.get(field) or "") > limit:
            raise ValueError(f"{field}: at most {limit} characters")
    keywords = changes.get("keywords") or []
    if len(keywords) > settings.max_keywords:
        raise ValueError(f"keywords: at most {settings.max_keywords}")
    if any(len(k) > settings.max_keyword_chars for k in keywords):
        raise ValueError(f"keywords: each at most {settings.max_keyword_chars} characters")
