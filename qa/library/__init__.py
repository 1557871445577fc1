"""Library: a live document folder behind a running assistant: uploads and removals that update the index
atomically, and following the index folder when another process publishes a new generation.

Layer 5. May import the layers below it (``qa.answer`` down to ``qa.ingest``), never a shell.
"""
