"""Models from and to the Hugging Face Hub: push and pull with checksums (`client`), the model card a push writes
(`card`), timeouts and offline detection for every request (`network`). Imports `ser.settings` and `ser.models.base`.
"""
