"""``deploy/aws/outputs.py`` (used by make deploy-aws / destroy-aws) against moto's CloudFormation and S3."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

moto = pytest.importorskip("moto", reason="moto is not installed (pip install -e '.[dev]')")
boto3 = pytest.importorskip("boto3")

_path = Path(__file__).resolve().parents[2] / "deploy" / "aws" / "outputs.py"
_spec = importlib.util.spec_from_file_location("lookalike_deploy_outputs", _path)
assert _spec is not None and _spec.loader is not None
outputs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(outputs)

TEMPLATE = {
    "Resources": {"Uploads": {"Type": "AWS::S3::Bucket"}, "Gallery": {"Type": "AWS::S3::Bucket"}},
    "Outputs": {
        "UploadsBucketName": {"Value": {"Ref": "Uploads"}},
        "GalleryBucketName": {"Value": {"Ref": "Gallery"}},
        "PageUrl": {"Value": "https://d111111abcdef8.cloudfront.net/"},
    },
}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with moto.mock_aws():
        boto3.client("cloudformation").create_stack(StackName="Test", TemplateBody=json.dumps(TEMPLATE))
        yield outputs.stack_outputs("Test")


def test_prints_one_output(stack: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert outputs.main(["--stack", "Test", "PageUrl"]) == 0
    assert capsys.readouterr().out == "https://d111111abcdef8.cloudfront.net/\n"
    assert outputs.main(["--stack", "Test", "NoSuchOutput"]) == 1
    assert "has no output" in capsys.readouterr().err
    assert outputs.main(["--stack", "Missing", "PageUrl"]) == 1


def test_empties_the_stack_buckets(stack: dict[str, str]) -> None:
    s3 = boto3.client("s3")
    for i in range(1005):  # more than one delete_objects batch
        s3.put_object(Bucket=stack["GalleryBucketName"], Key=f"galleries/v1/thumbnails/{i}.jpg", Body=b"x")
    s3.put_object(Bucket=stack["UploadsBucketName"], Key="uploads/a", Body=b"photo")
    assert outputs.main(["--stack", "Test", "--empty-buckets"]) == 0
    for bucket in (stack["GalleryBucketName"], stack["UploadsBucketName"]):
        assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
