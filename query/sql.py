"""The ranking contract compiled to SQLite SQL over the embedded store's schema.

Tables used (see catalog/sqlite_schema.py): `assets` (narrow rows), `asset_text` (FTS5 over the
analyzed metadata, for the tier-1 AND), `meta_terms` (best field weight of a token in an asset),
`tag_terms` (one row per token of an indexed tag).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from query.plan import QueryPlan


@dataclass(frozen=True)
class SqlQuery:
    sql: str
    params: dict[str, Any]


def _filters(plan: QueryPlan, params: dict[str, Any]) -> str:
    clauses = ["1"]
    if plan.folder:
        params.update(folder=plan.folder, folder_lo=plan.folder + "/", folder_hi=plan.folder + "0")
        # '0' sorts right after '/': the range is exactly the folder's subtree.
        clauses.append("(a.folder = :folder OR (a.folder >= :folder_lo AND a.folder < :folder_hi))")
    if plan.media_type:
        params["media_type"] = plan.media_type
        clauses.append("a.media_type = :media_type")
    return " AND ".join(clauses)


def compile_browse(plan: QueryPlan) -> SqlQuery:
    params: dict[str, Any] = {"limit": plan.limit, "offset": plan.offset}
    where = _filters(plan, params)
    sql = (
        f"SELECT a.rowid, 0.0 AS score, COUNT(*) OVER () AS total FROM assets a WHERE {where} "
        "ORDER BY a.created_at DESC, a.id LIMIT :limit OFFSET :offset"
    )
    return SqlQuery(sql, params)


def _tag_weight_sql(plan: QueryPlan, params: dict[str, Any]) -> tuple[str, str]:
    params.update(
        boost=plan.promote_boost,
        manual=plan.manual_weight,
        **{f"thr_{kind}": value for kind, value in plan.thresholds.items()},
    )
    weight = "CASE source WHEN 'promoted' THEN :boost WHEN 'manual' THEN :manual ELSE weight END"
    thresholds = " ".join(f"WHEN '{kind}' THEN :thr_{kind}" for kind in plan.thresholds)
    eligible = f"(source <> 'machine' OR confidence >= CASE kind {thresholds} END)"
    if plan.kinds:
        names = []
        for i, kind in enumerate(plan.kinds):
            params[f"kind{i}"] = kind
            names.append(f":kind{i}")
        eligible += f" AND kind IN ({', '.join(names)})"
    return weight, eligible


def compile_search(plan: QueryPlan) -> SqlQuery:
    params: dict[str, Any] = {"limit": plan.limit, "offset": plan.offset}
    names = []
    for i, term in enumerate(plan.terms):
        params[f"t{i}"] = term
        names.append(f":t{i}")
    terms = ", ".join(names)
    params.update(
        fts=" AND ".join(f'"{t}"' for t in plan.terms),
        n=len(plan.terms),
        g=plan.tier2_base,
        unit=plan.text_unit,
    )
    weight, eligible = _tag_weight_sql(plan, params)
    where = _filters(plan, params)
    sql = f"""
WITH t1 AS (SELECT rowid AS asset FROM asset_text WHERE asset_text MATCH :fts),
text AS (
  SELECT m.asset, SUM(m.weight) AS text FROM meta_terms m JOIN t1 ON t1.asset = m.asset
  WHERE m.token IN ({terms}) GROUP BY m.asset),
tg AS (
  SELECT asset, token, MAX({weight}) AS w FROM tag_terms
  WHERE token IN ({terms}) AND {eligible} GROUP BY asset, token),
tags AS (SELECT asset, SUM(w) AS tag, COUNT(*) AS n FROM tg GROUP BY asset),
cand AS (
  SELECT text.asset, :unit * text.text + COALESCE(tags.tag, 0) AS score
  FROM text LEFT JOIN tags ON tags.asset = text.asset
  UNION ALL
  SELECT tags.asset, CASE WHEN tags.n = :n THEN :g + tags.tag ELSE tags.tag END
  FROM tags WHERE tags.asset NOT IN (SELECT asset FROM t1))
SELECT a.rowid, cand.score, COUNT(*) OVER () AS total
FROM cand JOIN assets a ON a.rowid = cand.asset
WHERE {where}
ORDER BY cand.score DESC, a.id
LIMIT :limit OFFSET :offset"""
    return SqlQuery(sql, params)


def compile_plan(plan: QueryPlan) -> SqlQuery | None:
    """None when the plan can match nothing (a query of stop words only)."""
    if plan.matches_nothing:
        return None
    return compile_browse(plan) if plan.browse else compile_search(plan)
