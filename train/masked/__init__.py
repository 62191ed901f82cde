"""Classifiers whose softmax runs, per clip, over only the labels its corpus has (`loss`), as logistic regression
(`logistic`) and as an MLP (`mlp`), for training on corpora with different label sets. Imports torch and numpy only.
"""
