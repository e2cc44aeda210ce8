"""What the deployment tests share: the pinned tools and schemas (provisioned under .cache by
``deploy/native/provision.sh``; a missing one is an error, never a skip), the chart rendered by Helm, custom
resources checked against JSON Schemas built from their CRDs, the environment variables the code reads
(derived from the settings classes, not listed by hand), and a component started as its container starts it."""

from __future__ import annotations

import copy
import datetime
import functools
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from pydantic_settings import BaseSettings
from pytest import MonkeyPatch

from instance.registry import specs

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "clustergrowth"
PRODUCTION = CHART / "values-production.yaml"
KUBERNETES = "1.33"  # the Kubernetes version whose schemas every rendered object is validated against
JUNCTORS = {"allOf", "anyOf", "oneOf", "not"}


def provision(what: str) -> Path:
    out = subprocess.run(
        [str(ROOT / "deploy" / "native" / "provision.sh"), what], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


@functools.cache
def helm() -> str:
    return str(provision("helm"))


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, check=False)


def render(*values: Path, sets: tuple[str, ...] = (), namespace: str = "ie05") -> list[dict[str, Any]]:
    """``helm template`` of the chart for the stated Kubernetes version; the objects it renders."""
    args = ["template", "ie05", str(CHART), "--namespace", namespace, "--kube-version", f"{KUBERNETES}.0"]
    for v in values:
        args += ["-f", str(v)]
    for s in sets:
        args += ["--set", s]
    done = run_helm(*args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


# --- custom resources -------------------------------------------------------------------------------------


def _json_schema(node: Any, structural: bool = True) -> Any:
    """An OpenAPI v3 (structural) schema as JSON Schema: ``nullable`` becomes a null type, int-or-string an
    either-or, and an object with declared properties refuses others (as the API server's strict field
    validation does) unless it preserves unknown fields. Inside allOf/anyOf/oneOf/not, which only add value
    checks in a structural schema, nothing is closed."""
    if isinstance(node, list):
        return [_json_schema(n, structural) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _json_schema(v, structural and k not in JUNCTORS)
        for k, v in node.items()
        if not k.startswith("x-kubernetes-") and k != "nullable"
    }
    if isinstance(node.get("properties"), dict):  # a map of field names to schemas, not a schema
        out["properties"] = {name: _json_schema(sub, structural) for name, sub in node["properties"].items()}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.pop("format", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        structural
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> JSON Schema, from the pinned Strimzi and MongoDB community operator CRDs."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(provision("crds").glob("*/*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = _json_schema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                    # The API server owns metadata's shape; the CRD only says it is an object.
                    schema["properties"]["metadata"] = {"type": "object"}
                    out[(f"{group}/{version['name']}", kind)] = schema
    return out


def validate_custom_resource(obj: dict[str, Any]) -> None:
    schema = crd_schemas()[(obj["apiVersion"], obj["kind"])]
    jsonschema.Draft7Validator(schema).validate(obj)


# --- settings ---------------------------------------------------------------------------------------------


@functools.cache
def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of the code that runs in a container (found by walking its packages, not listed
    by hand: a part that reads its own settings, such as the web client's or the training credentials',
    is found with the rest)."""
    found: dict[str, type[BaseSettings]] = {}
    for package in ("clustergrowth", "gateway", "services", "web", "instance"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if (
                    issubclass(cls, BaseSettings)
                    and cls.__module__ == module.__name__
                    and cls.model_config.get("env_prefix")
                ):
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[k] for k in sorted(found)]


def readable_variables() -> set[str]:
    """Every environment variable the services, the gateway and the CLI read: each settings class's fields
    under its prefix, and the per-service upstream URLs instance.registry reads."""
    out = {"HOST", "PORT"}
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        out |= {f"{prefix}{name}".upper() for name in cls.model_fields}
    return out | {f"CG_GATEWAY_{s.name.upper()}_URL" for s in specs()}


# --- starting a component as its container does ---------------------------------------------------------

SECRET_VALUE = "Xq7-long-generated-secret-91-f3b8d0c2a4e6"  # what a generated password or key looks like (41)


def secret_files(folder: Path) -> dict[str, Path]:
    """Files as a region makes them: a CA certificate (self-signed), a client certificate and its key, and
    the training credentials' Ed25519 key (PKCS#8 PEM)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cg-test")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pkcs8 = serialization.PrivateFormat.PKCS8
    files = {
        "cert": cert.public_bytes(serialization.Encoding.PEM),
        "key": key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()),
        "ed25519": ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, pkcs8, serialization.NoEncryption()
        ),
    }
    out = {}
    for kind, content in files.items():
        (folder / f"{kind}.pem").write_bytes(content)
        out[kind] = folder / f"{kind}.pem"
    return out


def file_for(variable: str, files: dict[str, Path]) -> Path:
    """The made file a file-valued variable names (its container path is where the Secret is mounted)."""
    if variable == "CG_TRAINING_CREDENTIAL_KEY_FILE":
        return files["ed25519"]
    if variable.endswith("KEYFILE") or variable.endswith("KEY_FILE"):
        return files["key"]
    if variable.endswith(("CAFILE", "CA_FILE", "CERTFILE", "CERT_FILE")):
        return files["cert"]
    raise AssertionError(f"{variable} names a mounted file this check does not know how to make")


def start(component: str, env: dict[str, str], tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    """``clustergrowth run <component>`` with exactly the environment ``env`` (the container's), up to where
    it would serve: every check a component makes at start runs (every settings class, the web client's
    session key, the training credentials' key, the quota store, the Kafka and MongoDB clients' TLS files).
    Files under /run/secrets or /etc/clustergrowth are made (``secret_files``); ``/data`` is a temporary
    folder. A refusal fails with the message the operator would read."""
    import uvicorn

    from clustergrowth import logs
    from instance.cli import main

    for name in [n for n in os.environ if n.startswith("CG_")]:
        monkeypatch.delenv(name)
    files = secret_files(tmp_path / "secrets")
    for name, value in env.items():
        if value.startswith(("/run/secrets/", "/etc/clustergrowth/")):
            value = str(file_for(name, files))
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CG_EDGE_BIN", "/bin/true")  # the front's binary is not run: it would replace this process
    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))

    def replaced(path: str, argv: list[str], environment: dict[str, str]) -> None:  # the front takes over
        served.append(argv)
        raise SystemExit(0)

    monkeypatch.setattr(os, "execve", replaced)
    monkeypatch.setattr(logs, "configure", lambda *_: None)  # the test session's logging stays as it is
    try:
        main(["run", component, "--port", "8000"])
    except SystemExit as e:
        if e.code not in (0, None) or not served:
            raise AssertionError(f"clustergrowth run {component} refused to start: {e.code}") from None
    assert served, f"clustergrowth run {component} did not get to serving"


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)[:2000]
