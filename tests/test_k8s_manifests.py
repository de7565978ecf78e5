"""The Kubernetes manifests in deploy/k8s, checked offline, without a cluster: every document validates
against Kubernetes' own schemas (strict: an unknown field is an error), and so does the Job the run launcher
would make for a run; the site's dagster.yaml is an instance config Dagster accepts (K8sRunLauncher,
PostgreSQL storage) and adds only its run launcher and log place to the repository's production one;
every name one object gives another resolves; each ORCHESTRATOR_* name is a setting; each command is one
its program accepts. A broken copy of each kind is caught."""

import copy
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from dagster import DagsterRun
from dagster._config import process_config, resolve_to_config_type, validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.workspace.config_schema import ensure_workspace_config
from dagster._serdes.config_class import class_from_code_pointer
from dagster_k8s import K8sRunLauncher
from dagster_k8s import launcher as k8s_launcher
from dagster_k8s.job import construct_dagster_k8s_job, get_job_name_from_run_id
from kubernetes.client import ApiClient

from orchestrator.runtime.api.routers.health import router as health_router
from orchestrator.settings import Settings
from tests.conftest import REPO_ROOT
from tests.site.test_dagster_postgres import documented_postgres_yaml

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"  # one of the versions kubernetes-validate 1.37 ships schemas for
NAMESPACE = "orchestrator"
IMAGE = "orchestrator:latest"  # the placeholder every one of our containers runs
INSTALLED_AT = "/opt/orchestrator"  # the checkout inside the image, as in deploy/*.service
OUR_PROGRAMS = {"orchestrator", "dagster", "dagster-webserver", "dagster-daemon"}
SETTINGS = {f"ORCHESTRATOR_{name.upper()}" for name in Settings.model_fields}
WORKLOADS = {"Deployment", "StatefulSet"}
CLUSTER_WIDE = {"Namespace"}


def load_documents() -> list[dict]:
    return [doc for path in sorted(K8S_DIR.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]


DOCUMENTS = load_documents()


def the(kind: str, name: str) -> dict:
    (doc,) = [d for d in DOCUMENTS if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def names(kind: str) -> set[str]:
    return {d["metadata"]["name"] for d in DOCUMENTS if d["kind"] == kind}


def pod_specs() -> dict[str, dict]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in DOCUMENTS if d["kind"] in WORKLOADS}


def containers(spec: dict) -> list[dict]:
    return spec.get("initContainers", []) + spec["containers"]


def command_lines(container: dict) -> list[list[str]]:
    """Its command and its probes' exec commands."""
    probes = [
        container.get(p, {}).get("exec", {}).get("command") for p in ("startupProbe", "readinessProbe", "livenessProbe")
    ]
    return [argv for argv in [container.get("command"), *probes] if argv]


def site_instance() -> dict:
    return yaml.safe_load(the("ConfigMap", "dagster-instance")["data"]["dagster.yaml"])


def site_workspace() -> dict:
    return yaml.safe_load(the("ConfigMap", "dagster-workspace")["data"]["workspace.yaml"])


def compute_logs_dir() -> str:
    return site_instance()["compute_logs"]["config"]["base_dir"]


def launcher_config() -> dict:
    return site_instance()["run_launcher"]["config"]


def schema_error(doc: dict) -> str | None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{'.'.join(map(str, exc.absolute_path))}: {exc.message}"
    return None


def test_the_manifests_are_the_runtime_a_site_and_postgres():
    assert sorted((d["kind"], d["metadata"]["name"]) for d in DOCUMENTS) == [
        ("ConfigMap", "dagster-instance"),
        ("ConfigMap", "dagster-workspace"),
        ("ConfigMap", "postgres-init"),
        ("ConfigMap", "runtime-settings"),
        ("ConfigMap", "site-settings"),
        ("Deployment", "dagster-code"),
        ("Deployment", "dagster-daemon"),
        ("Deployment", "dagster-webserver"),
        ("Deployment", "orchestrator-runtime"),
        ("Namespace", NAMESPACE),
        ("PersistentVolumeClaim", "runtime-data"),
        ("PersistentVolumeClaim", "site-data"),
        ("Role", "dagster-run-launcher"),
        ("RoleBinding", "dagster-run-launcher"),
        ("Secret", "postgres"),
        ("Secret", "runtime-secrets"),
        ("Secret", "site-secrets"),
        ("Service", "dagster-code"),
        ("Service", "dagster-webserver"),
        ("Service", "orchestrator-runtime"),
        ("Service", "postgres"),
        ("ServiceAccount", "dagster"),
        ("ServiceAccount", "dagster-run"),
        ("StatefulSet", "postgres"),
    ]
    # `kubectl apply -f deploy/k8s/` goes in file-name order: the namespace first.
    first = yaml.safe_load(sorted(K8S_DIR.glob("*.yaml"))[0].read_text())
    assert first["kind"] == "Namespace"
    assert all(d["metadata"].get("namespace") == NAMESPACE for d in DOCUMENTS if d["kind"] not in CLUSTER_WIDE)


def test_every_document_validates_against_the_kubernetes_schemas():
    errors = {(d["kind"], d["metadata"]["name"]): schema_error(d) for d in DOCUMENTS}
    assert {key: error for key, error in errors.items() if error} == {}


@pytest.mark.parametrize(
    "break_it, expected",
    [
        (lambda c, d: c.update(imagePullPolcy="Always"), "'imagePullPolcy' was unexpected"),
        (lambda c, d: d["spec"].update(replicas="1"), "'1' is not of type 'integer'"),
        (lambda c, d: c["ports"][0].update(containerPort="http"), "'http' is not of type 'integer'"),
        (lambda c, d: c.pop("name"), "'name' is a required property"),
    ],
    ids=["misspelt-field", "replicas-as-string", "port-as-string", "container-without-name"],
)
def test_a_broken_manifest_is_caught(break_it, expected):
    deployment = copy.deepcopy(the("Deployment", "orchestrator-runtime"))
    break_it(deployment["spec"]["template"]["spec"]["containers"][0], deployment)
    assert expected in (schema_error(deployment) or "")


def instance_config_errors(instance: dict, home: Path) -> list[str]:
    """What Dagster says of `instance` as $DAGSTER_HOME/dagster.yaml: its top level as the instance loads it,
    then each configurable class's own config against that class's schema (as the instance does when it
    builds the run launcher). Nothing is instantiated: K8sRunLauncher would look for a cluster."""
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    try:
        dagster_instance_config(str(home))
    except DagsterInvalidConfigError as exc:
        return [str(exc)]
    errors = []
    for key in ("run_launcher", "run_coordinator", "compute_logs"):
        section = instance.get(key)
        if section:
            klass = class_from_code_pointer(section["module"], section["class"])
            result = validate_config(klass.config_type(), section.get("config", {}))
            errors += [f"{key}: {error.message}" for error in result.errors or []]
    return errors


def test_the_site_dagster_yaml_is_a_valid_instance_with_k8s_runs_and_postgres(tmp_path):
    instance = site_instance()
    assert instance_config_errors(instance, tmp_path / "home") == []
    assert class_from_code_pointer(instance["run_launcher"]["module"], instance["run_launcher"]["class"]) is (
        K8sRunLauncher
    )
    # Production as the repository's dagster.yaml documents it, with only the run launcher and the place
    # of captured logs (a run's pod is gone when it ends) added.
    added = {"run_launcher", "compute_logs"}
    assert {k: v for k, v in instance.items() if k not in added} == yaml.safe_load(documented_postgres_yaml())


@pytest.mark.parametrize(
    "break_it",
    [
        lambda i: i["run_launcher"]["config"].update(job_namspace=NAMESPACE),
        lambda i: i["run_launcher"]["config"].update(env_secrets="site-secrets"),
        lambda i: i["storage"]["postgres"]["postgres_db"].update(hostnme="postgres"),
        lambda i: i["run_coordinator"]["config"].update(max_concurrent_runs="eight"),
        lambda i: i.update(run_monitor={"enabled": True}),
    ],
    ids=["misspelt-launcher-key", "secrets-not-a-list", "misspelt-postgres-key", "wrong-type", "unknown-section"],
)
def test_a_wrong_dagster_yaml_is_caught(break_it, tmp_path):
    instance = site_instance()
    break_it(instance)
    assert instance_config_errors(instance, tmp_path / "home") != []


def run_job(monkeypatch) -> dict:
    """The Job K8sRunLauncher makes for a run, as its _launch_k8s_job_with_args builds it, as a manifest."""
    monkeypatch.setattr(k8s_launcher, "load_kubernetes_config", lambda **_: None)  # no cluster to find
    config = process_config(resolve_to_config_type(K8sRunLauncher.config_type()), launcher_config())
    assert config.success, config.errors
    launcher = K8sRunLauncher.from_config_value(None, config.value)
    run = DagsterRun(job_name="pipeline")
    context = launcher.get_container_context_for_run(run)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(job_image=IMAGE, run_launcher=launcher),
        args=["dagster", "api", "execute_run", "{}"],
        job_name=get_job_name_from_run_id(run.run_id),
        component="run_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": run.job_name, "dagster/run-id": run.run_id},
    )
    return ApiClient().sanitize_for_serialization(job)


def test_the_job_the_run_launcher_makes_is_valid_and_refers_to_what_exists(monkeypatch):
    job = run_job(monkeypatch)
    assert schema_error(job) is None
    spec = job["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] in names("ServiceAccount") and spec["automountServiceAccountToken"] is False
    assert reference_errors({"run": spec}) == []
    (container,) = spec["containers"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env["DAGSTER_HOME"] == site_env()["DAGSTER_HOME"]
    for path in (compute_logs_dir(), site_env()["ORCHESTRATOR_HOME"]):
        assert on_a_volume(container, path, spec["volumes"]) == "site-data", path
    # The run's pod resolves the instance's {env: ...} references from its envFrom alone.
    provided = set(site_env()) | set(the("Secret", "site-secrets")["stringData"])
    assert {ref["env"] for ref in site_instance()["storage"]["postgres"]["postgres_db"].values()} <= provided


def reference_errors(specs: dict[str, dict]) -> list[str]:
    """Every name a pod spec gives another object (or one of its own volumes) that is not defined."""
    config_maps, secrets, claims = names("ConfigMap"), names("Secret"), names("PersistentVolumeClaim")
    keys = {
        **{("configMap", n): set(the("ConfigMap", n)["data"]) for n in config_maps},
        **{("secret", n): set(the("Secret", n)["stringData"]) for n in secrets},
    }
    errors = []
    for owner, spec in specs.items():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for volume in volumes.values():
            if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
                errors.append(f"{owner}: volume {volume['name']}: no ConfigMap {volume['configMap']['name']}")
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in claims:
                errors.append(f"{owner}: volume {volume['name']}: no PersistentVolumeClaim {claim}")
        account = spec.get("serviceAccountName")
        if account and account not in names("ServiceAccount"):
            errors.append(f"{owner}: no ServiceAccount {account}")
        for container in containers(spec):
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef") or source.get("secretRef")
                if ref["name"] not in (config_maps if "configMapRef" in source else secrets):
                    errors.append(f"{owner}: envFrom names no {ref['name']}")
            for var in container.get("env", []):
                for kind, ref in var.get("valueFrom", {}).items():
                    wanted = ("configMap" if kind == "configMapKeyRef" else "secret", ref["name"])
                    if ref["key"] not in keys.get(wanted, set()):
                        errors.append(f"{owner}: {var['name']} names no key {ref['key']} of {ref['name']}")
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volumes:
                    errors.append(f"{owner}: mount of undeclared volume {mount['name']}")
    return errors


def claim_templated(specs: dict[str, dict]) -> dict[str, dict]:
    """A StatefulSet's volumeClaimTemplates are volumes of its pods, made by the StatefulSet."""
    with_claims = copy.deepcopy(specs)
    for doc in DOCUMENTS:
        for template in doc["spec"].get("volumeClaimTemplates", []) if doc["kind"] == "StatefulSet" else []:
            with_claims[doc["metadata"]["name"]].setdefault("volumes", []).append(
                {"name": template["metadata"]["name"]}
            )
    return with_claims


def test_every_name_one_object_gives_another_is_defined():
    assert reference_errors(claim_templated(pod_specs())) == []
    config = launcher_config()
    assert config["job_namespace"] == NAMESPACE
    assert config["service_account_name"] in names("ServiceAccount")
    assert config["instance_config_map"] == "dagster-instance"
    assert set(config["env_config_maps"]) <= names("ConfigMap") and set(config["env_secrets"]) <= names("Secret")
    for doc in [d for d in DOCUMENTS if d["kind"] == "RoleBinding"]:
        assert doc["roleRef"]["name"] in names(doc["roleRef"]["kind"])
        assert {s["name"] for s in doc["subjects"]} <= names("ServiceAccount")
    for service in [d for d in DOCUMENTS if d["kind"] == "Service"]:
        name = service["metadata"]["name"]
        (template,) = [
            d["spec"]["template"]
            for d in DOCUMENTS
            if d["kind"] in WORKLOADS
            and service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports, name


def test_a_broken_reference_is_caught():
    specs = claim_templated(pod_specs())
    daemon = specs["dagster-daemon"]
    daemon["serviceAccountName"] = "dagster-deamon"
    (site_data,) = [v for v in daemon["volumes"] if v["name"] == "site-data"]
    site_data["persistentVolumeClaim"]["claimName"] = "site-date"
    daemon["containers"][0]["envFrom"][0]["configMapRef"]["name"] = "site-setings"
    daemon["containers"][0]["volumeMounts"][0]["name"] = "instanse"
    assert reference_errors(specs) == [
        "dagster-daemon: volume site-data: no PersistentVolumeClaim site-date",
        "dagster-daemon: no ServiceAccount dagster-deamon",
        "dagster-daemon: envFrom names no site-setings",
        "dagster-daemon: mount of undeclared volume instanse",
    ]


def site_env() -> dict[str, str]:
    return the("ConfigMap", "site-settings")["data"]


def on_a_volume(container: dict, path: str, volumes: list[dict]) -> str | None:
    """The claim of the volume `path` lies on in `container`, if any."""
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in volumes}
    within = [m for m in container.get("volumeMounts", []) if Path(path).is_relative_to(m["mountPath"])]
    return claims.get(max(within, key=lambda m: len(m["mountPath"]))["name"]) if within else None


def test_the_site_pods_share_one_instance_workspace_and_image():
    home = site_env()["DAGSTER_HOME"]
    assert launcher_config()["dagster_home"] == home
    (server,) = site_workspace()["load_from"]
    ensure_workspace_config(site_workspace(), "workspace.yaml")
    service = the("Service", server["grpc_server"]["host"])
    assert server["grpc_server"]["port"] in {p["port"] for p in service["spec"]["ports"]}
    for name in ("dagster-code", "dagster-daemon", "dagster-webserver"):
        (container,) = pod_specs()[name]["containers"]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts[f"{home}/dagster.yaml"]["subPath"] == "dagster.yaml", name
        # Runs' stdout and stderr and the sensors' logs are written in one pod and read in another.
        assert on_a_volume(container, compute_logs_dir(), pod_specs()[name]["volumes"]) == "site-data", name
        argv = container["command"]
        if "--workspace" in argv:
            assert Path(argv[argv.index("--workspace") + 1]).parent.as_posix() in mounts, name
    for name, spec in pod_specs().items():
        for container in containers(spec) if name != "postgres" else []:
            assert container["image"] == IMAGE, name
    code = pod_specs()["dagster-code"]["containers"][0]
    assert {"name": "DAGSTER_CURRENT_IMAGE", "value": IMAGE} in code["env"]


def test_each_server_listens_on_the_port_its_container_declares():
    for name, spec in pod_specs().items():
        for container in containers(spec):
            for argv in command_lines(container):
                if "--port" in argv:
                    declared = {str(p["containerPort"]) for p in container["ports"]}
                    assert argv[argv.index("--port") + 1] in declared, (name, argv)


def test_the_runtime_probes_its_health_endpoint():
    (container,) = pod_specs()["orchestrator-runtime"]["containers"]
    paths = {container[probe]["httpGet"]["path"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert paths == {"/healthz"} and "/healthz" in {route.path for route in health_router.routes}


def unknown_settings(text: str) -> set[str]:
    return set(re.findall(r"\bORCHESTRATOR_[A-Z0-9_]+", text)) - SETTINGS


def test_every_orchestrator_variable_is_a_setting_and_its_values_are_accepted(monkeypatch, tmp_path):
    assert {p.name: unknown_settings(p.read_text()) for p in K8S_DIR.glob("*.yaml")} == {
        p.name: set() for p in K8S_DIR.glob("*.yaml")
    }
    assert unknown_settings("ORCHESTRATOR_SITE_ID ORCHESTRATOR_SITEID") == {"ORCHESTRATOR_SITEID"}
    monkeypatch.chdir(tmp_path)  # no .env file
    for config_map, secret in (("runtime-settings", "runtime-secrets"), ("site-settings", "site-secrets")):
        env = {**the("ConfigMap", config_map)["data"], **the("Secret", secret)["stringData"]}
        for name in [n for n in env if n.startswith("ORCHESTRATOR_")]:
            monkeypatch.setenv(name, env[name])
        Settings()  # a value of the wrong type is an error here
    assert Settings().site_id == site_env()["ORCHESTRATOR_SITE_ID"]


def test_the_secrets_hold_placeholders_only():
    for secret in [d for d in DOCUMENTS if d["kind"] == "Secret"]:
        assert "data" not in secret, "plain stringData, so the placeholders show"
        assert all("CHANGE-ME" in value for value in secret["stringData"].values()), secret["metadata"]["name"]


def commands() -> set[tuple[str, ...]]:
    """Each of our programs' command lines: containers' and exec probes', with the image's paths made this checkout's."""
    found = set()
    for spec in pod_specs().values():
        for container in containers(spec):
            for argv in command_lines(container):
                if Path(argv[0]).name in OUR_PROGRAMS:
                    assert argv[0].startswith(f"{INSTALLED_AT}/.venv/bin/"), argv
                    found.add(tuple(part.replace(INSTALLED_AT, str(REPO_ROOT)) for part in argv))
    return found


def helped(argv: tuple[str, ...]) -> subprocess.CompletedProcess:
    # --help after every option: the program parses them all (an unknown one is an error), then stops.
    return subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)


def test_each_command_is_one_its_program_accepts():
    argvs = sorted(commands())
    assert {Path(argv[0]).name for argv in argvs} == OUR_PROGRAMS
    misspelt = (str(REPO_ROOT / ".venv/bin/orchestrator"), "runtime", "serve", "--wrkers", "2")
    with ThreadPoolExecutor(max_workers=len(argvs) + 1) as pool:
        results = dict(zip([*argvs, misspelt], pool.map(helped, [*argvs, misspelt]), strict=True))
    assert {shlex.join(a): r.stderr for a, r in results.items() if r.returncode != 0} == {
        shlex.join(misspelt): results[misspelt].stderr
    }
    assert "No such option '--wrkers'" in results[misspelt].stderr
