"""Answer: retrieved passages in, an answer out: the sentences that answer, quoted verbatim and cited, or an
honest abstention; ``Assistant`` for single questions and follow-ups, ``Conversation`` to keep one.

Layer 4. May import ``qa.index``, ``qa.retrieve``, ``qa.ingest``, ``qa.models``, ``qa.errors`` and ``qa.settings``.
"""
