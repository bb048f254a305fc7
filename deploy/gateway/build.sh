#!/usr/bin/env bash
# Builds rooms-gateway (main.go) for scheduling.v1 from Debian's packages, offline:
# grpc-gateway v1.6.4, golang/protobuf 1.3, grpc-go, genproto, Go in GOPATH mode.
#   deploy/gateway/build.sh [OUT_DIR]     (default build/gateway, git-ignored)
# Needs the project's venv (make install) for the googleapis protos.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-$root/build/gateway}" && cd "${1:-$root/build/gateway}" && pwd)
python=${PYTHON:-$root/.venv/bin/python}
googleapis=$("$python" -c 'import google.api, os; print(os.path.dirname(os.path.dirname(google.api.__path__[0])))')

gopath=$out/gopath
src=$gopath/src/rooms-gateway
rm -rf "$gopath"
mkdir -p "$src/cmd" "$src/gen" "$gopath/protos/google/rpc"

# Trap 1: map the well-known types to the packages this grpc-gateway's JSON layer
# reads (golang/protobuf's ptypes, genproto's annotations); with the newer
# google.golang.org/protobuf types every request fails to unmarshal.
wkt="Mgoogle/protobuf/duration.proto=github.com/golang/protobuf/ptypes/duration"
wkt+=",Mgoogle/protobuf/timestamp.proto=github.com/golang/protobuf/ptypes/timestamp"
wkt+=",Mgoogle/protobuf/empty.proto=github.com/golang/protobuf/ptypes/empty"
wkt+=",Mgoogle/api/annotations.proto=google.golang.org/genproto/googleapis/api/annotations"
wkt+=",Mgoogle/api/http.proto=google.golang.org/genproto/googleapis/api/annotations"
wkt+=",Mgoogle/api/field_behavior.proto=google.golang.org/genproto/googleapis/api/annotations"
# google.api.HttpBody (GetCalendarFeed's response): Debian's genproto ships its Go type,
# built on golang/protobuf's ptypes/any like the rest of this gateway.
wkt+=",Mgoogle/api/httpbody.proto=google.golang.org/genproto/googleapis/api/httpbody"
wkt+=",Mgoogle/protobuf/any.proto=github.com/golang/protobuf/ptypes/any"
ours="Mscheduling/v1/scheduling.proto=rooms-gateway/gen/scheduling/v1"
ours+=",Mgoogle/rpc/error_details.proto=rooms-gateway/gen/google/rpc"

# Trap 3: the old generator refuses proto3 `optional`; on the wire a field marked
# so is the same field, so dropping the keyword changes nothing the gateway prints.
sed -E 's/^([[:space:]]*)optional[[:space:]]+/\1/' \
    "$googleapis/google/rpc/error_details.proto" >"$gopath/protos/google/rpc/error_details.proto"

includes=(-I /usr/include -I "$root/protos" -I "$gopath/protos" -I "$googleapis")
# protoc-gen-go places its output by go_package, not by the M options: source_relative
# puts it under gen/ where the import paths above say it is.
protoc "${includes[@]}" --go_out="paths=source_relative,plugins=grpc,$wkt,$ours:$src/gen" \
    --grpc-gateway_out="$wkt,$ours:$gopath/src" scheduling/v1/scheduling.proto
# Trap 2: the error-detail types, compiled in (main.go imports them).
protoc "${includes[@]}" --go_out="paths=source_relative,$wkt,$ours:$src/gen" \
    google/rpc/error_details.proto

cp "$here/main.go" "$src/cmd/main.go"
GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS= \
    go build -o "$out/rooms-gateway" rooms-gateway/cmd
echo "built $out/rooms-gateway"
