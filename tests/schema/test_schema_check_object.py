"""check_object: every rule with a failing and a passing case."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.schema import Issue, check_object
from tests.schema.schemadata import example_objects

Obj = dict[str, Any]


def codes(obj: Any) -> list[str]:
    return [i.code for i in check_object(obj)]


def only(obj: Any, code: str) -> Issue:
    found = [i for i in check_object(obj) if i.code == code]
    assert len(found) == 1, check_object(obj)
    return found[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def container(obj: dict[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = pod_spec(obj)["containers"][0]
    return c


@pytest.mark.parametrize(
    "obj", example_objects(), ids=lambda o: f"{o['kind']}-{o['metadata']['name']}"
)
def test_example_manifests_are_valid(obj: dict[str, Any]) -> None:
    assert check_object(obj) == []


def test_fixtures_are_valid(deployment: Obj, service: Obj, job: Obj, configmap: Obj) -> None:
    for obj in (deployment, service, job, configmap):
        assert check_object(obj) == []


# -- strictness: typos vs unsupported ---------------------------------------------------------

def test_unknown_field_suggests_near_miss(deployment: Obj) -> None:
    pod_spec(deployment)["contianers"] = pod_spec(deployment).pop("containers")
    issue = next(i for i in check_object(deployment) if i.code == "unknown-field")
    assert issue.path == ("spec", "template", "spec", "contianers")
    assert issue.message == 'unknown field "contianers"'
    assert issue.hint == "did you mean containers?"


def test_unknown_field_in_container(deployment: Obj) -> None:
    c = container(deployment)
    c["imagePullPolcy"] = c.pop("imagePullPolicy")
    issue = only(deployment, "unknown-field")
    assert issue.path == ("spec", "template", "spec", "containers", 0, "imagePullPolcy")
    assert issue.hint == "did you mean imagePullPolicy?"


def test_unknown_field_without_near_miss_lists_fields(service: Obj) -> None:
    service["spec"]["zzzqqq"] = 1
    issue = only(service, "unknown-field")
    assert issue.hint is not None and "selector" in issue.hint and "did you mean" not in issue.hint


def test_unsupported_field_is_distinct_from_typo(deployment: Obj) -> None:
    pod_spec(deployment)["setHostnameAsFQDN"] = True
    issue = only(deployment, "unsupported-field")
    assert issue.path == ("spec", "template", "spec", "setHostnameAsFQDN")
    assert "valid in Kubernetes, not supported by gitkube" in issue.message
    assert "unknown-field" not in codes(deployment)


def test_unsupported_field_reason_is_in_hint(deployment: Obj) -> None:
    pod_spec(deployment)["automountServiceAccountToken"] = True
    issue = only(deployment, "unsupported-field")
    assert issue.hint is not None and "service account tokens" in issue.hint


@pytest.mark.parametrize("field,value", [
    ("hostNetwork", False), ("serviceAccountName", "default"), ("securityContext", {}),
    ("priority", 0), ("imagePullSecrets", []), ("hostAliases", None),
])
def test_unsupported_field_with_neutral_value_is_accepted(deployment: Obj, field: str,
                                                          value: Any) -> None:
    pod_spec(deployment)[field] = value
    assert check_object(deployment) == []


def test_unsupported_volume_source(deployment: Obj) -> None:
    pod_spec(deployment)["volumes"][0] = {"name": "site", "nfs": {"server": "x", "path": "/"}}
    issue = only(deployment, "unsupported-field")
    assert issue.path[-1] == "nfs"


def test_every_service_type_is_accepted_and_external_name_needs_a_host(
        service: Obj) -> None:
    for kind in ("ClusterIP", "NodePort", "LoadBalancer"):
        service["spec"]["type"] = kind
        assert check_object(service) == []
    service["spec"] = {"type": "ExternalName", "externalName": "db.example.com"}
    assert check_object(service) == []
    for bad in (None, "", "Not_A_Host"):
        service["spec"]["externalName"] = bad
        issues = check_object(service)
        assert [i.path for i in issues] == [("spec", "externalName")], issues


# -- types, required, enums ---------------------------------------------------------------------

def test_type_error(deployment: Obj) -> None:
    deployment["spec"]["replicas"] = "2"
    issue = only(deployment, "type")
    assert issue.path == ("spec", "replicas")
    assert issue.message == "must be an integer, not a string"


def test_int_or_string(service: Obj) -> None:
    service["spec"]["ports"][0]["targetPort"] = 8080
    assert check_object(service) == []
    service["spec"]["ports"][0]["targetPort"] = [8080]
    assert only(service, "type").path == ("spec", "ports", 0, "targetPort")


def test_required_schema_field(deployment: Obj) -> None:
    del container(deployment)["name"]
    assert only(deployment, "required").path == (
        "spec", "template", "spec", "containers", 0, "name")


def test_required_name_and_image(deployment: Obj) -> None:
    del deployment["metadata"]["name"]
    del container(deployment)["image"]
    paths = {i.path for i in check_object(deployment) if i.code == "required"}
    assert paths == {("metadata", "name"),
                     ("spec", "template", "spec", "containers", 0, "image")}


def test_missing_api_version() -> None:
    assert check_object({"kind": "Pod", "metadata": {"name": "x"}}) == [
        Issue(("apiVersion",), 'missing required field "apiVersion"', "required")]


def test_enum(deployment: Obj) -> None:
    container(deployment)["imagePullPolicy"] = "Sometimes"
    issue = only(deployment, "enum")
    assert "Always, IfNotPresent, Never" in issue.message


def test_not_a_mapping() -> None:
    assert codes(["a"]) == ["type"]


# -- kinds ----------------------------------------------------------------------------------

def test_a_misspelt_kind_gets_the_right_kind_and_no_list() -> None:
    issue = only({"apiVersion": "v1", "kind": "Deploymnet", "metadata": {"name": "x"}},
                 "unknown-kind")
    assert issue.hint == "did you mean Deployment? (apiVersion: apps/v1)"


def test_wrong_api_version_for_known_kind(deployment: Obj) -> None:
    deployment["apiVersion"] = "apps/v2"
    assert only(deployment, "unknown-kind").hint == "use apiVersion: apps/v1"
    deployment["apiVersion"] = "extensions/v1beta1"
    issue = only(deployment, "removed-api-version")
    assert issue.hint == "use apiVersion: apps/v1"


def test_api_view_with_server_fields_and_status(deployment: Obj) -> None:
    deployment["metadata"].update({
        "uid": "0b5f3c1e-1", "resourceVersion": "42", "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u",
                             "controller": True}],
        "finalizers": ["gitkube.io/x"],
    })
    deployment["status"] = {"replicas": 2, "readyReplicas": 1, "observedGeneration": 3,
                            "conditions": [{"type": "Available", "status": "True",
                                            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    assert check_object(deployment) == []


def test_agent_kinds_have_schemas() -> None:
    node: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                 "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]},
                 "status": {"capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"}}}
    assert check_object(node) == []
    node["status"]["capacity"]["cpu"] = "two"
    assert only(node, "quantity").path == ("status", "capacity", "cpu")
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e.1", "namespace": "d"},
             "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Scheduled",
             "message": "ok", "count": 1}
    assert check_object(event) == []
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "d"},
          "subsets": [{"addresses": [{"ip": "10.88.0.2"}], "ports": [{"port": 80}]}]}
    assert check_object(ep) == []


# -- names and labels -------------------------------------------------------------------------

def test_object_name_subdomain(deployment: Obj) -> None:
    deployment["metadata"]["name"] = "web.v2"
    assert check_object(deployment) == []
    deployment["metadata"]["name"] = "Web_App"
    assert only(deployment, "dns1123").path == ("metadata", "name")


def test_namespace_name_is_a_label() -> None:
    ns: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}
    assert check_object(ns) == []
    ns["metadata"]["name"] = "demo.v2"
    assert "RFC 1123 label" in only(ns, "dns1123").message


def test_service_name_is_rfc1035(service: Obj) -> None:
    service["metadata"]["name"] = "1web"
    assert only(service, "dns1035").path == ("metadata", "name")


def test_label_value(deployment: Obj) -> None:
    deployment["metadata"]["labels"]["tier"] = "front end!"
    assert only(deployment, "label-value").path == ("metadata", "labels", "tier")
    deployment["metadata"]["labels"]["tier"] = "front-end.v1_2"
    assert check_object(deployment) == []


def test_label_key(deployment: Obj) -> None:
    deployment["metadata"]["labels"]["-bad"] = "x"
    assert only(deployment, "label-key").path == ("metadata", "labels", "-bad")
    del deployment["metadata"]["labels"]["-bad"]
    deployment["metadata"]["labels"]["app.kubernetes.io/name"] = "web"
    assert check_object(deployment) == []


def test_annotation_key(deployment: Obj) -> None:
    deployment["metadata"]["annotations"] = {"example.com/ok": "any value at all!"}
    assert check_object(deployment) == []
    deployment["metadata"]["annotations"]["bad key"] = "x"
    assert only(deployment, "annotation-key").path == ("metadata", "annotations", "bad key")


def test_template_labels_are_checked(deployment: Obj) -> None:
    deployment["spec"]["template"]["metadata"]["labels"]["x"] = "a b"
    assert only(deployment, "label-value").path[:3] == ("spec", "template", "metadata")


# -- quantities ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["100m", "1.5Gi", "1e3", 0.5, 2, "64Mi", "1"])
def test_quantity_valid(deployment: Obj, value: Any) -> None:
    container(deployment)["resources"] = {"requests": {"cpu": value}}
    assert check_object(deployment) == []


@pytest.mark.parametrize("value", ["10x", "1.5 Gi", "Gi", "", "1GB"])
def test_quantity_invalid(deployment: Obj, value: Any) -> None:
    container(deployment)["resources"] = {"requests": {"cpu": value}}
    issue = only(deployment, "quantity")
    assert issue.path[-3:] == ("resources", "requests", "cpu")


def test_request_above_limit(deployment: Obj) -> None:
    container(deployment)["resources"] = {"requests": {"memory": "1Gi"},
                                          "limits": {"memory": "512Mi"}}
    assert only(deployment, "resources").path[-2:] == ("requests", "memory")
    container(deployment)["resources"]["limits"]["memory"] = "1024Mi"
    assert check_object(deployment) == []


def test_pvc_storage_quantity() -> None:
    pvc: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": "demo"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "1Gi"}}}}
    assert check_object(pvc) == []
    pvc["spec"]["resources"]["requests"]["storage"] = "lots"
    assert only(pvc, "quantity").path == ("spec", "resources", "requests", "storage")


# -- selectors, containers, ports -----------------------------------------------------------------

def test_selector_mismatch(deployment: Obj) -> None:
    deployment["spec"]["template"]["metadata"]["labels"] = {"app": "api"}
    issue = only(deployment, "selector-mismatch")
    assert issue.path == ("spec", "selector")
    assert issue.hint is not None and "app: web" in issue.hint


def test_selector_match_expressions(deployment: Obj) -> None:
    deployment["spec"]["selector"] = {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["web", "api"]}]}
    assert check_object(deployment) == []
    deployment["spec"]["selector"]["matchExpressions"][0]["operator"] = "NotIn"
    assert "selector-mismatch" in codes(deployment)


def test_empty_selector(deployment: Obj) -> None:
    deployment["spec"]["selector"] = {}
    assert only(deployment, "selector-empty").path == ("spec", "selector")


def test_duplicate_container_including_init(deployment: Obj) -> None:
    pod_spec(deployment)["initContainers"] = [{"name": "httpd", "image": "x"}]
    issue = only(deployment, "duplicate-container")
    assert issue.path == ("spec", "template", "spec", "containers", 0, "name")
    pod_spec(deployment)["initContainers"][0]["name"] = "init"
    assert check_object(deployment) == []


def test_container_port_range(deployment: Obj) -> None:
    container(deployment)["ports"][0]["containerPort"] = 70000
    assert only(deployment, "port-range").path[-1] == "containerPort"
    container(deployment)["ports"][0]["containerPort"] = 65535
    assert check_object(deployment) == []


def test_service_port_range(service: Obj) -> None:
    service["spec"]["ports"][0]["port"] = 0
    assert only(service, "port-range").path == ("spec", "ports", 0, "port")


def test_target_port_name(service: Obj) -> None:
    service["spec"]["ports"][0]["targetPort"] = "Not_A_Name"
    assert only(service, "port-name").path == ("spec", "ports", 0, "targetPort")


def test_multi_port_service_needs_names(service: Obj) -> None:
    service["spec"]["ports"].append({"port": 443})
    assert only(service, "required").path == ("spec", "ports", 1, "name")
    service["spec"]["ports"][1]["name"] = "http"
    assert only(service, "duplicate-port").path == ("spec", "ports", 1, "name")


def test_headless_service_without_ports(service: Obj) -> None:
    del service["spec"]["ports"]
    assert only(service, "required").path == ("spec", "ports")
    service["spec"]["clusterIP"] = "None"
    assert check_object(service) == []


def test_undefined_volume(deployment: Obj) -> None:
    container(deployment)["volumeMounts"][0]["name"] = "data"
    assert only(deployment, "undefined-volume").path[-1] == "name"


def test_volume_needs_one_source(deployment: Obj) -> None:
    pod_spec(deployment)["volumes"][0] = {"name": "site"}
    assert only(deployment, "volume-source").path == ("spec", "template", "spec", "volumes", 0)


def test_probe_needs_one_handler(deployment: Obj) -> None:
    container(deployment)["readinessProbe"] = {"periodSeconds": 2}
    assert only(deployment, "probe-handler").path[-1] == "readinessProbe"


def test_job_restart_policy(job: Obj) -> None:
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert only(job, "restart-policy").path[-1] == "restartPolicy"
    job["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert check_object(job) == []


def test_deployment_restart_policy(deployment: Obj) -> None:
    pod_spec(deployment)["restartPolicy"] = "Never"
    assert only(deployment, "restart-policy")


def test_negative_replicas(deployment: Obj) -> None:
    deployment["spec"]["replicas"] = -1
    assert only(deployment, "range").path == ("spec", "replicas")


def test_max_surge_percent(deployment: Obj) -> None:
    deployment["spec"]["strategy"] = {"type": "RollingUpdate",
                                      "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    assert check_object(deployment) == []
    deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = "lots"
    assert only(deployment, "int-or-percent")


def test_secret_data_must_be_base64() -> None:
    secret: Obj = {"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "s", "namespace": "d"}, "data": {"token": "aGVsbG8="}}
    assert check_object(secret) == []
    secret["data"]["token"] = "hello!"
    assert only(secret, "base64").hint == "use stringData for plain text"


def test_config_key(configmap: Obj) -> None:
    configmap["data"]["bad/key"] = "x"
    assert only(configmap, "config-key").path == ("data", "bad/key")


def test_statefulset_claim_templates_count_as_volumes() -> None:
    sts = next(o for o in example_objects() if o["kind"] == "StatefulSet")
    assert check_object(sts) == []
    del sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]
    assert only(sts, "required").path[-1] == "storage"


# -- Issue values -------------------------------------------------------------------------------

def test_issue_json_round_trip(deployment: Obj) -> None:
    pod_spec(deployment)["contianers"] = []
    for issue in check_object(deployment):
        assert Issue.from_json(issue.to_json()) == issue


def test_issue_dotted_path() -> None:
    issue = Issue(("metadata", "labels", "app.kubernetes.io/name"), "m", "label-key")
    assert issue.dotted == 'metadata.labels["app.kubernetes.io/name"]'
    assert Issue(("spec", "containers", 0, "image"), "m", "x").dotted == "spec.containers[0].image"


def test_type_error_hints_about_yaml_quoting(deployment: Obj) -> None:
    deployment["metadata"]["labels"]["version"] = 1
    issue = only(deployment, "type")
    assert issue.path == ("metadata", "labels", "version")
    assert issue.hint == 'YAML reads this as an integer; quote it: "1"'
    deployment["metadata"]["labels"]["version"] = "1"
    deployment["spec"]["replicas"] = "3"
    assert only(deployment, "type").hint == "remove the quotes"


def test_field_at_the_wrong_level_says_where_it_belongs(deployment: Obj) -> None:
    deployment["spec"]["containers"] = pod_spec(deployment)["containers"]
    issue = only(deployment, "unknown-field")
    assert issue.path == ("spec", "containers")
    assert issue.hint is not None and "PodSpec" in issue.hint and "wrong level" in issue.hint


def test_secret_base64_may_contain_line_breaks() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "d"},
              "data": {"token": "aGVs\nbG8="}}
    assert check_object(secret) == []


def test_typo_of_a_field_that_belongs_elsewhere(deployment: Obj) -> None:
    container(deployment)["contianerPort"] = 80
    issue = only(deployment, "unknown-field")
    assert issue.hint == (
        "did you mean containerPort? (a field of ContainerPort, not of this object)")


# -- the remaining semantic rules, each failing and passing -------------------------------------

def test_annotation_size(deployment: Obj) -> None:
    deployment["metadata"]["annotations"] = {"big": "x" * (256 * 1024)}
    assert only(deployment, "annotation-size").path == ("metadata", "annotations")
    deployment["metadata"]["annotations"] = {"big": "x" * 1000}
    assert check_object(deployment) == []


def test_configmap_key_in_data_and_binary_data(configmap: Obj) -> None:
    configmap["binaryData"] = {"other": "aGk="}
    assert check_object(configmap) == []
    configmap["binaryData"]["GREETING"] = "aGk="
    assert only(configmap, "duplicate-key").path == ("binaryData", "GREETING")


def test_node_port_needs_node_port_type(service: Obj) -> None:
    service["spec"]["ports"][0]["nodePort"] = 30080
    assert only(service, "node-port").path == ("spec", "ports", 0, "nodePort")
    service["spec"]["type"] = "NodePort"
    assert check_object(service) == []


def test_toleration_exists_without_value(deployment: Obj) -> None:
    pod_spec(deployment)["tolerations"] = [{"key": "k", "operator": "Exists", "value": "v"}]
    assert only(deployment, "toleration").path[-1] == "value"
    del pod_spec(deployment)["tolerations"][0]["value"]
    assert check_object(deployment) == []


def test_selector_operator_values(deployment: Obj) -> None:
    deployment["spec"]["selector"]["matchExpressions"] = [{"key": "app", "operator": "In"}]
    assert only(deployment, "selector").path[-1] == "values"
    deployment["spec"]["selector"]["matchExpressions"] = [{"key": "app", "operator": "Exists"}]
    assert check_object(deployment) == []


def test_duplicate_volume(deployment: Obj) -> None:
    pod_spec(deployment)["volumes"].append({"name": "site", "emptyDir": {}})
    assert only(deployment, "duplicate-volume").path[-2:] == (1, "name")
    pod_spec(deployment)["volumes"][1]["name"] = "scratch"
    assert check_object(deployment) == []


def test_cluster_ip(service: Obj) -> None:
    service["spec"]["clusterIP"] = "10.96.0.300"
    assert only(service, "ip").path == ("spec", "clusterIP")
    service["spec"]["clusterIP"] = "10.96.0.30"
    assert check_object(service) == []


def test_hostname_is_a_label(deployment: Obj) -> None:
    pod_spec(deployment)["hostname"] = "web.example"
    assert only(deployment, "dns1123").path[-1] == "hostname"
    pod_spec(deployment)["hostname"] = "web-0"
    assert check_object(deployment) == []


def test_namespace_value_is_a_label(configmap: Obj) -> None:
    configmap["metadata"]["namespace"] = "Demo"
    assert only(configmap, "dns1123").path == ("metadata", "namespace")


def test_rolling_update_with_recreate(deployment: Obj) -> None:
    deployment["spec"]["strategy"] = {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}
    assert only(deployment, "strategy").path[-1] == "rollingUpdate"
    deployment["spec"]["strategy"] = {"type": "Recreate"}
    assert check_object(deployment) == []


def test_env_value_and_value_from(deployment: Obj) -> None:
    container(deployment)["env"] = [{"name": "A", "value": "x", "valueFrom": {
        "configMapKeyRef": {"name": "web", "key": "A"}}}]
    assert only(deployment, "env").path[-1] == "valueFrom"
    container(deployment)["env"][0]["value"] = ""
    assert check_object(deployment) == []


def test_emptydir_size_limit_quantity(deployment: Obj) -> None:
    pod_spec(deployment)["volumes"].append({"name": "tmp", "emptyDir": {"sizeLimit": "1 GB"}})
    assert only(deployment, "quantity").path[-2:] == ("emptyDir", "sizeLimit")
    pod_spec(deployment)["volumes"][1]["emptyDir"]["sizeLimit"] = "1Gi"
    assert check_object(deployment) == []


def test_preferred_node_affinity_is_accepted(deployment: Obj) -> None:
    """The scheduler's NodeAffinity plugin scores preferred terms (tests/agents/scheduler)."""
    pod_spec(deployment)["affinity"] = {"nodeAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "preference": {"matchExpressions": [
                {"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}
    assert check_object(deployment) == []


def test_probe_grace_only_on_probes_that_kill(deployment: Obj) -> None:
    container = pod_spec(deployment)["containers"][0]
    container["livenessProbe"] = {"exec": {"command": ["true"]},
                                  "terminationGracePeriodSeconds": 5}
    assert check_object(deployment) == []
    container["readinessProbe"] = {"exec": {"command": ["true"]},
                                   "terminationGracePeriodSeconds": 5}
    issue = only(deployment, "probe-grace")
    assert issue.path[-2:] == ("readinessProbe", "terminationGracePeriodSeconds")


# -- one cause, one error -------------------------------------------------------------------

def test_a_misspelt_required_field_is_one_error(deployment: Obj) -> None:
    pod_spec(deployment)["contianers"] = pod_spec(deployment).pop("containers")
    assert codes(deployment) == ["unknown-field"]


def test_a_missing_field_next_to_an_unrelated_unknown_one_is_still_reported(
        deployment: Obj) -> None:
    spec = pod_spec(deployment)
    del spec["containers"]
    spec["hostnme"] = "x"  # did you mean hostname?, which is not the missing field
    assert sorted(codes(deployment)) == ["required", "unknown-field"]


def test_a_wrong_case_probe_handler_is_one_error(deployment: Obj) -> None:
    container(deployment)["readinessProbe"] = {"gRPC": {"port": 8080}}
    [issue] = check_object(deployment)
    assert (issue.code, issue.path[-1], issue.hint) == ("unknown-field", "gRPC",
                                                       "did you mean grpc?")
    container(deployment)["readinessProbe"] = {"grpcc": {"port": 8080}, "exec": None}
    assert codes(deployment) == ["unknown-field"]
    container(deployment)["readinessProbe"] = {"periodSeconds": 3}  # no handler at all
    assert codes(deployment) == ["probe-handler"]


def test_a_wrong_case_volume_source_is_one_error(deployment: Obj) -> None:
    pod_spec(deployment)["volumes"][0] = {"name": "site", "configmap": {"name": "web"}}
    assert codes(deployment) == ["unknown-field"]
