"""Models: the one place that loads models offline (``qa.models.loading``: the embedding model and the quote ranker,
bundled or named, with one clear error), the quote ranker's cosine head (``qa.models.segment_cosine``), and the
quote ranker's weights that ship in ``qa/models/ranker/``.

Layer 0, above ``qa.errors`` and ``qa.settings``. May import only those two.
"""
