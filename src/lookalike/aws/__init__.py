"""What runs on AWS: the resources it needs (``spec``) and the Lambda entry points (``lambdas``).

Only this package's ``spec`` and ``lambdas`` (with the pure-Python modules they import,
``spec.LAMBDA_SOURCES``) go into the Lambda bundle; the emulated AWS the tests and ``lookalike bench
aws`` run on is :mod:`lookalike.bench.emulated_aws`.
"""
