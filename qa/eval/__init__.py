"""Eval: retrieval and answer quality on public data sets (SQuAD, BEIR folders, doc2dial conversations).

Layer 6, beside ``qa.serve``. May import ``qa.library`` and every layer below it.
"""
