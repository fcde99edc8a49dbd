"""The CDK constructs of lookalike's AWS deployment (``app.py`` beside this package synthesizes them)."""
