"""The ranking contract compiled to SQLite SQL over the embedded store's schema.

Tables used (see catalog/sqlite_schema.py): `assets` (narrow rows: filters, browse order and the
id tie-break), `asset_text` (FTS5 over the analyzed metadata fields: the tier-1 AND of a
many-term query) and `postings` (one row per token and asset: the token's best metadata field
weight and the best tags holding it, per kind and source).

The compiled form is catalog.store.SqlSearch; the store runs it as handed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from catalog.sqlite_schema import CURATED_SOURCES, curated_bit, kind_columns
from catalog.store import SqlSearch
from query.plan import QueryPlan


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


def _filtered(plan: QueryPlan) -> bool:
    return bool(plan.folder or plan.media_type)


def compile_browse(plan: QueryPlan) -> SqlSearch:
    params: dict[str, Any] = {"limit": plan.limit, "offset": plan.offset}
    where = _filters(plan, params)
    sql = (
        f"SELECT a.rowid, 0.0 AS score FROM assets a WHERE {where} "
        "ORDER BY a.created_at DESC, a.id LIMIT :limit OFFSET :offset"
    )
    return SqlSearch(sql, params, f"SELECT COUNT(*) FROM assets a WHERE {where}")


def _greatest(values: list[str]) -> str:
    # max() with one argument is the aggregate, not the scalar
    return values[0] if len(values) == 1 else f"max({', '.join(values)})"


def _column(alias: str, name: str) -> str:
    return f"{alias}.{name}" if alias else name


def _tag_weight(plan: QueryPlan, params: dict[str, Any], alias: str = "") -> str:
    """SQL for the weight a posting's tags give its token under `plan`: 0 when none may match."""
    params.update(
        boost=plan.promote_boost,
        manual=plan.manual_weight,
        **{f"thr_{kind}": value for kind, value in plan.thresholds.items()},
    )
    kinds = plan.kinds or tuple(plan.thresholds)
    machine = []
    for kind in kinds:
        conf, weight = (_column(alias, c) for c in kind_columns(kind))
        machine.append(f"CASE WHEN {conf} >= :thr_{kind} THEN {weight} ELSE 0 END")
    mask = {s: sum(curated_bit(s, kind) for kind in kinds) for s in CURATED_SOURCES}
    curated = _column(alias, "curated")
    boosts = [
        f"CASE WHEN {curated} & {mask['promoted']} THEN :boost ELSE 0 END",
        f"CASE WHEN {curated} & {mask['manual']} THEN :manual ELSE 0 END",
    ]
    return (
        f"(CASE WHEN {curated} = 0 THEN {_greatest(machine)} "
        f"ELSE {_greatest(boosts + machine)} END)"
    )


def _bind_terms(terms: Sequence[str], params: dict[str, Any]) -> list[str]:
    for i, term in enumerate(terms):
        params[f"t{i}"] = term
    return [f":t{i}" for i in range(len(terms))]


def _one_term(plan: QueryPlan, params: dict[str, Any]) -> SqlSearch:
    # One posting per asset: no grouping; tier 1 when the term is in the metadata, else tier 2.
    (name,) = _bind_terms(plan.terms, params)
    tw = _tag_weight(plan, params)
    postings = (
        f"SELECT asset, meta, tw FROM (SELECT asset, meta, {tw} AS tw FROM postings "
        f"WHERE token = {name}) WHERE meta > 0 OR tw > 0"
    )
    where = _filters(plan, params)
    sql = f"""
SELECT p.asset, CASE WHEN p.meta > 0 THEN :unit * p.meta + p.tw ELSE :g + p.tw END AS score
FROM ({postings}) AS p JOIN assets a ON a.rowid = p.asset
WHERE {where}
ORDER BY score DESC, a.id
LIMIT :limit OFFSET :offset"""
    join = " JOIN assets a ON a.rowid = p.asset" if _filtered(plan) else ""
    count_sql = f"SELECT COUNT(*) FROM ({postings}) AS p{join} WHERE {where}"
    return SqlSearch(sql, params, count_sql)


def _scored(plan: QueryPlan, params: dict[str, Any]) -> str:
    """CTEs ending in `scored` (asset, score): every hit of a plan of two or more terms.

    Tier 1 is the FTS5 AND of the terms over the metadata; each match then reads one posting
    per term by primary key, which carries the term's best field weight and its tags, so tier-1
    tag scores need no second look. Tiers 2 and 3 group the postings whose tags may match, minus
    the tier-1 assets.
    """
    names = _bind_terms(plan.terms, params)
    params["fts"] = " AND ".join(f'"{t}"' for t in plan.terms)  # tokens are letters and digits
    aliases = [f"p{i}" for i in range(len(names))]
    joins = "".join(
        f" CROSS JOIN postings {a} ON {a}.token = {n} AND {a}.asset = f.rowid"
        for a, n in zip(aliases, names, strict=True)
    )
    text = " + ".join(f"{a}.meta" for a in aliases)
    tag = " + ".join(_tag_weight(plan, params, a) for a in aliases)
    tw = _tag_weight(plan, params)
    return f"""
WITH t1 AS MATERIALIZED (
  SELECT f.rowid AS asset, :unit * ({text}) + {tag} AS score
  FROM asset_text f{joins}
  WHERE asset_text MATCH :fts),
tags AS (
  SELECT asset, COUNT(*) AS k, SUM(tw) AS tag
  FROM (SELECT asset, {tw} AS tw FROM postings WHERE token IN ({", ".join(names)}))
  WHERE tw > 0 GROUP BY asset),
scored AS (
  SELECT asset, score FROM t1
  UNION ALL
  SELECT asset, CASE WHEN k = :n THEN :g + tag ELSE tag END FROM tags
  WHERE asset NOT IN (SELECT asset FROM t1))"""


def _many_terms(plan: QueryPlan, params: dict[str, Any]) -> SqlSearch:
    # The hits are materialized once: the total counts them, the page is a bounded sort.
    scored = _scored(plan, params)
    where = _filters(plan, params)
    if _filtered(plan):
        cand = f"""{scored},
cand AS MATERIALIZED (
  SELECT s.asset, s.score, a.id FROM scored s JOIN assets a ON a.rowid = s.asset WHERE {where})"""
        page = "SELECT asset, score, (SELECT COUNT(*) FROM cand) FROM cand ORDER BY score DESC, id"
    else:
        # Only hits that score at least the page's last score need their id, for the tie-break.
        params["last"] = plan.offset + plan.limit - 1
        cand = f"""{scored},
cand AS MATERIALIZED (SELECT asset, score FROM scored),
cut AS (SELECT COALESCE(
  (SELECT score FROM cand ORDER BY score DESC LIMIT 1 OFFSET :last), -1) AS score)"""
        page = """
SELECT c.asset, c.score, (SELECT COUNT(*) FROM cand) FROM cand c JOIN assets a ON a.rowid = c.asset
WHERE c.score >= (SELECT score FROM cut) ORDER BY c.score DESC, a.id"""
    sql = f"{cand}\n{page}\nLIMIT :limit OFFSET :offset"
    return SqlSearch(sql, params, f"{cand}\nSELECT COUNT(*) FROM cand", total_in_rows=True)


def compile_search(plan: QueryPlan) -> SqlSearch:
    params: dict[str, Any] = {
        "limit": plan.limit,
        "offset": plan.offset,
        "n": len(plan.terms),
        "g": plan.tier2_base,
        "unit": plan.text_unit,
    }
    if len(plan.terms) == 1:
        return _one_term(plan, params)
    return _many_terms(plan, params)


def compile_plan(plan: QueryPlan) -> SqlSearch | None:
    """None when the plan can match nothing (a query of stop words only)."""
    if plan.matches_nothing:
        return None
    return compile_browse(plan) if plan.browse else compile_search(plan)
