package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ztagent/ztagent/internal/termsafe"
	"github.com/ztagent/ztagent/pkg/control"
)

func (a *app) whyCmd() *cobra.Command {
	var proto string
	cmd := &cobra.Command{
		Use:   "why HOST:PORT|URL",
		Short: "Show how the edge would decide a new connection from this device",
		Long: `why asks the edge how it would decide a new connection from this device to a
destination, policy by policy. The destination is HOST:PORT
(wiki.acme.internal:80, [fd00::10]:443) or a URL (http://wiki.acme.internal/
means port 80, https:// port 443; a port in the URL wins).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if proto != "tcp" && proto != "udp" {
				return usageError{fmt.Errorf("--proto %q: use tcp or udp", proto)}
			}
			dst, err := whyDestination(args[0])
			if err != nil {
				return usageError{err}
			}
			raw, err := a.ipc().Explain(cmd.Context(), dst, proto)
			if err != nil {
				return err
			}
			if a.json {
				_, err := a.stdout.Write(append(raw, '\n'))
				return err
			}
			return a.printExplanation(raw)
		},
	}
	cmd.Flags().StringVar(&proto, "proto", "tcp", "tcp or udp")
	return cmd
}

// defaultPorts are the ports of the URL schemes why accepts.
var defaultPorts = map[string]string{"http": "80", "https": "443"}

// whyDestination turns why's argument, HOST:PORT or an http(s) URL, into
// the HOST:PORT the edge explains. People paste URLs from the browser, so
// a URL is read as the connection the browser would make.
func whyDestination(arg string) (string, error) {
	if strings.Contains(arg, "://") {
		u, err := url.Parse(arg)
		if err != nil {
			return "", fmt.Errorf("%q is not a URL (%v); give HOST:PORT or a URL such as http://wiki.acme.internal/", arg, err)
		}
		def, ok := defaultPorts[strings.ToLower(u.Scheme)]
		if !ok {
			return "", fmt.Errorf("%q: why understands http:// and https:// URLs only; for another service give HOST:PORT, e.g. git.acme.internal:22", arg)
		}
		if u.Hostname() == "" {
			return "", fmt.Errorf("%q has no host; give a URL such as http://wiki.acme.internal/ or HOST:PORT", arg)
		}
		port := u.Port()
		if port == "" {
			port = def
		}
		if err := checkPort(arg, port); err != nil {
			return "", err
		}
		return net.JoinHostPort(u.Hostname(), port), nil
	}
	host, port, err := net.SplitHostPort(arg)
	if err != nil {
		if h, ok := portless(arg); ok {
			return "", fmt.Errorf("%q has no port: add one (%s:80) or give a URL (http://%s/)", arg, h, h)
		}
		return "", fmt.Errorf("%q is not HOST:PORT (%v); write e.g. wiki.acme.internal:80 or http://wiki.acme.internal/", arg, err)
	}
	if host == "" {
		return "", fmt.Errorf("%q has no host; write e.g. wiki.acme.internal:80", arg)
	}
	if err := checkPort(arg, port); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

// portless reports whether arg is a host without a port, and returns it
// as it is written before a port: a name, an IPv4 address, or an IPv6
// address in brackets.
func portless(arg string) (string, bool) {
	switch {
	case !strings.Contains(arg, ":"):
		return arg, true
	case strings.HasPrefix(arg, "[") && strings.HasSuffix(arg, "]"):
		return arg, true
	case !strings.HasPrefix(arg, "[") && net.ParseIP(arg) != nil:
		return "[" + arg + "]", true
	}
	return "", false
}

func checkPort(arg, port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port %q is not a number from 1 to 65535", arg, port)
	}
	return nil
}

// printExplanation prints the edge's trace for people, reading only the
// fields it knows and falling back to the JSON.
func (a *app) printExplanation(raw json.RawMessage) error {
	var ex control.Explanation
	if json.Unmarshal(raw, &ex) != nil || len(ex.Stages) == 0 {
		_, err := a.stdout.Write(append(raw, '\n'))
		return err
	}
	// The trace is the edge's, passed through agentd: every field is
	// outside text.
	l := termsafe.Line
	fmt.Fprintf(a.stdout, "%s as %s, signed in %s ago\n", l(ex.Dst), l(ex.User), l(ex.SessionAge))
	for _, st := range ex.Stages {
		fmt.Fprintf(a.stdout, "%s  %s\n", l(strings.ToUpper(st.Filter)), l(st.Flow))
		if st.Note != "" {
			fmt.Fprintf(a.stdout, "  (%s)\n", l(st.Note))
		}
		for _, s := range st.Trace {
			line := "  " + l(s.Name) + ": " + l(s.Outcome)
			if s.Session != "" {
				line += " (" + l(s.Session) + ")"
			}
			if len(s.Unsimulated) > 0 {
				line += " (not simulated, so never matched: " + l(strings.Join(s.Unsimulated, ", ")) + ")"
			}
			fmt.Fprintln(a.stdout, line)
		}
		fmt.Fprintf(a.stdout, "  → %s%s\n", l(st.Action), decidedBy(st.PolicyName, st.Reason))
	}
	fmt.Fprintf(a.stdout, "Decision: %s%s\n", l(ex.Action), decidedBy(ex.PolicyName, ex.Reason))
	return nil
}

func decidedBy(policy, reason string) string {
	s := ""
	if policy != "" {
		s += fmt.Sprintf(" by %q", policy)
	}
	if reason != "" {
		s += ": " + termsafe.Line(reason)
	}
	return s
}
