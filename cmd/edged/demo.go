package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ztagent/ztagent/pkg/tfconfig"
)

// demoUpstreams serves a small HTTP page on every TCP upstream target of the
// virtual network that is on loopback and free, so that `make run` has a
// wiki and a git server to reach through the tunnel without anything else
// installed. Targets already in use are left alone.
type demoUpstreams struct {
	servers []*http.Server
	wg      sync.WaitGroup
}

func startDemoUpstreams(simFile string, log *zap.Logger) (*demoUpstreams, error) {
	sim, diags := tfconfig.LoadSim(simFile)
	if diags.HasErrors() {
		return nil, errors.New(diags.Errors().String())
	}
	names := map[string][]string{} // virtual address → record names
	for _, r := range sim.Network.Records {
		for _, a := range r.Addresses {
			names[a.String()] = append(names[a.String()], r.Name)
		}
	}
	d := &demoUpstreams{}
	for _, u := range sim.Network.Upstreams {
		if u.Protocol != "" && u.Protocol != "tcp" {
			continue
		}
		host, _, err := net.SplitHostPort(u.Target)
		if err != nil || !(host == "127.0.0.1" || host == "::1" || host == "localhost") {
			continue
		}
		ln, err := net.Listen("tcp", u.Target)
		if err != nil {
			log.Info("demo upstream not started: the target is in use", zap.String("target", u.Target))
			continue
		}
		name := strings.Join(names[u.Address.Addr().String()], ", ")
		if name == "" {
			name = u.Address.String()
		}
		srv := &http.Server{
			ReadHeaderTimeout: 10 * time.Second,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				fmt.Fprintf(w, "Hello from %s (a demo upstream of edged at %s behind %s). You asked for %s %s.\n", name, u.Target, u.Address, r.Method, r.URL.Path)
			}),
		}
		d.servers = append(d.servers, srv)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			_ = srv.Serve(ln)
		}()
		log.Info("demo upstream serving", zap.String("name", name), zap.String("target", u.Target))
	}
	return d, nil
}

func (d *demoUpstreams) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range d.servers {
		if s.Shutdown(ctx) != nil {
			_ = s.Close()
		}
	}
	d.wg.Wait()
}
