"""docker-compose.yml and its production override compose.prod.yml cannot run here (no Docker engine):
validate them against the current Compose Specification schema (compose-go's, pinned in
deploy/native/provision.sh) and check what a region needs of them: every service, file and variable they
name exists and is read, they agree with the registry and the event contracts, every long-running
container has a health check, a restart policy and resource limits, the services share one writable data
volume, and the override encrypts and authenticates every backend with secrets from files."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import subprocess
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import contracts
from clustergrowth.settings import RuntimeSettings
from instance.cli import main as cli_main
from instance.registry import specs
from tests.deploy.tooling import SECRET_VALUE, provision, readable_variables, start

ROOT = Path(__file__).resolve().parents[1]
REGISTERED = {s.name for s in specs()}
OURS = REGISTERED | {"gateway", "edge"}
EVENT_TOPICS = {
    m.TOPIC
    for m in (importlib.import_module(f"contracts.{i.name}") for i in pkgutil.iter_modules(contracts.__path__))
    if hasattr(m, "TOPIC")
}


def spec() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(provision("compose-spec").read_text())
    return schema


def validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(spec()).validate(doc)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return data


def compose() -> dict[str, Any]:
    return load("docker-compose.yml")


def merged() -> dict[str, Any]:
    """The base file with the production override merged as Compose does for these keys: mappings
    (environment, depends_on) merged key by key, other keys replaced, secrets' lists replaced."""
    base, prod = compose(), load("compose.prod.yml")
    out = {**base, "services": {**base["services"]}, "volumes": {**base["volumes"], **prod.get("volumes", {})}}
    for name, svc in prod["services"].items():
        both = {**out["services"].get(name, {})}
        for key, value in svc.items():
            both[key] = {**both.get(key, {}), **value} if isinstance(value, dict) and key in both else value
        out["services"][name] = both
    return out


def one_shot(svc: dict[str, Any]) -> bool:
    return bool(svc.get("restart") == "on-failure")


@pytest.mark.parametrize("name", ["docker-compose.yml", "compose.prod.yml"])
def test_compose_files_are_valid_against_the_compose_specification(name: str) -> None:
    assert spec()["$schema"] == "https://json-schema.org/draft/2020-12/schema"  # the current specification
    validate(load(name))


def test_a_broken_compose_file_is_caught() -> None:
    bad = compose()
    bad["services"]["gateway"]["ports"] = "8000"
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    bad = compose()
    bad["services"]["facilities"]["depends_on"]["kafka-topics"] = {"condition": "service_done"}
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def test_every_named_service_file_and_variable_exists() -> None:
    known = readable_variables()
    for c in (compose(), merged()):
        services = c["services"]
        assert {"kafka-1", "kafka-2", "kafka-3", "kafka-topics", "mongo", "redis", "prometheus"} | OURS <= set(services)
        for name, svc in services.items():
            for dep in svc.get("depends_on", {}):
                assert dep in services, f"{name} depends on unknown service {dep}"
            if name in OURS:
                assert (ROOT / svc["build"]["dockerfile"]).exists()
                unknown = set(svc["environment"]) - known
                assert not unknown, f"{name} sets variables no code reads: {unknown}"
                cmd = svc["command"]
                assert cmd[:2] == ["clustergrowth", "run"] and cmd[2] in OURS
            for volume in svc.get("volumes", []):
                source = volume.split(":")[0]
                assert (ROOT / source).exists() if source.startswith("./") else source in c["volumes"], volume
    prom = (ROOT / "deploy" / "prometheus.yml").read_text()
    for target in re.findall(r'"([a-z]+):\d+"', prom):
        assert target in compose()["services"]


def test_compose_and_prometheus_agree_with_the_registry() -> None:
    """Every registered service runs in compose on its registered port, the gateway knows its URL, and
    Prometheus scrapes it; nothing runs there that the registry does not know."""
    services = compose()["services"]
    ran = {svc["command"][2] for svc in services.values() if svc.get("command", [])[:2] == ["clustergrowth", "run"]}
    assert ran == OURS
    gateway = services["gateway"]["environment"]
    targets = set(re.findall(r'"([a-z]+:\d+)"', (ROOT / "deploy" / "prometheus.yml").read_text()))
    for s in specs():
        assert gateway[f"CG_GATEWAY_{s.name.upper()}_URL"] == f"http://{s.name}:{s.port}", s.name
        assert f"{s.name}:{s.port}" in targets, s.name
        assert services[s.name]["command"] == ["clustergrowth", "run", s.name, "--port", str(s.port)], s.name
    assert (
        "/etc/prometheus/alerts.yml" in yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())["rule_files"]
    )


def test_the_cli_accepts_the_services_compose_runs() -> None:
    for name in OURS:
        try:
            cli_main(["run", name, "--help"])
        except SystemExit as e:
            assert e.code == 0


@pytest.mark.parametrize("which", ["base", "production"])
def test_every_container_is_health_checked_restarted_and_bounded(which: str) -> None:
    services = (compose() if which == "base" else merged())["services"]
    for name, svc in services.items():
        assert svc.get("restart") in {"unless-stopped", "always", "on-failure"}, name
        assert svc["deploy"]["resources"]["limits"]["memory"], name
        if one_shot(svc):  # a job: its dependents wait for it to complete, so it has no health to check
            dependents = [s for s in services.values() if name in s.get("depends_on", {})]
            assert dependents and all(
                s["depends_on"][name]["condition"] == "service_completed_successfully" for s in dependents
            ), name
        else:
            assert svc["healthcheck"]["test"], name
            assert svc["restart"] == "unless-stopped", name


def test_the_services_share_one_data_volume_their_user_can_write() -> None:
    """One key for the development issuer: every service of ours mounts the same volume at /data, and the
    image's non-root user owns /data (a named volume starts as a copy of it, ownership included)."""
    services = compose()["services"]
    for name in OURS:
        assert "cg-data:/data" in services[name]["volumes"], name
        assert services[name]["environment"]["CG_DATA_DIR"] == "/data"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    uid = user[-1].split(":")[0]
    assert re.search(rf"chown {uid}:\S+ /data", dockerfile)


def test_the_image_carries_every_package_the_wheel_needs() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    copied = set(re.findall(r"^COPY (\S+) \1$", (ROOT / "deploy" / "Dockerfile").read_text(), re.M))
    assert set(packages["packages"]) <= copied


def test_kafka_replicates_three_times_with_two_in_sync_and_topics_have_explicit_retention() -> None:
    services = compose()["services"]
    brokers = [services[f"kafka-{i}"] for i in (1, 2, 3)]
    assert {b["environment"]["KAFKA_NODE_ID"] for b in brokers} == {1, 2, 3}
    for b in brokers:
        env = b["environment"]
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == 3 and env["KAFKA_MIN_INSYNC_REPLICAS"] == 2
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 3 and env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert len({b["environment"]["CLUSTER_ID"] for b in brokers}) == 1
    topics = services["kafka-topics"]
    assert set(topics["environment"]["TOPICS"].split()) == EVENT_TOPICS
    script = topics["entrypoint"][-1]
    assert 'create "$$t" -1' in script and 'create "$$t.dlq" "$$DLQ_RETENTION_MS"' in script
    assert '--config "retention.ms=$$2"' in script and '--add-config "retention.ms=$$2"' in script
    for name in REGISTERED:  # the gateway and the front wait for the services
        assert services[name]["depends_on"]["kafka-topics"] == {"condition": "service_completed_successfully"}
    for name in OURS:
        assert services[name]["environment"]["CG_KAFKA_REPLICATION"] == 3


def test_the_production_override_encrypts_and_authenticates_every_backend() -> None:
    prod = load("compose.prod.yml")
    services = merged()["services"]
    # TLS at the front, to the compiled front
    tls = services["tls"]
    assert "443:443" in tls["ports"] and tls["command"][-2:] == ["--to", "edge:8000"]
    # Kafka: TLS on every listener, client certificates required
    for i in (1, 2, 3):
        env = services[f"kafka-{i}"]["environment"]
        assert set(re.findall(r"(\w+):(\w+)", env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"])) == {
            ("SSL", "SSL"),
            ("CONTROLLER", "SSL"),
        }
        assert env["KAFKA_SSL_CLIENT_AUTH"] == "required" and env["KAFKA_ADVERTISED_LISTENERS"].startswith("SSL://")
    # MongoDB: authentication, internal key file, TLS required
    mongod = services["mongo"]["command"]
    assert {"--auth", "--keyFile", "--tlsMode"} <= set(mongod) and mongod[mongod.index("--tlsMode") + 1] == "requireTLS"
    assert services["mongo"]["environment"]["MONGO_INITDB_ROOT_PASSWORD_FILE"].startswith("/run/secrets/")
    # Redis: TLS only, a password
    redis = services["redis"]["command"][-1]
    assert "--port 0" in redis and "--tls-port 6379" in redis and "--requirepass" in redis
    # secrets come from files, never from this file
    for name, secret in prod["secrets"].items():
        assert set(secret) == {"file"} and secret["file"].startswith("./secrets/"), name
    secret_like = re.compile(r"PASSWORD$|SECRET|TOKEN", re.I)
    for name, svc in services.items():
        env = svc.get("environment", {})
        assert not [k for k in env if secret_like.search(k)], f"{name} has a secret inline"
        assert not [v for v in env.values() if re.search(r"://[^/@\s]*:[^/@\s]*@", str(v))], name
    for name in OURS:
        assert services[name]["env_file"] == [{"path": "./secrets/clustergrowth.env", "required": True}]


def doc_block(after: str) -> dict[str, str]:
    """The variables of the fenced block following ``after`` in docs/hosting.md: what a region copies."""
    text = (ROOT / "docs" / "hosting.md").read_text()
    found = re.search(r"```\n(.*?)```", text[text.index(after) :], re.S)
    assert found, after
    lines = re.findall(r"^\s*(CG_[A-Z0-9_]+)=(.*)$", found.group(1), re.M)
    return {name: re.sub(r"\s+#.*$", "", value).strip() for name, value in lines}


def interpolate(value: str, dotenv: dict[str, str]) -> str:
    """Compose's interpolation of ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` from .env."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        got = dotenv.get(name, "")
        if op == ":?":
            assert got, f"Compose refuses to start: {arg}"
        return got or (arg if op == ":-" else "")

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


CLUSTERGROWTH_ENV = "`secrets/clustergrowth.env`, read by"  # where the doc shows that file


def dotenv_of_the_doc() -> dict[str, str]:
    return doc_block("In `.env`")


def test_the_doc_names_the_files_a_region_writes() -> None:
    """The blocks the tests read are there, with the settings a production region cannot do without."""
    assert {"CG_REGION", "CG_AUTH_ISSUER", "CG_AUTH_JWKS_URI", "CG_AUTH_PARTNERS", "CG_PUBLIC_HOST"} <= set(
        dotenv_of_the_doc()
    )
    assert set(doc_block(CLUSTERGROWTH_ENV)) == {
        "CG_MONGO_PASSWORD",
        "CG_REDIS_PASSWORD",
        "CG_WEB_SECRET_KEY",
    }


def test_every_variable_the_doc_puts_in_dotenv_reaches_the_containers() -> None:
    """Compose reads .env only to interpolate the files: a variable no file names is silently ignored."""
    dotenv = {name: f"marker-{name.lower()}" for name in dotenv_of_the_doc()}
    services = merged()["services"]
    for name in dotenv:
        reached = [
            service
            for service in sorted(OURS)
            for value in services[service]["environment"].values()
            if dotenv[name] in interpolate(str(value), dotenv)
        ]
        assert reached, f"{name} is in the doc's .env but reaches no container"
        if name.startswith("CG_AUTH_"):  # every component checks tokens
            assert set(reached) == OURS, f"{name} reaches only {reached}"


def test_interpolation_is_compose_s() -> None:
    assert interpolate("${A:-x}/${B}", {"A": ""}) == "x/" and interpolate("${A:-x}", {"A": "y"}) == "y"
    with pytest.raises(AssertionError, match="set it"):
        interpolate("${A:?set it}", {})


@pytest.mark.parametrize("name", sorted(OURS))
def test_the_production_override_starts_every_component_with_the_doc_s_files(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each container's environment under the override, with the doc's .env and secrets/clustergrowth.env
    (their placeholders filled with generated values), passes every check its component makes at start:
    all of its settings classes, and what it builds (the web client's key, the training key, the quota
    store, the TLS files)."""
    dotenv = dotenv_of_the_doc()
    env = {k: interpolate(str(v), dotenv) for k, v in merged()["services"][name]["environment"].items()}
    for k, v in doc_block(CLUSTERGROWTH_ENV).items():
        env[k] = SECRET_VALUE if v.startswith("<") else v
    start(name, env, tmp_path, monkeypatch)
    s = RuntimeSettings()
    assert (s.environment, s.store, s.bus) == ("production", "mongo", "kafka")
    assert s.auth_issuer == dotenv["CG_AUTH_ISSUER"] and [p.region for p in s.auth_partners] == ["ITH5"]


def test_the_production_check_catches_a_missing_training_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dotenv = dotenv_of_the_doc()
    env = {k: interpolate(str(v), dotenv) for k, v in merged()["services"]["training"]["environment"].items()}
    env |= {k: SECRET_VALUE for k in doc_block(CLUSTERGROWTH_ENV)}
    del env["CG_TRAINING_CREDENTIAL_KEY_FILE"]
    with pytest.raises(AssertionError, match="bad configuration:\nCG_TRAINING_CREDENTIAL_KEY_FILE is required"):
        start("training", env, tmp_path, monkeypatch)


MM2_SCRIPT = ROOT / "deploy" / "native" / "mirrormaker.sh"
PARTNERS = "ITH5=kafka.ith5.example.it:9093 FRL0=kafka.frl0.example.fr:9093"


def mirrormaker_properties(env: dict[str, str], tmp_path: Path) -> tuple[int, dict[str, str], str]:
    """What the script would give MirrorMaker 2 for this environment (its dry run), as key → value."""
    run = subprocess.run(
        ["bash", str(MM2_SCRIPT), str(tmp_path / "mm2")],
        env={"PATH": "/usr/bin:/bin", "KAFKA_LIBS": "/opt/kafka/libs", **env, "MM2_DRY_RUN": "1"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    props = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line and not line.startswith("#"))
    return run.returncode, props, run.stderr


def compose_mirrormaker_env(services: dict[str, Any]) -> dict[str, str]:
    dotenv = {"CG_REGION": "IE05", "CG_MM2_PARTNERS": PARTNERS}
    return {k: interpolate(str(v), dotenv) for k, v in services["mirrormaker"]["environment"].items()}


def test_the_region_s_mirrormaker_pulls_only_its_partners_own_event_topics(tmp_path: Path) -> None:
    """Each region runs its own MirrorMaker 2 and only pulls: partners' event topics flow into this
    region's three brokers, nothing flows out, no herder writes heartbeats or checkpoints into a
    partner's cluster, and the offset syncs stay here."""
    services = compose()["services"]
    mm = services["mirrormaker"]
    assert mm["profiles"] == ["network"] and "./deploy/native/mirrormaker.sh" in mm["volumes"][0]
    code, props, err = mirrormaker_properties(compose_mirrormaker_env(services), tmp_path)
    assert code == 0, err
    assert props["clusters"] == "ie05,ith5,frl0"
    assert props["ie05.bootstrap.servers"] == "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert props["ith5.bootstrap.servers"] == "kafka.ith5.example.it:9093"
    enabled = {
        k.removesuffix(".enabled") for k, v in props.items() if k.endswith(".enabled") and "->" in k and v == "true"
    }
    assert enabled == {"ith5->ie05", "frl0->ie05"}
    for out in ("ie05->ith5", "ie05->frl0", "ith5->frl0", "frl0->ith5"):
        assert (
            props[f"{out}.emit.heartbeats.enabled"] == "false" and props[f"{out}.emit.checkpoints.enabled"] == "false"
        )
    assert props["offset-syncs.topic.location"] == "target"
    # the pattern (a Java regex; this one reads the same in Python's) takes a partner's own topics only
    pattern = re.compile(props["ith5->ie05.topics"])
    assert pattern.fullmatch("facilities.events") and pattern.fullmatch("training.events")
    assert not pattern.fullmatch("ie05.facilities.events") and not pattern.fullmatch("facilities.events.dlq")
    # the health check reaches the listener MirrorMaker is told to start
    port = re.search(r"/dev/tcp/127.0.0.1/(\d+)", " ".join(mm["healthcheck"]["test"]))
    assert port and props["listeners"] == f"http://127.0.0.1:{port.group(1)}"
    assert props["dedicated.mode.enable.internal.rest"] == "true"


def test_production_mirrormaker_speaks_tls_to_every_cluster_with_the_mounted_secrets(tmp_path: Path) -> None:
    """With the doc's secrets/mm2.properties the generated configuration gives every cluster, this
    region's and each partner's, an encrypted protocol, and this region's key and CA are files the
    production override mounts into the container."""
    services = merged()["services"]
    env = compose_mirrormaker_env(services)
    text = (ROOT / "docs" / "hosting.md").read_text()
    block = re.search(r"```\n(.*?)```", text[text.index("`secrets/mm2.properties` (production)") :], re.S)
    assert block
    doc_file = tmp_path / "mm2.properties"
    doc_file.write_text(textwrap.dedent(block.group(1)))
    assert env["MM2_PROPERTIES_FILE"] == "/run/secrets/mm2_properties"
    assert "mm2_properties" in services["mirrormaker"]["secrets"]
    assert load("compose.prod.yml")["secrets"]["mm2_properties"] == {"file": "./secrets/mm2.properties"}
    code, props, err = mirrormaker_properties({**env, "MM2_PROPERTIES_FILE": str(doc_file)}, tmp_path)
    assert code == 0, err
    mounted = {f"/run/secrets/{name}" for name in services["mirrormaker"]["secrets"]}
    assert props["ie05.security.protocol"] == "SSL"
    assert {props["ie05.ssl.truststore.location"], props["ie05.ssl.keystore.location"]} <= mounted
    assert props["ith5.security.protocol"] in {"SSL", "SASL_SSL"}
    # FRL0 is not in the doc's example: a region joining it must add its lines, and this test says so
    assert "frl0.security.protocol" not in props


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"MM2_CLUSTERS": "IE05=kafka-1:9092"}, "at least two ALIAS=BOOTSTRAP clusters"),
        ({"MM2_CLUSTERS": "IE05=a:1 ITH5=b:2", "MM2_INTO": "FRL0"}, "MM2_INTO=frl0 is none of the clusters given"),
        ({"MM2_CLUSTERS": "IE05=a:1 IT.H5=b:2"}, "alias it.h5: letters and digits only"),
    ],
)
def test_a_mirrormaker_misconfiguration_stops_it_with_the_reason(
    env: dict[str, str], complaint: str, tmp_path: Path
) -> None:
    code, _, err = mirrormaker_properties(env, tmp_path)
    assert code == 2 and complaint in err


def test_the_services_log_in_to_mongodb_as_a_least_privilege_user_not_root(tmp_path: Path) -> None:
    """The production override's MongoDB root is not the services' user: the image's first start runs
    deploy/mongo/init-users.js as root, which makes the services' user with readWrite on each registered
    service's database and nothing else, from the password file the services' password comes from. The
    script is run here by Node with MongoDB's ``db`` and the secret file stood in for."""
    services = merged()["services"]
    mongo = services["mongo"]
    root = mongo["environment"]["MONGO_INITDB_ROOT_USERNAME"]
    users = {services[name]["environment"]["CG_MONGO_USERNAME"] for name in REGISTERED}
    assert len(users) == 1 and root not in users
    assert mongo["environment"]["MONGO_INITDB_ROOT_PASSWORD_FILE"] == "/run/secrets/mongo_root_password"
    assert {"mongo_root_password", "mongo_password"} <= set(mongo["secrets"])
    assert "-u root" in mongo["healthcheck"]["test"][1] and "mongo_root_password" in mongo["healthcheck"]["test"][1]
    assert "mongo-data:/data/db" in mongo["volumes"]
    (init,) = [v for v in mongo["volumes"] if "/docker-entrypoint-initdb.d/" in v]
    script = ROOT / init.split(":")[0]
    secret = tmp_path / "mongo_password"
    secret.write_text("app-Pw-2026\n")
    harness = f"""
    const made = [];
    const db = {{ getSiblingDB: (name) => ({{ createUser: (user) => made.push({{ name, user }}) }}) }};
    const fs = require("fs");
    const fakeRequire = (m) => (m === "fs" ? {{ readFileSync: (path, enc) => {{
      if (path !== "/run/secrets/mongo_password") throw new Error("reads " + path);
      return fs.readFileSync({json.dumps(str(secret))}, enc);
    }} }} : require(m));
    new Function("db", "require", fs.readFileSync({json.dumps(str(script))}, "utf8"))(db, fakeRequire);
    console.log(JSON.stringify(made));
    """
    run = subprocess.run(["node", "-e", harness], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    (made,) = json.loads(run.stdout)
    assert made["name"] == "admin" and made["user"]["user"] in users and made["user"]["pwd"] == "app-Pw-2026"
    assert sorted(made["user"]["roles"], key=str) == sorted(
        ({"role": "readWrite", "db": name} for name in REGISTERED), key=str
    )
