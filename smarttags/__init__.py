"""The composition root: the command line and the process entry points (serve, worker).

The only package that imports both `query` (Omnisearch, the HTTP API) and `indexer` (media,
models, the worker's tasks); both import `catalog` only.
"""
