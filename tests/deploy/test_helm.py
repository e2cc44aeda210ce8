"""The Helm chart (deploy/helm/clustergrowth), checked without a cluster: helm lint, helm template for the
default and the production values, every rendered object against the Kubernetes schemas of a stated
version (kubernetes-validate, strict: unknown fields refused), the Strimzi and MongoDB custom resources
against JSON Schemas built from their pinned CRDs, and what a region needs of it (registry, topics,
settings, hardening, secrets by reference)."""

from __future__ import annotations

import base64
import copy
import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import jsonschema
import jwt
import kubernetes_validate
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

import contracts
from clustergrowth.auth import DevIssuer
from clustergrowth.bus.federation import origin_of, partner_pattern
from clustergrowth.envelope import CloudEvent
from clustergrowth.settings import RuntimeSettings
from gateway.app import GatewaySettings
from instance.registry import specs
from tests.deploy.tooling import (
    CHART,
    KUBERNETES,
    PRODUCTION,
    SECRET_VALUE,
    crd_schemas,
    readable_variables,
    render,
    run_helm,
    start,
    validate_custom_resource,
)

CUSTOM = ("kafka.strimzi.io/", "mongodbcommunity.mongodb.com/")
# The Prometheus operator's ServiceMonitor: its CRD is not pinned here, so it is checked by what it selects
# (test_the_service_monitor_selects_every_component_service), not against a schema.
UNPINNED = ("monitoring.coreos.com/",)
PARTNER = ("strimzi.partners[0].alias=ith5", "strimzi.partners[0].bootstrapServers=k.ith5.example.it:9093",
           "strimzi.partners[0].caSecret=ith5-ca", "strimzi.partners[0].username=ie05-mirror",
           "strimzi.partners[0].passwordSecret=ith5-mirror")  # fmt: skip
# The topics the event contracts name (contracts/<service>.py TOPIC), found by walking the package.
EVENT_TOPICS = {
    m.TOPIC
    for m in (importlib.import_module(f"contracts.{i.name}") for i in pkgutil.iter_modules(contracts.__path__))
    if hasattr(m, "TOPIC")
}


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return render(PRODUCTION)


def kinds(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def by_name(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in kinds(objs, kind)}


def custom(obj: dict[str, Any]) -> bool:
    return bool(obj["apiVersion"].startswith(CUSTOM))


def unpinned(obj: dict[str, Any]) -> bool:
    return bool(obj["apiVersion"].startswith(UNPINNED))


# --- lint, schemas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [(), ("-f", str(PRODUCTION))], ids=["default", "production"])
def test_helm_lint_passes_strictly(values: tuple[str, ...]) -> None:
    done = run_helm("lint", "--strict", str(CHART), "--kube-version", f"{KUBERNETES}.0", *values)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("values", ["default", "production", "partners"])
def test_every_rendered_object_is_valid_for_the_stated_kubernetes(values: str, request: pytest.FixtureRequest) -> None:
    objs = render(sets=PARTNER) if values == "partners" else request.getfixturevalue(values)
    core = [o for o in objs if not custom(o) and not unpinned(o)]
    assert len(core) >= 30  # 7 components x (Deployment, Service, PDB, HPA) and the ConfigMaps
    for obj in core:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


@pytest.mark.parametrize("values", ["default", "production", "partners"])
def test_every_custom_resource_is_valid_against_its_crd(values: str, request: pytest.FixtureRequest) -> None:
    objs = render(sets=PARTNER) if values == "partners" else request.getfixturevalue(values)
    crs = [o for o in objs if custom(o)]
    assert {o["kind"] for o in crs} >= {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "MongoDBCommunity"}
    for obj in crs:
        validate_custom_resource(obj)


def test_the_schemas_catch_a_broken_object(default: list[dict[str, Any]]) -> None:
    """Each validator refuses what the API server would: a typo'd field, a wrong type."""
    deployment = copy.deepcopy(kinds(default, "Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)
    topic = copy.deepcopy(kinds(default, "KafkaTopic")[0])
    topic["spec"]["partitions"] = "three"
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_resource(topic)
    kafka = copy.deepcopy(kinds(default, "Kafka")[0])
    kafka["spec"]["kafka"]["listener"] = kafka["spec"]["kafka"].pop("listeners")
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_resource(kafka)
    user = copy.deepcopy(kinds(default, "KafkaUser")[0])
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Wrte"]
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_resource(user)
    mongo = copy.deepcopy(kinds(default, "MongoDBCommunity")[0])
    del mongo["spec"]["users"]
    with pytest.raises(jsonschema.ValidationError):
        validate_custom_resource(mongo)


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("strimzi.enable=false", "additional properties 'enable' not allowed"),  # a typo'd value
        ("region=Ireland", "/region"),
        ("mongodb.url=mongodb://cg:hunter2hunter2@db:27017/", "/mongodb/url"),  # a password in a URL
        ("rateStore.url=rediss://cg:hunter2hunter2@r:6379/0", "/rateStore/url"),
        ("kafka.securityProtocol=TLS", "/kafka/securityProtocol"),
        ("extraEnv.KAFKA_BOOTSTRAP=x", "'KAFKA_BOOTSTRAP' does not match pattern '^CG_"),
        # MirrorMaker 2 would name the replicas ITH5.<topic>, which the services never read
        (PARTNER[0].replace("ith5", "ITH5"), "/strimzi/partners/0/alias"),
        (PARTNER[0].replace("ith5", "ith5x"), "/strimzi/partners/0/alias"),
    ],
)
def test_the_values_schema_refuses_bad_values(setting: str, complaint: str) -> None:
    done = run_helm("template", "x", str(CHART), "--kube-version", f"{KUBERNETES}.0", "--set", setting)
    assert done.returncode != 0 and complaint in done.stderr, done.stderr


def test_the_values_schema_accepts_a_user_but_no_password_in_urls() -> None:
    objs = render(
        sets=("mongodb.url=mongodb://cg@db-1:27017\\,db-2:27017/?replicaSet=rs0", "rateStore.url=rediss://r:6379/0")
    )
    assert by_name(objs, "ConfigMap")["ie05-clustergrowth-env"]["data"]["CG_MONGO_URL"].startswith("mongodb://cg@db-1")


def test_the_crd_schemas_are_the_pinned_versions() -> None:
    assert {("kafka.strimzi.io/v1", k) for k in ("Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser",
                                                 "KafkaMirrorMaker2")} <= set(crd_schemas())  # fmt: skip
    assert ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity") in crd_schemas()


# --- what a region needs ---------------------------------------------------------------------------------


def test_a_deployment_per_registered_service_on_its_port_and_the_gateway_and_front(
    default: list[dict[str, Any]],
) -> None:
    deployments = by_name(default, "Deployment")
    services = by_name(default, "Service")
    expected = {s.name: s.port for s in specs()} | {"gateway": 8000, "edge": 8000}
    assert set(deployments) == {f"ie05-clustergrowth-{n}" for n in expected}
    for name, port in expected.items():
        container = deployments[f"ie05-clustergrowth-{name}"]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["clustergrowth", "run", name, "--host", "0.0.0.0", "--port", str(port)]
        assert container["ports"][0]["containerPort"] == port
        assert services[f"ie05-clustergrowth-{name}"]["spec"]["ports"][0]["port"] == port
    gateway = by_name(default, "ConfigMap")["ie05-clustergrowth-gateway-env"]["data"]
    for s in specs():
        assert gateway[f"CG_GATEWAY_{s.name.upper()}_URL"] == f"http://ie05-clustergrowth-{s.name}:{s.port}"
    assert gateway["CG_GATEWAY_DESCRIBE_URL"] == "http://ie05-clustergrowth-gateway:8000"


@pytest.mark.parametrize("values", ["default", "production"])
def test_every_variable_the_chart_sets_is_one_the_code_reads(values: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(values)
    maps = by_name(objs, "ConfigMap")
    known = readable_variables()
    for d in kinds(objs, "Deployment"):
        container = d["spec"]["template"]["spec"]["containers"][0]
        names = {e["name"] for e in container.get("env", [])}
        for source in container["envFrom"]:
            names |= set(maps[source["configMapRef"]["name"]]["data"])
        assert names, d["metadata"]["name"]
        assert not names - known, f"{d['metadata']['name']} sets variables no code reads: {names - known}"


def test_an_unknown_extra_variable_is_caught() -> None:
    objs = render(sets=("extraEnv.CG_KAFKA_BOOTSTRAPS=x:9092",))
    data = by_name(objs, "ConfigMap")["ie05-clustergrowth-env"]["data"]
    assert "CG_KAFKA_BOOTSTRAPS" in data and "CG_KAFKA_BOOTSTRAPS" not in readable_variables()


def pod_env(objs: list[dict[str, Any]], component: str) -> dict[str, str]:
    """The environment a component's pod gets: its ConfigMaps, then its own variables, each Secret's value
    a generated one (SECRET_VALUE)."""
    maps = by_name(objs, "ConfigMap")
    container = by_name(objs, "Deployment")[f"ie05-clustergrowth-{component}"]["spec"]["template"]["spec"]
    container = container["containers"][0]
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        env |= maps[source["configMapRef"]["name"]]["data"]
    for e in container.get("env", []):
        env[e["name"]] = e["value"] if "value" in e else SECRET_VALUE
    return env


def settings_from(objs: list[dict[str, Any]], component: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in pod_env(objs, component).items():
        monkeypatch.setenv(k, v)


COMPONENTS = sorted({s.name for s in specs()} | {"gateway", "edge"})


@pytest.mark.parametrize("component", COMPONENTS)
def test_the_production_values_start_every_component(
    production: list[dict[str, Any]], component: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pod's environment (its Secrets filled in, the mounted files made) passes every check its
    component makes at start: all of its settings classes and what it builds (the web client's session
    key, the training credentials' key, the quota store, the TLS files)."""
    start(component, pod_env(production, component), tmp_path, monkeypatch)
    s = RuntimeSettings()
    assert (s.environment, s.store, s.bus, s.region) == ("production", "mongo", "kafka", "IE05")
    assert s.auth_issuer == "https://login.example.eu/realms/ie05"
    assert [p.region for p in s.auth_partners] == ["ITH5"]
    if component in ("gateway", "edge"):
        url = GatewaySettings().rate_store_url
        assert url == "rediss://cg-redis-master:6379/0" and s.redis_problems(url) == []


@pytest.mark.parametrize(
    ("component", "variables", "refusal"),
    [
        ("training", ["CG_TRAINING_CREDENTIAL_KEY_FILE"], "CG_TRAINING_CREDENTIAL_KEY_FILE is required"),
        ("gateway", ["CG_WEB_SECRET_KEY"], "CG_WEB_SECRET_KEY is required in production"),
        ("gateway", ["CG_REDIS_USERNAME", "CG_REDIS_PASSWORD"], "CG_REDIS_PASSWORD is unset"),
        ("edge", ["CG_REDIS_USERNAME", "CG_REDIS_PASSWORD"], "CG_REDIS_PASSWORD is unset"),
        ("facilities", ["CG_AUTH_ISSUER"], "CG_AUTH_ISSUER is unset or the development issuer"),
    ],
)
def test_the_start_check_catches_what_production_refuses(
    production: list[dict[str, Any]],
    component: str,
    variables: list[str],
    refusal: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without one of them, the same start fails, with the CLI's clean message naming the variable."""
    env = pod_env(production, component)
    for variable in variables:
        del env[variable]
    with pytest.raises(AssertionError, match=f"(?s)refused to start: clustergrowth: bad configuration:\n.*{refusal}"):
        start(component, env, tmp_path, monkeypatch)


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("web.secretKeySecret=", "needs web.secretKeySecret"),
        ("trainingCredentials.keySecret=", "needs trainingCredentials.keySecret"),
    ],
)
def test_production_refuses_to_render_without_the_keys_it_needs(setting: str, complaint: str) -> None:
    done = run_helm(
        "template", "x", str(CHART), "--kube-version", f"{KUBERNETES}.0", "-f", str(PRODUCTION), "--set", setting
    )
    assert done.returncode != 0 and complaint in done.stderr, done.stderr


def test_the_project_s_helm_renders_without_naming_a_kubernetes_version() -> None:
    """As the doc's commands run it: Helm's default Kubernetes version (its client-go's, set when it is
    built) meets the chart's kubeVersion."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == ">=1.29.0-0"
    done = run_helm("template", "ie05", str(CHART), "-f", str(PRODUCTION), "-n", "ie05")
    assert done.returncode == 0, done.stderr
    version = run_helm("version", "--template", "{{.Version}}")
    assert version.stdout.strip() == "v3.22.0"


def test_the_default_values_give_valid_development_settings(
    default: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_from(default, "matching", monkeypatch)
    s = RuntimeSettings()
    assert s.dev_issuer and s.environment == "development"
    assert s.kafka_replication == 3 and s.kafka_bootstrap == "cg-kafka-kafka-bootstrap:9093"


def test_production_refuses_the_development_issuer() -> None:
    done = run_helm("template", "x", str(CHART), "--kube-version", f"{KUBERNETES}.0", "--set", "environment=production")
    assert done.returncode != 0
    assert "environment=production needs auth.issuer" in done.stderr
    bad = {"environment": "production", "auth_issuer": "urn:clustergrowth:dev-issuer"}
    with pytest.raises(ValidationError, match="CG_AUTH_ISSUER is unset or the development issuer"):
        RuntimeSettings(**bad)  # type: ignore[arg-type]


def test_the_development_issuer_key_is_shared_by_every_pod(
    default: list[dict[str, Any]], production: list[dict[str, Any]]
) -> None:
    """One Secret, mounted where the development issuer looks (<data_dir>/dev-issuer/key.pem) by all pods;
    none at all with a real issuer."""
    secret = by_name(default, "Secret")["ie05-clustergrowth-dev-issuer"]
    assert set(secret["data"]) == {"key.pem"}
    for d in kinds(default, "Deployment"):
        pod = d["spec"]["template"]["spec"]
        volume = next(v for v in pod["volumes"] if v["name"] == "dev-issuer")
        assert volume["secret"]["secretName"] == "ie05-clustergrowth-dev-issuer"
        assert {"name": "dev-issuer", "mountPath": "/data/dev-issuer", "readOnly": True} in pod["containers"][0][
            "volumeMounts"
        ]
    assert not kinds(production, "Secret")


def test_the_generated_development_key_signs_tokens_the_services_accept(
    default: list[dict[str, Any]], tmp_path: Path, settings: RuntimeSettings
) -> None:
    """Helm's generated key is one the development issuer reads where the pods mount it, and its tokens
    verify with its public key (ES256, P-256)."""
    secret = by_name(default, "Secret")["ie05-clustergrowth-dev-issuer"]
    (tmp_path / "dev-issuer").mkdir()
    key_path = tmp_path / "dev-issuer" / "key.pem"
    key_path.write_bytes(base64.b64decode(secret["data"]["key.pem"]))
    issuer = DevIssuer(tmp_path)
    key = issuer.private_key()
    assert isinstance(key.curve, ec.SECP256R1)
    token = issuer.mint(settings, "alice", ["student"], "IE05")
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience=settings.auth_audience)
    assert claims["sub"] == "alice"
    assert key_path.read_bytes() == base64.b64decode(secret["data"]["key.pem"])  # read, never rewritten


@pytest.mark.parametrize("values", ["default", "production"])
def test_pods_are_hardened_probed_bounded_and_disruption_safe(values: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(values)
    pdbs = {
        o["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for o in kinds(objs, "PodDisruptionBudget")
    }
    hpas = {o["spec"]["scaleTargetRef"]["name"] for o in kinds(objs, "HorizontalPodAutoscaler")}
    for d in kinds(objs, "Deployment"):
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        (c,) = pod["containers"]
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
        writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
        empty = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        assert writable == {"/data", "/tmp"}
        assert {m["name"] for m in c["volumeMounts"] if m["mountPath"] in writable} <= empty
        assert d["metadata"]["labels"]["app.kubernetes.io/component"] in pdbs
        assert name in hpas


@pytest.mark.parametrize("values", ["default", "production"])
def test_secrets_are_referenced_never_inlined(values: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(values)
    secret_like = re.compile(r"PASSWORD|SECRET|TOKEN|KEY$", re.I)
    for cm in kinds(objs, "ConfigMap"):
        assert not [k for k in cm["data"] if secret_like.search(k)], cm["metadata"]["name"]
        assert not [v for v in cm["data"].values() if re.search(r"://[^/@]*:[^/@]*@", v)], "password in a URL"
    for d in kinds(objs, "Deployment"):
        for e in d["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if secret_like.search(e["name"]):
                assert "secretKeyRef" in e["valueFrom"], e


def secret_refs(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in pod["containers"][0]["env"] if "valueFrom" in e}


def test_production_references_the_secrets_it_names(production: list[dict[str, Any]]) -> None:
    facilities = by_name(production, "Deployment")["ie05-clustergrowth-facilities"]["spec"]["template"]["spec"]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
        for e in facilities["containers"][0]["env"]
        if "valueFrom" in e
    }
    assert refs == {"CG_KAFKA_SASL_PASSWORD": "clustergrowth", "CG_MONGO_PASSWORD": "cg-mongodb-password"}
    gateway = by_name(production, "Deployment")["ie05-clustergrowth-gateway"]["spec"]["template"]["spec"]
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in gateway["containers"][0]["env"] if "valueFrom" in e
    }
    assert refs["CG_REDIS_PASSWORD"] == "cg-redis-password"
    assert gateway["containers"][0]["env"][-1] == {
        "name": "CG_WEB_SECRET_KEY",
        "valueFrom": {"secretKeyRef": {"name": "cg-web-secret-key", "key": "secret-key"}},
    }
    training = by_name(production, "Deployment")["ie05-clustergrowth-training"]["spec"]["template"]["spec"]
    assert {
        "name": "training-credential",
        "secret": {
            "secretName": "cg-training-credential-key",
            "defaultMode": 0o440,
            "items": [{"key": "key.pem", "path": "key.pem"}],
        },
    } in training["volumes"]
    env = {e["name"]: e.get("value") for e in training["containers"][0]["env"]}
    assert env["CG_TRAINING_CREDENTIAL_KEY_FILE"] == "/etc/clustergrowth/training-credential/key.pem"
    assert env["CG_TRAINING_CREDENTIAL_BASE_URL"] == "https://api.ie05.example.eu/api/v1/training"
    assert {"name": "training-credential", "mountPath": "/etc/clustergrowth/training-credential", "readOnly": True} in (
        training["containers"][0]["volumeMounts"]
    )
    for name, d in by_name(production, "Deployment").items():  # each key only where it is used
        names = {e["name"] for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert ("CG_WEB_SECRET_KEY" in names) == name.endswith("-gateway"), name
        assert ("CG_TRAINING_CREDENTIAL_KEY_FILE" in names) == name.endswith("-training"), name
    volumes = {v["name"]: v["secret"]["secretName"] for v in facilities["volumes"] if "secret" in v}
    assert volumes == {"kafka-ca": "cg-kafka-cluster-ca-cert", "mongodb-ca": "cg-mongodb-ca"}
    (ingress,) = kinds(production, "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["api.ie05.example.eu"], "secretName": "ie05-api-tls"}]


# --- Strimzi and MongoDB ---------------------------------------------------------------------------------


def test_kafka_is_kraft_replicated_three_times_with_two_in_sync_over_tls(default: list[dict[str, Any]]) -> None:
    (kafka,) = kinds(default, "Kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3 and config["auto.create.topics.enable"] is False
    assert all(listener["tls"] for listener in kafka["spec"]["kafka"]["listeners"])
    pools = {p["metadata"]["name"]: p["spec"] for p in kinds(default, "KafkaNodePool")}
    assert {n: (p["roles"], p["replicas"]) for n, p in pools.items()} == {
        "controllers": (["controller"], 3),
        "brokers": (["broker"], 3),
    }
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == "cg-kafka" for p in kinds(default, "KafkaNodePool"))


def test_topics_are_the_contracts_with_explicit_retention(default: list[dict[str, Any]]) -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in kinds(default, "KafkaTopic")}
    assert set(topics) == EVENT_TOPICS | {f"{t}.dlq" for t in EVENT_TOPICS}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values["strimzi"]["topics"]["events"]) == EVENT_TOPICS
    for name, spec in topics.items():
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2
        assert spec["config"]["retention.ms"] == (2_592_000_000 if name.endswith(".dlq") else -1), name


def test_mirror_maker_pulls_only_the_partners_own_event_topics(production: list[dict[str, Any]]) -> None:
    (mm2,) = kinds(production, "KafkaMirrorMaker2")
    (mirror,) = mm2["spec"]["mirrors"]
    assert mirror["source"]["alias"] == "ith5" and mm2["spec"]["target"]["alias"] == "ie05"
    # The default replication policy names a replica <source alias>.<topic>: the services read ITH5's there.
    consumed = re.compile(partner_pattern(sorted(EVENT_TOPICS), "IE05"))
    for topic in EVENT_TOPICS:
        replica = f"{mirror['source']['alias']}.{topic}"
        assert consumed.fullmatch(replica), replica
        event = CloudEvent(type="t", source="/regions/ITH5/facilities", data={}, region="ITH5", partitionkey="k")
        assert origin_of(replica, event, sorted(EVENT_TOPICS), "IE05").partner == "ITH5"
    pattern = re.compile(mirror["topicsPattern"])
    for topic in EVENT_TOPICS:
        assert pattern.fullmatch(topic)
        assert not pattern.fullmatch(f"ES51.{topic}"), "what the partner mirrors from others is not pulled again"
        assert not pattern.fullmatch(f"{topic}.dlq")
    assert not pattern.fullmatch("facilitiesXevents")
    users = by_name(production, "KafkaUser")
    assert mm2["spec"]["target"]["authentication"]["username"] in users


def test_no_partners_no_mirror_maker(default: list[dict[str, Any]]) -> None:
    assert not kinds(default, "KafkaMirrorMaker2")


def test_mongodb_is_a_replica_set_whose_user_writes_each_services_database(production: list[dict[str, Any]]) -> None:
    (mongo,) = kinds(production, "MongoDBCommunity")
    spec = mongo["spec"]
    assert spec["type"] == "ReplicaSet" and spec["members"] == 3 and spec["security"]["tls"]["enabled"] is True
    (user,) = spec["users"]
    assert {r["db"] for r in user["roles"]} == {s.name for s in specs()}
    assert user["passwordSecretRef"] == {"name": "cg-mongodb-password", "key": "password"}
    url = by_name(production, "ConfigMap")["ie05-clustergrowth-env"]["data"]["CG_MONGO_URL"]
    assert url == (
        "mongodb://cg-mongodb-0.cg-mongodb-svc.ie05.svc.cluster.local:27017,"
        "cg-mongodb-1.cg-mongodb-svc.ie05.svc.cluster.local:27017,"
        "cg-mongodb-2.cg-mongodb-svc.ie05.svc.cluster.local:27017/?replicaSet=cg-mongodb"
    )


def test_managed_kafka_and_mongodb_instead_of_the_operators() -> None:
    objs = render(
        sets=(
            "strimzi.enabled=false",
            "mongodb.operator.enabled=false",
            "kafka.bootstrap=b-1.kafka.example.eu:9096",
            "kafka.existingSecret=managed-kafka",
            "kafka.caSecret=managed-kafka-ca",
            "mongodb.url=mongodb://db.example.eu:27017/?replicaSet=rs0",
        )
    )
    assert not [o for o in objs if custom(o)]
    data = by_name(objs, "ConfigMap")["ie05-clustergrowth-env"]["data"]
    assert data["CG_KAFKA_BOOTSTRAP"] == "b-1.kafka.example.eu:9096"
    assert data["CG_MONGO_URL"] == "mongodb://db.example.eu:27017/?replicaSet=rs0"
    pod = by_name(objs, "Deployment")["ie05-clustergrowth-mapping"]["spec"]["template"]["spec"]
    assert {
        "name": "kafka-ca",
        "secret": {"secretName": "managed-kafka-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]},
    } in pod["volumes"]
    done = run_helm("template", "x", str(CHART), "--kube-version", f"{KUBERNETES}.0", "--set", "strimzi.enabled=false")
    assert done.returncode != 0 and "kafka.bootstrap is required" in done.stderr


def test_production_is_scraped_by_a_service_monitor(production: list[dict[str, Any]]) -> None:
    (monitor,) = kinds(production, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    pod = kinds(production, "Deployment")[0]["spec"]["template"]
    assert "prometheus.io/scrape" not in pod["metadata"]["annotations"]  # one way, not both


def test_the_service_monitor_selects_every_component_service() -> None:
    objs = render(sets=("metrics.serviceMonitor.enabled=true",))
    (monitor,) = kinds(objs, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = kinds(objs, "Service")
    assert len(services) == len(specs()) + 2
    for svc in services:
        assert selector.items() <= svc["metadata"]["labels"].items()
        assert [p["name"] for p in svc["spec"]["ports"]] == [monitor["spec"]["endpoints"][0]["port"]]
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/component"


def test_network_policies_let_only_the_front_and_gateway_reach_the_services(production: list[dict[str, Any]]) -> None:
    policies = {
        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: p
        for p in kinds(production, "NetworkPolicy")
    }
    assert set(policies) == {s.name for s in specs()} | {"gateway", "edge"}
    ports = {s.name: s.port for s in specs()} | {"gateway": 8000, "edge": 8000}

    def callers(component: str) -> list[str]:
        (expr,) = policies[component]["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"]
        assert (expr["key"], expr["operator"]) == ("app.kubernetes.io/component", "In")
        return sorted(expr["values"])

    for name, policy in policies.items():
        rules = policy["spec"]["ingress"]
        assert all(r["ports"] == [{"port": ports[name], "protocol": "TCP"}] for r in rules), name
        if name == "edge":
            assert rules == [{"ports": [{"port": 8000, "protocol": "TCP"}]}]  # the ingress controller's
            continue
        assert callers(name) == (["edge"] if name == "gateway" else ["edge", "gateway"]), name
        scrape = rules[1]["from"]
        assert scrape == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]


# --- Kafka authorization: each KafkaUser's ACLs against what its client does -----------------------------

# Kafka's implied operations (org.apache.kafka.metadata.authorizer.StandardAuthorizerData): Describe is
# allowed by Read, Write, Delete or Alter; DescribeConfigs by AlterConfigs.
IMPLIED = {"Describe": {"Read", "Write", "Delete", "Alter"}, "DescribeConfigs": {"AlterConfigs"}}


def acl_allows(user: dict[str, Any], kind: str, name: str, operation: str) -> bool:
    """Whether a rendered KafkaUser's allow rules let it do ``operation`` on the ``kind`` (topic, group)
    named ``name``, as Kafka's authorizer matches them (a literal name or a prefix; All; implied ops)."""
    for acl in user["spec"]["authorization"]["acls"]:
        r = acl["resource"]
        if acl.get("type", "allow") != "allow" or r["type"] != kind:
            continue
        matches = name.startswith(r["name"]) if r.get("patternType") == "prefix" else name == r["name"]
        granting = {operation, "All", *IMPLIED.get(operation, ())}
        if matches and granting & set(acl["operations"]):
            return True
    return False


def what_the_services_use(settings: RuntimeSettings) -> tuple[set[str], set[str], set[str]]:
    """(consumer groups, topics read, topics written) of every registered service as built: its own topic
    (relay) and the topics it consumes with their dead-letter topics (a failed event is parked there)."""
    groups: set[str] = set()
    read: set[str] = set()
    written: set[str] = set()
    for s in specs():
        component = s.component(settings)
        for group, topics, _ in [*component._consumers, *component._federated]:
            groups.add(group)
            read |= set(topics)
            written |= {f"{t}.dlq" for t in topics}
        written.add(component.topic)
    return groups, read, written


def test_kafka_denies_what_no_acl_allows(production: list[dict[str, Any]], default: list[dict[str, Any]]) -> None:
    for objs in (default, production):
        (kafka,) = kinds(objs, "Kafka")
        assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}  # no super users of ours
        users = kinds(objs, "KafkaUser")
        assert users and all(u["spec"]["authorization"]["type"] == "simple" for u in users)


def test_the_services_user_may_do_what_the_code_does(production: list[dict[str, Any]], tmp_path: Path) -> None:
    """Every consumer group and topic the services build: a group or topic the code gains without an ACL
    fails here. Partners' replicas (events and MirrorMaker 2's heartbeats) are readable."""
    user = by_name(production, "KafkaUser")["clustergrowth"]
    groups, read, written = what_the_services_use(RuntimeSettings(data_dir=tmp_path / "data", region="IE05"))
    assert {"facilities.usage", "matching.needs", "training.network_placements", "councils.dashboards"} <= groups
    for group in groups:
        assert acl_allows(user, "group", group, "Read"), group
    for topic in read | written:  # ensure_topics describes every one of them and their configs
        for op in ("Describe", "DescribeConfigs"):
            assert acl_allows(user, "topic", topic, op), (topic, op)
    for topic in read:
        assert acl_allows(user, "topic", topic, "Read"), topic
    for topic in written:
        assert acl_allows(user, "topic", topic, "Write"), topic
    for topic in [*(f"ith5.{t}" for t in EVENT_TOPICS), "ith5.heartbeats"]:
        assert acl_allows(user, "topic", topic, "Read"), topic


def test_the_services_user_may_do_nothing_more(production: list[dict[str, Any]]) -> None:
    """No topic created or reconfigured (they are the KafkaTopics, the topic operator's), no partner's replica
    written, nothing read outside the region's topics and the partners' replicas, no foreign group."""
    user = by_name(production, "KafkaUser")["clustergrowth"]
    for topic in EVENT_TOPICS | {f"{t}.dlq" for t in EVENT_TOPICS}:
        assert not acl_allows(user, "topic", topic, "Create"), topic
        assert not acl_allows(user, "topic", topic, "AlterConfigs"), topic
        assert not acl_allows(user, "topic", topic, "Delete"), topic
    assert not acl_allows(user, "topic", "ith5.facilities.events", "Write")
    assert not acl_allows(user, "topic", "ith5.facilities.events", "Create")
    assert not acl_allows(user, "topic", "es51.facilities.events", "Read")  # not a configured partner
    assert not acl_allows(user, "topic", "ie05.facilities.events", "Read")  # our own alias
    assert not acl_allows(user, "topic", "cg-kafka-mirrormaker2-config", "Read")
    assert not acl_allows(user, "topic", "facilities.eventsX", "Read")  # literal names, not prefixes
    assert not acl_allows(user, "group", "cg-kafka-mirrormaker2", "Read")
    assert not acl_allows(user, "group", "backup", "Read")
    assert not [a for a in user["spec"]["authorization"]["acls"] if a["resource"]["type"] == "cluster"]


def test_without_partners_the_services_read_no_replica(default: list[dict[str, Any]]) -> None:
    (user,) = kinds(default, "KafkaUser")
    assert acl_allows(user, "topic", "facilities.events", "Read")
    assert not acl_allows(user, "topic", "ith5.facilities.events", "Read")
    assert not acl_allows(user, "topic", "ith5.heartbeats", "Read")


def test_mirror_maker_may_write_the_partners_replicas_and_its_own_topics_only(
    production: list[dict[str, Any]],
) -> None:
    """On this region's cluster (its target) MirrorMaker 2 runs Kafka Connect (its group and three internal
    topics) and, per partner, creates and writes the remote topics <alias>.<topic>, <alias>.heartbeats and
    <alias>.checkpoints.internal (syncing their configs, adding partitions), and keeps the offset syncs here
    (offset-syncs.topic.location target: the topic mm2-offset-syncs.<source alias>.internal, so its user on
    the partner's cluster needs no write at all). It never writes this region's own topics."""
    (mm2,) = kinds(production, "KafkaMirrorMaker2")
    target = mm2["spec"]["target"]
    user = by_name(production, "KafkaUser")[target["authentication"]["username"]]
    assert acl_allows(user, "group", target["groupId"], "Read")
    for key in ("configStorageTopic", "statusStorageTopic", "offsetStorageTopic"):
        for op in ("Create", "Read", "Write", "DescribeConfigs"):
            assert acl_allows(user, "topic", target[key], op), (key, op)
    (mirror,) = mm2["spec"]["mirrors"]
    source = mirror["source"]["alias"]
    for connector in ("sourceConnector", "checkpointConnector"):
        assert mirror[connector]["config"]["offset-syncs.topic.location"] == "target", connector
    for topic in [*(f"{source}.{t}" for t in EVENT_TOPICS), f"{source}.heartbeats", f"{source}.checkpoints.internal"]:
        for op in ("Create", "Write", "Read", "Alter", "AlterConfigs", "DescribeConfigs"):
            assert acl_allows(user, "topic", topic, op), (topic, op)
    for op in ("Create", "Write", "Read"):
        assert acl_allows(user, "topic", f"mm2-offset-syncs.{source}.internal", op), op
    for topic in EVENT_TOPICS | {f"{t}.dlq" for t in EVENT_TOPICS}:
        assert not acl_allows(user, "topic", topic, "Write") and not acl_allows(user, "topic", topic, "Read")
    assert not acl_allows(user, "topic", "es51.facilities.events", "Create")  # not a configured partner
    assert not acl_allows(user, "group", "facilities.usage", "Read")
