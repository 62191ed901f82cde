"""`python -m ser predict` / `python -m ser eval`: arguments and the run (`main`), which files a request names (`inputs`),
the voice profiles of `--profile`/`--speaker-folders` (`profiles`), one row per clip (`rows`), the columns and the table,
CSV and JSON writers (`formats`), and the same pipeline on Ray (`scale`). The top layer: nothing in `ser` imports it.
"""
