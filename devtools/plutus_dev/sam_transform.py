"""``template.yaml`` as SAM transforms it (what CloudFormation deploys), and its conditions resolved.

The SAM translator (``aws-sam-translator``) pins a pydantic the app's cannot share, so it lives in its own
venv (``make translator``: ``.tools/samtranslator``; the SAM CLI's venv also has it) and runs this file as a
script there: ``python sam_transform.py template.yaml`` prints the transformed template as JSON. The app's
side calls :func:`transform`, then :func:`resolve` with a parameter set to get what one deployment holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# Where ``make translator`` puts it, then the SAM CLI's venv (``make tools``).
CANDIDATES = (
    ROOT / ".tools" / "samtranslator" / "bin" / "python",
    ROOT / ".tools" / "sam" / "bin" / "python",
)


class TranslatorMissingError(RuntimeError):
    """No Python with ``samtranslator`` was found."""


def translator_python() -> Path:
    """The interpreter to run the translator with: ``PLUTUS_SAM_TRANSLATOR_PYTHON``, else a known venv."""
    configured = os.environ.get("PLUTUS_SAM_TRANSLATOR_PYTHON")
    for candidate in [Path(configured)] if configured else CANDIDATES:
        if candidate.exists():
            return candidate
    raise TranslatorMissingError("no SAM translator: `make translator` installs it into .tools/samtranslator")


def transform(template: Path = TEMPLATE) -> dict[str, Any]:
    """The CloudFormation template SAM makes of ``template`` (no AWS call, no credentials)."""
    done = subprocess.run(
        [str(translator_python()), __file__, str(template)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the SAM translator failed:\n{done.stderr}")
    transformed: dict[str, Any] = json.loads(done.stdout)
    return transformed


_NO_VALUE = object()
_OPERATORS: dict[str, Any] = {
    "Fn::Equals": lambda ev, arg: ev(arg[0]) == ev(arg[1]),
    "Fn::Not": lambda ev, arg: not ev(arg[0]),
    "Fn::And": lambda ev, arg: all(ev(a) for a in arg),
    "Fn::Or": lambda ev, arg: any(ev(a) for a in arg),
}


class _Deployment:
    """One parameter set: conditions evaluated, ``Fn::If`` decided."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        self.values = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
        self.values.update(parameters)
        self.conditions = template.get("Conditions", {})

    def condition(self, name: str) -> bool:
        return bool(self.evaluate(self.conditions[name]))

    def evaluate(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key in _OPERATORS:
                return _OPERATORS[key](self.evaluate, arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Ref" and arg in self.values:
                return self.values[arg]
        return value

    def walk(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Fn::If"}:
                name, then, otherwise = value["Fn::If"]
                return self.walk(then if self.condition(name) else otherwise)
            if value == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            walked = {k: self.walk(v) for k, v in value.items()}
            return {k: v for k, v in walked.items() if v is not _NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self.walk(v) for v in value) if v is not _NO_VALUE]
        return value


def resolve(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """``template``'s resources with every ``Fn::If`` decided for ``parameters`` (defaults filled in) and
    ``AWS::NoValue`` dropped, as CloudFormation resolves them when it creates the stack. Resources whose
    ``Condition`` is false are left out."""
    deployment = _Deployment(template, parameters)
    return {
        name: deployment.walk(resource)
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or deployment.condition(resource["Condition"])
    }


def _main(path: str) -> None:
    # Runs in the translator's venv: nothing from the app is importable here.
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.transform import transform as sam_transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        # The template names no managed policy, so the translator never needs IAM's list of them.
        def load(self) -> dict[str, str]:
            return {}

    ArnGenerator.BOTO_SESSION_REGION_NAME = "us-east-1"
    template = yaml_parse(Path(path).read_text())
    # Code locations are S3 URIs once packaged; the translator insists on that form.
    for name, resource in template["Resources"].items():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://plutus-build/{name}.zip"
    print(json.dumps(sam_transform(template, {}, NoManagedPolicies()), default=str))


if __name__ == "__main__":
    _main(sys.argv[1])
