"""Honest numbers: the corpora and their file names (`corpora`), speaker-disjoint folds (`protocols`), UAR, confusion and
report files (`metrics`), what the app shows from `reports/` (`reports`), and whether a clip's speaker was in training
(`provenance`). Imports `ser.audio`, `ser.encoders` (the machine a report ran on), `ser.models`, `ser.labels`, `ser.settings`.
"""
