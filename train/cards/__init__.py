"""What a trained model carries out of training: its model card and config summaries (`model_card`), its voice-profile
section read from the reports (`profile_config`), and the push to the Hub (`push`). Imports `ser` and `train.common`.
"""
