// rooms-gateway: HTTP/JSON in front of scheduling.v1.SchedulingService, built by
// build.sh from Debian's grpc-gateway (v1) packages. A reference gateway for the
// project's own checks (make e2e-gateway) and for adopters; see docs/http.md.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/golang/protobuf/proto"
	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	// The error-detail types (ErrorInfo, BadRequest) must be linked in: the gateway
	// prints a status's details by their registered type, and an unknown one turns
	// every error into HTTP 500 "failed to marshal error message" (utf8Paths uses
	// ErrorInfo itself).
	errdetails "rooms-gateway/gen/google/rpc"
	scheduling "rooms-gateway/gen/scheduling/v1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP address to serve on")
	upstream := flag.String("upstream", "127.0.0.1:50051", "the scheduling service's gRPC address")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, rawBody{&runtime.JSONPb{}}),
		runtime.WithForwardResponseOption(httpBodyHeaders),
	)
	opts := []grpc.DialOption{grpc.WithInsecure()}
	if err := scheduling.RegisterSchedulingServiceHandlerFromEndpoint(ctx, mux, *upstream, opts); err != nil {
		log.Fatalf("register: %v", err)
	}

	server := &http.Server{Addr: *listen, Handler: utf8Paths(mux)}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		server.Shutdown(shutdown)
	}()
	log.Printf("serving HTTP on %s for gRPC %s", *listen, *upstream)
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Printf("serve: %v", err)
		os.Exit(1)
	}
}

// rawBody prints a google.api.HttpBody as its bytes. This grpc-gateway (1.6.4) predates
// HttpBody support and would print it as JSON with base64 data; everything else,
// errors included, goes to JSONPb unchanged.
type rawBody struct{ *runtime.JSONPb }

func (m rawBody) Marshal(v interface{}) ([]byte, error) {
	if body, ok := v.(*httpbody.HttpBody); ok {
		return body.GetData(), nil
	}
	return m.JSONPb.Marshal(v)
}

// httpBodyHeaders runs before the body is written. For an HttpBody it turns the
// service's header metadata into the HTTP caching headers a calendar client reads
// (the gateway would send them only as Grpc-Metadata-*), and makes `x-http-code: 304`
// a real 304 Not Modified, after which Go's server sends no body.
func httpBodyHeaders(ctx context.Context, w http.ResponseWriter, resp proto.Message) error {
	body, ok := resp.(*httpbody.HttpBody)
	if !ok {
		return nil
	}
	if body.GetContentType() != "" {
		w.Header().Set("Content-Type", body.GetContentType())
	}
	md, _ := runtime.ServerMetadataFromContext(ctx)
	for key, header := range map[string]string{"etag": "ETag", "cache-control": "Cache-Control"} {
		if v := md.HeaderMD.Get(key); len(v) > 0 {
			w.Header().Set(header, v[0])
		}
		w.Header().Del(runtime.MetadataHeaderPrefix + key)
	}
	w.Header().Del(runtime.MetadataHeaderPrefix + "x-http-code")
	// Only 304: no other status is in the service's contract for this header.
	if v := md.HeaderMD.Get("x-http-code"); len(v) > 0 && v[0] == "304" {
		w.WriteHeader(http.StatusNotModified)
	}
	return nil
}

// utf8Paths answers a path that is not UTF-8 once percent-decoded (say /v1/rooms/%ff)
// as the service answers any other malformed input, 400 INVALID_ARGUMENT: grpc-go
// refuses to send a proto3 string that is not UTF-8, and the gateway would answer
// HTTP 500 for what is the caller's mistake.
func utf8Paths(mux *runtime.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !utf8.ValidString(r.URL.Path) {
			_, out := runtime.MarshalerForRequest(mux, r)
			st, _ := status.New(codes.InvalidArgument, "the URL path is not UTF-8").WithDetails(
				&errdetails.ErrorInfo{Reason: "INVALID_ARGUMENT", Domain: "scheduling.v1"})
			runtime.HTTPError(r.Context(), mux, out, w, r, st.Err())
			return
		}
		mux.ServeHTTP(w, r)
	})
}
