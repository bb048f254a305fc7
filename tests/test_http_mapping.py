"""The HTTP mapping (google.api.http) a gateway transcodes SchedulingService with.

The descriptor set is built as `make descriptor` builds it (grpc_tools.protoc with
the same -I paths and --include_imports), into a temporary directory; the rules are
read from it, as Envoy reads them. deploy/envoy.yaml is checked, not run; the
grpc-gateway of deploy/gateway/ is built and run by `make e2e-gateway`
(tests/e2e/gateway/).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from itertools import combinations
from pathlib import Path
from typing import Any

import google.api
import grpc_tools
import pytest
import yaml  # dev dependency (pyyaml)
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "scheduling.v1.SchedulingService"

# Design §2, the HTTP column.
DESIGN_ROUTES = {
    "CreateRoom": ("POST", "/v1/rooms"),
    "GetRoom": ("GET", "/v1/rooms/{room_id}"),
    "ListRooms": ("GET", "/v1/rooms"),
    "BookRoom": ("POST", "/v1/rooms/{room_id}:book"),
    "LeaveRoom": ("POST", "/v1/rooms/{room_id}:leave"),
    "RescheduleRoom": ("POST", "/v1/rooms/{room_id}:reschedule"),
    "CancelRoom": ("DELETE", "/v1/rooms/{room_id}"),
    "JoinWaitlist": ("POST", "/v1/rooms/{room_id}:joinWaitlist"),
    "LeaveWaitlist": ("POST", "/v1/rooms/{room_id}:leaveWaitlist"),
    "WatchRooms": ("GET", "/v1/rooms:watch"),
    "ConnectCalendar": ("POST", "/v1/calendarConnection"),
    "GetCalendarConnection": ("GET", "/v1/calendarConnection"),
    "DisconnectCalendar": ("DELETE", "/v1/calendarConnection"),
    "RotateCalendarFeed": ("POST", "/v1/calendarFeed:rotate"),
    "RevokeCalendarFeed": ("DELETE", "/v1/calendarFeed"),
    "GetCalendarFeed": ("GET", "/v1/calendarFeeds/{token}"),
}


@pytest.fixture(scope="module")
def descriptors(tmp_path_factory: pytest.TempPathFactory) -> descriptor_pb2.FileDescriptorSet:
    google_protos = os.path.dirname(os.path.dirname(google.api.__path__[0]))
    grpc_protos = os.path.join(grpc_tools.__path__[0], "_proto")
    out = tmp_path_factory.mktemp("descriptor") / "descriptor.pb"
    protos = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "protos").rglob("*.proto"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            "protos",
            "-I",
            google_protos,
            "-I",
            grpc_protos,
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out}",
            *protos,
        ],
        check=True,
        cwd=ROOT,
    )
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def service(fds: descriptor_pb2.FileDescriptorSet) -> tuple[str, Any]:
    for file in fds.file:
        for svc in file.service:
            if f"{file.package}.{svc.name}" == SERVICE:
                return file.package, svc
    raise AssertionError(f"{SERVICE} is not in the descriptor set")


def bindings(rule: http_pb2.HttpRule) -> list[tuple[str, str, str]]:
    """(verb, path, body) of a rule and its additional bindings."""
    found = []
    for r in [rule, *rule.additional_bindings]:
        kind = r.WhichOneof("pattern")
        assert kind is not None and kind != "custom", r
        found.append((kind.upper(), getattr(r, kind), r.body))
    return found


def rules(fds: descriptor_pb2.FileDescriptorSet) -> dict[str, list[tuple[str, str, str]]]:
    _, svc = service(fds)
    result = {}
    for method in svc.method:
        assert method.options.HasExtension(annotations_pb2.http), f"{method.name}: no http rule"
        result[method.name] = bindings(method.options.Extensions[annotations_pb2.http])
    return result


def split(path: str) -> tuple[list[str], str]:
    """Segments with variables as `*` (`**` kept), and the custom verb after `:`."""
    normal = re.sub(r"\{[^}=]+(=([^}]*))?\}", lambda m: m.group(2) or "*", path)
    segments = normal.strip("/").split("/")
    last, _, verb = segments[-1].partition(":")
    return [*segments[:-1], last], verb


def overlap(a: str, b: str) -> bool:
    """Could one URL path match both templates?"""
    (sa, va), (sb, vb) = split(a), split(b)
    if va != vb:
        return False
    for x, y in zip(sa, sb, strict=False):
        if "**" in (x, y):
            return True
        if x != y and "*" not in (x, y):
            return False
    return len(sa) == len(sb)


def test_every_rpc_has_an_http_rule(descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    _, svc = service(descriptors)
    assert {m.name for m in svc.method} == set(rules(descriptors))


def test_routes_are_the_design_table(descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    found = {name: [(verb, path) for verb, path, _ in b] for name, b in rules(descriptors).items()}
    assert found == {name: [route] for name, route in DESIGN_ROUTES.items()}


def test_no_two_rules_clash(descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    routes = [(name, verb, path) for name, b in rules(descriptors).items() for verb, path, _ in b]
    normalised = [
        (verb, "/".join(split(path)[0]) + ":" + split(path)[1]) for _, verb, path in routes
    ]
    assert len(set(normalised)) == len(normalised), normalised
    for (n1, v1, p1), (n2, v2, p2) in combinations(routes, 2):
        assert not (v1 == v2 and overlap(p1, p2)), f"{n1} {v1} {p1} clashes with {n2} {v2} {p2}"


def test_overlap_detection_itself() -> None:
    assert overlap("/v1/rooms/{room_id}", "/v1/rooms/latest")
    assert overlap("/v1/{name=rooms/*}", "/v1/rooms/{room_id}")
    assert not overlap("/v1/rooms/{room_id}", "/v1/rooms:watch")
    assert not overlap("/v1/rooms/{room_id}:book", "/v1/rooms/{room_id}:leave")
    assert not overlap("/v1/rooms/{room_id}", "/v1/rooms/{room_id}:book")


def test_path_variables_and_bodies_fit_the_requests(
    descriptors: descriptor_pb2.FileDescriptorSet,
) -> None:
    package, svc = service(descriptors)
    messages = {
        f".{file.package}.{m.name}": m for file in descriptors.file for m in file.message_type
    }
    for method in svc.method:
        request = messages[method.input_type]
        fields = {f.name for f in request.field}
        for verb, path, body in bindings(method.options.Extensions[annotations_pb2.http]):
            for variable in re.findall(r"\{([^}=]+)", path):
                assert variable in fields, f"{method.name}: {{{variable}}} is no request field"
            if verb in {"GET", "DELETE"}:
                assert body == "", f"{method.name}: {verb} carries no body"
            else:
                assert body == "*", f"{method.name}: {verb} takes the request as its body"
    # DELETE has no body: CancelRoom's other fields travel as query parameters.
    cancel = messages[f".{package}.CancelRoomRequest"]
    assert {"reason", "etag"} <= {f.name for f in cancel.field}


def test_envoy_example_fits_the_descriptor() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "envoy.yaml").read_text())
    text = (ROOT / "deploy" / "envoy.yaml").read_text()
    assert text.startswith("# NOT RUN HERE.")
    (listener,) = config["static_resources"]["listeners"]
    (manager,) = listener["filter_chains"][0]["filters"]
    typed = manager["typed_config"]
    transcoder = next(
        f["typed_config"]
        for f in typed["http_filters"]
        if f["name"] == "envoy.filters.http.grpc_json_transcoder"
    )
    assert transcoder["services"] == [SERVICE]
    assert Path(transcoder["proto_descriptor"]).name == "descriptor.pb"
    assert transcoder["print_options"]["always_print_primitive_fields"] is False
    assert transcoder["print_options"]["stream_newline_delimited"] is True

    routes = typed["route_config"]["virtual_hosts"][0]["routes"]
    watch = [r for r in routes if r["match"].get("path") == f"/{SERVICE}/WatchRooms"]
    assert len(watch) == 1 and watch[0]["route"]["timeout"] == "0s"
    assert routes.index(watch[0]) == 0  # before the prefix route that would catch it
    assert any(r["match"].get("prefix") == f"/{SERVICE}/" for r in routes)

    makefile = (ROOT / "Makefile").read_text()
    assert "--include_imports" in makefile
    assert "--descriptor_set_out=generated/descriptor.pb" in makefile


def test_http_doc_shows_every_route() -> None:
    doc = (ROOT / "docs" / "http.md").read_text()
    for name, (verb, path) in DESIGN_ROUTES.items():
        assert f"{verb} {path}" in doc, f"docs/http.md: no {verb} {path} ({name})"
        # Each path variable as the examples' shell variable for it.
        curl_path = re.sub(r"\{token\}", "$FEED_TOKEN", path)
        curl_path = re.sub(r"\{[^}]+\}", "$ROOM", curl_path)
        assert f"{curl_path}" in doc, f"docs/http.md: no curl example for {verb} {path}"


def test_gateways_know_the_error_detail_types() -> None:
    # Without them a gateway cannot print a status's details: grpc-gateway answers
    # every error with HTTP 500, Envoy leaves ErrorInfo out.
    build = (ROOT / "deploy" / "gateway" / "build.sh").read_text()
    assert "google/rpc/error_details.proto" in build
    main = (ROOT / "deploy" / "gateway" / "main.go").read_text()
    assert '"rooms-gateway/gen/google/rpc"' in main  # imported, so linked in
    descriptor = (ROOT / "Makefile").read_text().split("descriptor: install", 1)[1]
    assert "google/rpc/error_details.proto" in descriptor.split("\n\n", 1)[0]
