"""The Gradio page that `app.py` serves, in parts: `layout` (the components and how they are wired), `callbacks` (what
the Analyse button and the `/predict` API do), `models` (the model a visitor asked for, and its cross-validated scores),
`lesson` (the Calm vs neutral tab) and `about` (the About tab). No ML here: analysis, figures and scores come from `ser`.
"""
