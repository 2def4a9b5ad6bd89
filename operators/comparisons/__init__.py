"""Comparisons: "more X than Y" answers, semantic attributes learnt from them, ranking, scoring and edits by
phrase."""
