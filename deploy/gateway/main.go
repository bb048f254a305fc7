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

	"github.com/grpc-ecosystem/grpc-gateway/runtime"
	"google.golang.org/grpc"

	// The error-detail types (ErrorInfo, BadRequest) must be linked in: the gateway
	// prints a status's details by their registered type, and an unknown one turns
	// every error into HTTP 500 "failed to marshal error message".
	_ "rooms-gateway/gen/google/rpc"
	scheduling "rooms-gateway/gen/scheduling/v1"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "HTTP address to serve on")
	upstream := flag.String("upstream", "127.0.0.1:50051", "the scheduling service's gRPC address")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{}))
	opts := []grpc.DialOption{grpc.WithInsecure()}
	if err := scheduling.RegisterSchedulingServiceHandlerFromEndpoint(ctx, mux, *upstream, opts); err != nil {
		log.Fatalf("register: %v", err)
	}

	server := &http.Server{Addr: *listen, Handler: mux}
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
