"""Checks the deployment manifests offline, with the validators their platforms publish:

- deploy/k8s/*.yaml against Kubernetes' OpenAPI schemas (kubernetes-validate, strict: an
  unknown field is an error);
- deploy/aws-batch/*.json against the AWS Batch API model botocore ships (the parameters of
  RegisterJobDefinition and SubmitJob, as the AWS CLI would send them);
- deploy/aws-batch/iam/*.json with moto's IAM policy grammar (the checks IAM runs on a
  CreatePolicy / CreateRole);

and prints, one JSON array per line, every tickloop command line the manifests run, so the
test can check that tickloop accepts them. Exit status 1 on the first invalid manifest.
Usage: python deploy/check.py [kubernetes version, default 1.31]
"""

import glob
import json
import os
import sys

import botocore.session
import kubernetes_validate
import yaml
from botocore.validate import ParamValidator
from moto.iam.policy_validation import IAMPolicyDocumentValidator, IAMTrustPolicyDocumentValidator

HERE = os.path.dirname(os.path.abspath(__file__))
K8S_VERSION = sys.argv[1] if len(sys.argv) > 1 else "1.31"


def fail(path, reason):
    print(f"{os.path.relpath(path, HERE)}: {reason}", file=sys.stderr)
    sys.exit(1)


def commands():
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "k8s", "*.yaml"))):
        for doc in yaml.safe_load_all(open(path)):
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                fail(path, f"{e.message} at {'/'.join(map(str, e.path))}")
            for container in doc["spec"]["template"]["spec"]["containers"]:
                out.append(container.get("args", []))

    batch = botocore.session.get_session().get_service_model("batch")
    operations = {"job-definition.json": "RegisterJobDefinition", "submit-sweep.json": "SubmitJob",
                  "submit-merge.json": "SubmitJob"}
    for path in sorted(glob.glob(os.path.join(HERE, "aws-batch", "*.json"))):
        name = os.path.basename(path)
        if name not in operations:
            fail(path, "no API operation known for this file: add it to deploy/check.py")
        params = json.load(open(path))
        report = ParamValidator().validate(params, batch.operation_model(operations[name]).input_shape)
        if report.has_errors():
            fail(path, report.generate_report())
        container = params.get("containerProperties") or params.get("containerOverrides") or {}
        out.append(container["command"])

    for path in sorted(glob.glob(os.path.join(HERE, "aws-batch", "iam", "*.json"))):
        validator = IAMTrustPolicyDocumentValidator if "trust" in path else IAMPolicyDocumentValidator
        try:
            validator(open(path).read()).validate()
        except Exception as e:  # moto raises MalformedPolicyDocument
            fail(path, f"{type(e).__name__}: {e}")
    return out


for command in commands():
    print(json.dumps(command))
