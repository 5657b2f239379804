"""The peer of bench/search_latency.py: the same library and queries in tantivy (an embedded
Rust search library, through its Python binding), in process and behind the same HTTP stack.

The peer approximates Omnisearch with one boolean query whose three tiers are boosted clauses
(BM25 inside each): every term in the metadata (per field boosts 4/3/2/1, times 1000), every
term in a tag (times 100), any term in a tag. Tags are the effective ones under the default
thresholds; there is no per-tag weight. Its ranking is therefore close to, not the same as,
the contract's: it is a yardstick for speed, not a reference for results.

    uvicorn bench.tantivy_peer:create_app --factory   (TANTIVY_PEER_INDEX=<index dir>)
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tantivy

TEXT_FIELDS = {"title": 4.0, "keywords": 3.0, "file_name": 2.0, "description": 1.0}
TIER_BOOST = {"metadata": 1000.0, "all_tags": 100.0, "any_tag": 1.0}
THRESHOLD = 0.7  # the default thresholds of every kind
WRITER_HEAP = 256 * 2**20
INDEX_ENV = "TANTIVY_PEER_INDEX"


def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("path", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    for name in ("keywords", "file_name", "description", "tags"):
        builder.add_text_field(name, tokenizer_name="en_stem")
    builder.add_text_field("folders", tokenizer_name="raw")  # the folder and its ancestors
    builder.add_text_field("media_type", tokenizer_name="raw")
    return builder.build()


def _effective_tags(doc: dict[str, Any]) -> list[str]:
    removed = set(doc.get("removed_tags", []))
    names = [t["tag"] for t in doc.get("smart_tags", []) if t["confidence"] >= THRESHOLD]
    names += doc.get("manual_tags", []) + doc.get("promoted_tags", [])
    return [n for n in names if n not in removed]


def _folders(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def document(line: str) -> tantivy.Document:
    doc = json.loads(line)
    return tantivy.Document(
        id=doc["id"],
        path=doc["path"],
        title=doc.get("title", ""),
        keywords=" ".join(doc.get("keywords", [])),
        file_name=doc["path"].rsplit("/", 1)[-1],
        description=doc.get("description", ""),
        tags=_effective_tags(doc) or [""],
        folders=_folders(doc["path"]) or [""],
        media_type=doc["media_type"],
    )


def build_index(lines: Iterable[str], directory: Path) -> tuple[tantivy.Index, int, float]:
    """The index of the JSON Lines `lines`: (index, documents, seconds to parse, add, commit)."""
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    index = tantivy.Index(schema(), path=str(directory))
    writer = index.writer(WRITER_HEAP)
    count = 0
    for line in lines:
        writer.add_document(document(line))
        count += 1
    writer.commit()
    writer.wait_merging_threads()
    seconds = time.perf_counter() - start
    index.reload()
    return index, count, seconds


class PeerSearch:
    """Translates a bench query (text, folder, media type, offset, limit) into one query."""

    def __init__(self, index: tantivy.Index) -> None:
        self.index = index
        self.schema = index.schema
        self.analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.stemmer("english"))
            .build()
        )

    def _term(self, field: str, token: str) -> tantivy.Query:
        return tantivy.Query.term_query(self.schema, field, token)

    def query(self, text: str, folder: str | None, media_type: str | None) -> tantivy.Query:
        tokens = list(dict.fromkeys(self.analyzer.analyze(text)))
        filters = []
        if folder:
            filters.append(self._term("folders", folder.strip("/")))
        if media_type:
            filters.append(self._term("media_type", media_type))
        if not tokens:
            scored = tantivy.Query.all_query()
        else:
            in_meta = [
                tantivy.Query.disjunction_max_query(
                    [
                        tantivy.Query.boost_query(self._term(f, t), boost)
                        for f, boost in TEXT_FIELDS.items()
                    ]
                )
                for t in tokens
            ]
            in_tags = [self._term("tags", t) for t in tokens]
            tiers = [
                (TIER_BOOST["metadata"], [(tantivy.Occur.Must, q) for q in in_meta]),
                (TIER_BOOST["all_tags"], [(tantivy.Occur.Must, q) for q in in_tags]),
                (TIER_BOOST["any_tag"], [(tantivy.Occur.Should, q) for q in in_tags]),
            ]
            scored = tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Should, tantivy.Query.boost_query(
                        tantivy.Query.boolean_query(clauses), boost))
                    for boost, clauses in tiers
                ]
            )  # fmt: skip
        clauses = [(tantivy.Occur.Must, scored)]
        clauses += [(tantivy.Occur.Must, tantivy.Query.const_score_query(f, 0.0)) for f in filters]
        return tantivy.Query.boolean_query(clauses)

    def search(
        self,
        text: str,
        folder: str | None = None,
        media_type: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> dict[str, Any]:
        searcher = self.index.searcher()
        found = searcher.search(self.query(text, folder, media_type), limit, offset=offset)
        hits = []
        for score, address in found.hits:
            doc = searcher.doc(address)
            hits.append(
                {
                    "id": doc["id"][0],
                    "score": score,
                    "title": doc["title"][0],
                    "path": doc["path"][0],
                }
            )
        return {"total": found.count, "hits": hits}


def create_app() -> Any:
    """The peer over HTTP, on the same stack as the smarttags API (FastAPI under uvicorn)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    peer = PeerSearch(tantivy.Index.open(os.environ[INDEX_ENV]))
    app = FastAPI()
    gc.collect()
    gc.freeze()  # as query.server does for smarttags

    @app.get("/search")
    def search(
        q: str = "",
        folder: str | None = None,
        type: str | None = None,
        offset: int = 0,
        limit: int = 20,
    ) -> JSONResponse:
        return JSONResponse(peer.search(q, folder, type, offset, limit))

    return app
