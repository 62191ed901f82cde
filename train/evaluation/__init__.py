"""The accuracy report: every row and its arguments (`rows`), running and merging them (`evaluate`, `python -m
train.evaluation.evaluate`), cached fold models (`fold_cache`), the unseen-corpus tables (`unseen_report`) and the lesson's
calm-vs-neutral measurements (`calm_neutral`). Imports `ser`, `train.common` and `train.inputs`; runs the heads as processes.
"""
