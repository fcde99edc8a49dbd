"""Running lookalike on AWS: the resources it needs (``spec``) and the Lambda entry points (``lambdas``)."""
