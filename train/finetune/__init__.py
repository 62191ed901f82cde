"""Fine-tuning Whisper-base's encoder: the top layers beside the head (`top_layers`), the leave-one-corpus-out experiment
(`loco`, `model`) and the bundle that carries it to a lent GPU (`bundle`). Imports `ser`, `train.common`, `train.inputs`,
`train.masked` and `train.cards`.
"""
