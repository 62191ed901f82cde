"""Benchmarks: each module writes a report under reports/; `python -m bench.run` (`make bench`) runs them all."""

import os


def sleep_openmp_threads_when_busy() -> bool:
    """On a machine busier than its cores (other people's jobs), torch's OpenMP threads spin at every barrier waiting
    for a partner the scheduler took away: the wav2vec2-base pipeline took 4.2-5.5 s on a 1-s clip instead of 0.6-1.0 s
    with them told to sleep (load average 8-10, 2 cores). So when the load average exceeds the core count,
    OMP_WAIT_POLICY=PASSIVE (unless set), before torch is imported; subprocesses inherit it. ONNX Runtime's threads are
    told not to spin anyway (ser/encoders/runtime.py). True when set."""
    if os.getloadavg()[0] <= (os.cpu_count() or 1) or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
