"""HTTP serving of exported htr models, with a drawing page.

  htr serve --models=DIR [--port=8000] [--keys_file=FILE]   (or python -m htr.serve ...)

Modules: app (routes, errors, auth and limits wiring), models (SavedModels and their
metadata -> batched predictions), batching (dynamic batching), auth (hashed API
keys, rate limits), limits (body-size and metrics middleware), telemetry
(Prometheus metrics), schemas (request/response bodies), server (the command).
"""
