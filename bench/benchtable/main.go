// Command benchtable runs the benchmarks of DESIGN §12 side by side and
// prints one table: what we measure, our number, the baseline measured in
// the same run, and the ratio, with the machine's CPU and Go version. make
// bench runs it and writes the table to docs/BENCH.md.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// run is one `go test -bench` invocation.
type run struct {
	pkg, bench string
	args       []string
}

// sample is one benchmark result line: its name and every value by unit.
type sample struct {
	name   string
	values map[string]float64
}

var (
	count = flag.Int("count", 3, "runs of each benchmark; the table shows medians")
	out   = flag.String("o", "", "also write the table to this file (Markdown)")
	only  = flag.String("only", "", "run only the benchmarks whose package or name matches this regular expression (the other rows show as not measured)")
)

func main() {
	flag.Parse()
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			fmt.Fprintf(os.Stderr, "benchtable: -only %q is not a regular expression: %v\n", *only, err)
			os.Exit(2)
		}
	}
	start := time.Now()
	var all []sample
	for _, r := range []run{
		{"./test/integration/", "BenchmarkChainThroughput$", nil},
		{"./pkg/policy/", "BenchmarkDecide$", []string{"-benchmem"}},
		{"./pkg/edge/gateway/", "BenchmarkDecideFlow$", []string{"-benchmem"}},
		{"./pkg/ipc/", "BenchmarkIPCStatus$|BenchmarkUnixEcho$", nil},
		{"./pkg/edge/accessgate/", "BenchmarkNewFlowSetup$", []string{"-benchtime", "500x"}},
		{"./pkg/edge/simulator/", "BenchmarkEdgeMemoryPerDevice$", []string{"-benchtime", "300x"}},
		{"./pkg/edge/simulator/", "BenchmarkEdgeRestart/10000$", []string{"-benchtime", "1x", "-timeout", "30m"}},
		{"./pkg/agent/", "BenchmarkSignalToBrowseURL$", nil},
		{"./cmd/agentd/", "BenchmarkAgentdIdleRSS$", []string{"-benchtime", "1x"}},
	} {
		if filter != nil && !filter.MatchString(r.pkg) && !filter.MatchString(r.bench) {
			continue
		}
		fmt.Fprintf(os.Stderr, "benchtable: %s %s\n", r.pkg, r.bench)
		s, err := runBench(r)
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchtable: %s: %v (left out of the table)\n", r.pkg, err)
		}
		all = append(all, s...)
	}
	table := render(all, time.Since(start))
	fmt.Print(table)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
	}
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func runBench(r run) ([]sample, error) {
	args := append([]string{"test", "-run", "^$", "-bench", r.bench, "-count", strconv.Itoa(*count)}, r.args...)
	args = append(args, r.pkg)
	cmd := exec.Command("go", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var out []sample
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s := sample{name: m[1], values: map[string]float64{}}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				s.values[f[i+1]] = v
			}
		}
		out = append(out, s)
	}
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("%v: %s", err, lastLines(stderr.String()+stdout.String(), 5))
	}
	return out, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// median returns the median of unit over the samples named name, and
// whether there was any.
func median(all []sample, name, unit string) (float64, bool) {
	var v []float64
	for _, s := range all {
		if s.name == name {
			if x, ok := s.values[unit]; ok {
				v = append(v, x)
			}
		}
	}
	if len(v) == 0 {
		return 0, false
	}
	slices.Sort(v)
	return v[len(v)/2], true
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// row is one line of the table.
type row struct {
	what, ours, baseline, ratio string
	// target is the target column: the limit and whether it was met,
	// "" for a measure without a target.
	target string
	// missed is set when the measure has a target it did not meet.
	missed bool
}

// target is a limit a measure must stay within: at most limit, or at
// least limit when higherIsBetter.
type target struct {
	limit          float64
	unit           string
	higherIsBetter bool
}

func (t target) String() string {
	op := "≤"
	if t.higherIsBetter {
		op = "≥"
	}
	return op + " " + strconv.FormatFloat(t.limit, 'f', -1, 64) + " " + t.unit
}

// met reports whether v, in the target's unit, is within the target.
func (t target) met(v float64) bool {
	if t.higherIsBetter {
		return v >= t.limit
	}
	return v <= t.limit
}

// mark fills the target column of r, for a measure v (ok: measured).
func (r *row) mark(t target, v float64, ok bool) {
	switch {
	case !ok:
		r.target = t.String() + ": not measured"
	case t.met(v):
		r.target = t.String() + ": met"
	default:
		r.target = t.String() + ": missed"
		r.missed = true
	}
}

// summary is the line after the table: how many targets were met, and
// which were missed, by how much.
func summary(rows []row) string {
	var targets, met int
	var missed, unmeasured []string
	for _, r := range rows {
		switch {
		case r.target == "":
			continue
		case r.missed:
			missed = append(missed, fmt.Sprintf("%s (%s, target %s)", r.what, r.ours, strings.TrimSuffix(r.target, ": missed")))
		case strings.HasSuffix(r.target, ": not measured"):
			unmeasured = append(unmeasured, r.what)
		default:
			met++
		}
		targets++
	}
	s := fmt.Sprintf("Targets: %d of %d met.", met, targets)
	if len(missed) > 0 {
		s += " Missed: " + strings.Join(missed, "; ") + "."
	}
	if len(unmeasured) > 0 {
		s += " Not measured: " + strings.Join(unmeasured, "; ") + "."
	}
	return s
}

func render(all []sample, took time.Duration) string {
	var rows []row
	f := func(v float64, unit string) string { return strconv.FormatFloat(v, 'f', -1, 64) + " " + unit }
	num := func(name, unit string) (float64, bool) { return median(all, name, unit) }
	add := func(what string, ours float64, oursOK bool, oursUnit string, base float64, baseOK bool, baseUnit string, higherIsBetter bool) {
		r := row{what: what, ours: "not measured", baseline: "—", ratio: "—"}
		if oursOK {
			r.ours = f(round(ours), oursUnit)
		}
		if baseOK {
			r.baseline = f(round(base), baseUnit)
		}
		if oursOK && baseOK && base != 0 && ours != 0 {
			if higherIsBetter {
				r.ratio = fmt.Sprintf("%.2f×", ours/base)
			} else {
				r.ratio = fmt.Sprintf("%.2f×", base/ours)
			}
		}
		rows = append(rows, r)
	}
	// addTarget adds a measure that has a target rather than a baseline.
	addTarget := func(what string, ours float64, ok bool, unit string, t target) {
		r := row{what: what, ours: "not measured", baseline: "—", ratio: "—"}
		if ok {
			r.ours = f(round(ours), unit)
		}
		r.mark(t, ours, ok)
		rows = append(rows, r)
	}
	const chain = "BenchmarkChainThroughput/"
	stock, stockOK := num(chain+"stock-netstack-pair/mtu=1280", "MB/s")
	raw, rawOK := num(chain+"raw-loopback-tcp", "MB/s")
	up, upOK := num(chain+"socks5-agent-edge-upstream/mtu=1280", "MB/s")
	down, downOK := num(chain+"upstream-edge-agent-socks5/mtu=1280", "MB/s")
	add("tunnel upload via local proxy vs stock wireguard-go netstack pair (MTU 1280)", up, upOK, "MB/s", stock, stockOK, "MB/s", true)
	add("tunnel download via local proxy vs stock pair (MTU 1280)", down, downOK, "MB/s", stock, stockOK, "MB/s", true)
	add("tunnel upload vs raw loopback TCP", up, upOK, "MB/s", raw, rawOK, "MB/s", true)
	rss, rssOK := num(chain+"socks5-agent-edge-upstream/mtu=1280", "agent-peak-RSS-MB")
	addTarget("agent process peak RSS during the upload", rss, rssOK, "MB", target{limit: 64, unit: "MB"})
	for _, n := range []string{"10", "100", "1000", "10000"} {
		ns, ok := num("BenchmarkDecide/policies="+n, "ns/op")
		allocs, aok := num("BenchmarkDecide/policies="+n, "allocs/op")
		r := row{what: "policy decision, " + n + " policies (ns/op, allocs/op)", ours: "not measured", baseline: "—", ratio: "—"}
		if ok && aok {
			r.ours = fmt.Sprintf("%.0f ns, %.0f allocs", ns, allocs)
		}
		if n == "10000" {
			// Under 1 µs counts only without allocations.
			if ok && aok && allocs > 0 {
				ns = 1e9
			}
			r.mark(target{limit: 1000, unit: "ns, 0 allocs"}, ns, ok && aok)
		}
		rows = append(rows, r)
	}
	for _, n := range []string{"10000"} {
		sub := "BenchmarkDecide/unguarded/policies=" + n
		ns, ok := num(sub, "ns/op")
		add("policy decision, "+n+" policies testing the SNI host first (not indexed)", ns, ok, "ns", 0, false, "", false)
	}
	p50, p50OK := num("BenchmarkIPCStatus", "p50-ns")
	p99, p99OK := num("BenchmarkIPCStatus", "p99-ns")
	e50, e50OK := num("BenchmarkUnixEcho", "p50-ns")
	e99, e99OK := num("BenchmarkUnixEcho", "p99-ns")
	add("IPC status round trip p50 vs raw unix-socket echo", p50/1000, p50OK, "µs", e50/1000, e50OK, "µs", false)
	add("IPC status round trip p99 vs raw unix-socket echo", p99/1000, p99OK, "µs", e99/1000, e99OK, "µs", false)
	const setup = "BenchmarkNewFlowSetup/dial+GET"
	noHook, nhOK := num(setup, "no-hook-µs")
	gw, gwOK := num(setup, "gateway-µs")
	acc, accOK := num(setup, "gateway+access-µs")
	add("new flow (dial + first GET) through the tunnel, Gateway hook vs no hook", gw, gwOK, "µs", noHook, nhOK, "µs", false)
	add("new flow (dial + first GET), Gateway + Access gate vs no hook", acc, accOK, "µs", noHook, nhOK, "µs", false)
	sig50, s50OK := num("BenchmarkSignalToBrowseURL", "p50-ns")
	sig99, s99OK := num("BenchmarkSignalToBrowseURL", "p99-ns")
	add("edge session_expired → browse_to_url event, p50", sig50/1e6, s50OK, "ms", 0, false, "", false)
	addTarget("edge session_expired → browse_to_url event, p99", sig99/1e6, s99OK, "ms", target{limit: 5, unit: "ms"})
	idle, idleOK := num("BenchmarkAgentdIdleRSS", "RSS-MB")
	addTarget("agentd RSS idle", idle, idleOK, "MB", target{limit: 15, unit: "MB"})
	mem, memOK := num("BenchmarkEdgeMemoryPerDevice", "heap-bytes/device")
	add("edge memory per registered device", mem/1024, memOK, "KiB", 0, false, "", false)
	restart, restartOK := num("BenchmarkEdgeRestart/10000", "ns/op")
	addTarget("edge restart with 10,000 devices", restart/1e9, restartOK, "s", target{limit: 1, unit: "s"})
	regs, regsOK := num("BenchmarkEdgeRestart/10000", "registrations/s")
	addTarget("registrations per second, up to 10,000 devices", regs, regsOK, "/s", target{limit: 2000, unit: "/s", higherIsBetter: true})

	var b strings.Builder
	runs := fmt.Sprintf("medians of %d runs", *count)
	if *count == 1 {
		runs = "one run"
	}
	fmt.Fprintf(&b, "# Benchmarks\n\n`make bench` on %s, %d CPUs, %s, %s; %s, each baseline measured in the same run. The machine may be shared: compare ratios, not absolute numbers. (%v)\n\n",
		cpuModel(), runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format("2006-01-02"), runs, took.Round(time.Second))
	if *only != "" {
		fmt.Fprintf(&b, "Only the benchmarks matching %q ran.\n\n", *only)
	}
	b.WriteString("| measure | ours | baseline | ratio (>1 is ours better) | target |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		t := r.target
		if t == "" {
			t = "—"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.what, r.ours, r.baseline, r.ratio, t)
	}
	fmt.Fprintf(&b, "\n%s\n", summary(rows))
	return b.String()
}

func round(v float64) float64 {
	switch {
	case v >= 100:
		return float64(int64(v + 0.5))
	case v >= 1:
		return float64(int64(v*10+0.5)) / 10
	default:
		return float64(int64(v*1000+0.5)) / 1000
	}
}
