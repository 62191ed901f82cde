"""Speech emotion recognition: audio loading, features, corpora, models, inference, Hub sharing and plots."""

__version__ = "0.1.0"
