"""The CDK app: ``cdk synth`` / ``cdk deploy`` run this (see cdk.json and docs/deploy-aws.md).

Context (``-c name=value``): ``stack_name`` (default Lookalike), ``allowed_origin`` (origins of pages
served elsewhere than this stack's CloudFront, comma-separated), ``alarm_email`` (alarms by e-mail),
``point_in_time_recovery`` (true: keep 35 days of table backups).  The gallery is always the one
``lookalike gallery push`` publishes to the stack's own gallery bucket (``gallery_uri`` is refused).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parents[1] / "src"))  # lookalike.aws.spec, also without an installed package

import aws_cdk as cdk  # noqa: E402
from lookalike_cdk.stack import LookalikeStack  # noqa: E402


def main() -> None:
    app = cdk.App()
    name = app.node.try_get_context("stack_name") or "Lookalike"
    # Environment-agnostic: the same template everywhere (no look-ups at synth time); ``cdk deploy``
    # puts it in the account and region of the credentials it runs with.
    LookalikeStack(app, name, description="lookalike: which celebrities do you look like")
    app.synth()


if __name__ == "__main__":
    main()
