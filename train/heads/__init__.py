"""One training script per model family (`python -m train.heads.<family>`): the Whisper head (`whisper`), its floor
(`linear_probe`), ResNet18, the classic MLP, eGeMAPS, fusion, distillation and any transformers checkpoint. Imports `ser`,
`train.common`, `train.inputs`, `train.masked` and `train.finetune`.
"""
