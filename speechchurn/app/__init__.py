"""The supervisor's desk: a local review web app over OUT_DIR's result store.

`marks` (reviewer decisions, no web imports), `index` (search index and page queries), `media` (audio by
store id, HTTP Range, transcoding), `feedback` (lexicon precision from marks) and `web` (the Starlette
app). Only `web` imports starlette; `speechchurn serve` in cli/serve.py starts it under uvicorn.
"""
