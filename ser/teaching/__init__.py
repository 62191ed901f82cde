"""The calm-vs-neutral lesson: which clip pairs to play (`pairs`), what the page says about them (`lesson`), and the
summary of a long recording's timeline (`recording_summary`). Imports `ser.audio`, `ser.models`, `ser.evaluation`,
`ser.inference` and `ser.plots`.
"""
