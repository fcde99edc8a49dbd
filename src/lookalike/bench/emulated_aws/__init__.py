"""AWS on this machine, for ``lookalike bench aws`` and the tests: an emulator (``emulator``) and the
deployment's resources made on it from the spec (``provision``); never part of the Lambda bundle."""
