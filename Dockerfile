# One image for both services. The default command serves scheduling; run the
# notification service (or migrations) by overriding the command:
#   docker run IMAGE python -m notification_service serve
#   docker run IMAGE python -m scheduling_service migrate
# docker-compose.yml does exactly that. Build: docker build -t practice-rooms .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: generate the protobuf code, install the project into /opt/venv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

COPY pyproject.toml README.md ./
# Code generation tools get a venv of their own: they never reach the runtime image.
# grpcio-tools is pinned in pyproject's dev extra; read the pin from there.
RUN python -m venv /opt/tools \
 && /opt/tools/bin/pip install \
      "$(python -c 'import tomllib; dev = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["dev"]; print(next(d for d in dev if d.startswith("grpcio-tools")))')" \
      "googleapis-common-protos>=1.70"

COPY protos/ protos/
# The same protoc call as the Makefile's `proto` target: -I protos, the googleapis
# protos (google/api/annotations.proto) and grpc_tools' own well-known types.
# find -exec passes the file names as they are (no word splitting of a $(find …)).
RUN GOOGLE_PROTOS="$(/opt/tools/bin/python -c 'import google.api, os; print(os.path.dirname(os.path.dirname(google.api.__path__[0])))')" \
 && GRPC_PROTOS="$(/opt/tools/bin/python -c 'import grpc_tools, os; print(os.path.join(grpc_tools.__path__[0], "_proto"))')" \
 && mkdir -p generated \
 && find protos -name '*.proto' -exec /opt/tools/bin/python -m grpc_tools.protoc -I protos \
      -I "$GOOGLE_PROTOS" -I "$GRPC_PROTOS" \
      --python_out=generated --pyi_out=generated --grpc_python_out=generated {} +

COPY servicekit/ servicekit/
COPY scheduling_service/ scheduling_service/
COPY notification_service/ notification_service/
COPY roomsctl/ roomsctl/
# Not editable: the venv holds the code itself (pyproject finds packages in "." and
# "generated"), so the runtime stage needs nothing from /src.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install . \
 && /opt/venv/bin/python -c "import scheduling.v1.scheduling_pb2, notification.v1.notification_pb2, scheduling_service, notification_service, servicekit.probe"

# ---- runtime: the venv, a non-root user, nothing else ----
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 rooms \
 && useradd --system --uid 10001 --gid rooms --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin rooms
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
# scheduling (SCHEDULING_LISTEN) and notification (NOTIFICATION_LISTEN); in a container
# set them to 0.0.0.0:PORT, the defaults listen on loopback only.
EXPOSE 50051 50052
CMD ["python", "-m", "scheduling_service", "serve"]
