"""`python -m ser predict PATH... --engine ray`: the CLI's per-clip pipeline as a Ray Data job, for archives bigger than
one machine (docs/scale.md).

    archive  - the files to label (local paths, globs, or any filesystem pyarrow reads), their resume keys, the part files
    stages   - what runs on the workers, one function per step: decode a batch, classify it (an actor that loads the
               model once), write it as one part file; the same functions the in-process CLI uses, no Ray import
    job      - the Ray Data job: connect or start Ray, chain the stages, progress while it runs
    command  - the CLI's flags and `run_ray`: check the request, skip what is done, run the job, summarise

Only `job` imports Ray (and `command`, to say how to install it when it is missing), and only when `--engine ray` is
asked for: the in-process CLI and the app never load it.
"""
