"""Honesty signals fitted on voices a model never heard: temperature and "unsure" level of the emotion (`emotion`) and of
the gender output (`gender`), and both given to an already shipped model (`shipped`). Imports `ser`, `train.common` and `train.cards`.
"""
