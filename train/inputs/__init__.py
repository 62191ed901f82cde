"""What the heads train on, computed once and kept on disk: encoder states (`whisper_states`), eGeMAPS vectors
(`egemaps_features`), augmented copies (`augment`) and speaker normalisation and voice profiles (`speaker_norm`).
Imports `ser` and `train.common`.
"""
