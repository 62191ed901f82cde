"""Training and evaluation, one entry point per command (`python -m train.<part>.<module>`): the model families (`heads`),
encoder fine-tuning (`finetune`), their cached inputs (`inputs`), masked classifiers (`masked`), the accuracy report
(`evaluation`), calibration on unseen voices (`calibration`) and model cards (`cards`). Imports `ser`; nothing imports it.
"""
