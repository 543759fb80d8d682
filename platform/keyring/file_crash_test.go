package keyring

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of the crash child: the store directory and the first sequence
// number to write.
const (
	crashDirEnv   = "ZTAGENT_TEST_CRASH_DIR"
	crashStartEnv = "ZTAGENT_TEST_CRASH_START"
)

// crashValue returns a self-checking value for seq: its sequence number, a
// body whose length varies from 1 to 64 KiB (so writes span many pages), and
// a SHA-256 of both. A torn or mixed value fails the check.
func crashValue(seq int) []byte {
	r := rand.New(rand.NewPCG(uint64(seq), 7))
	body := make([]byte, 1+r.IntN(64*1024))
	for i := range body {
		body[i] = 'a' + byte(r.IntN(26))
	}
	head := fmt.Appendf(nil, "seq=%d\n%s\n", seq, body)
	sum := sha256.Sum256(head)
	return append(head, "sha256="+hex.EncodeToString(sum[:])...)
}

// parseCrashValue returns the sequence number of a value, checking its hash.
func parseCrashValue(v []byte) (int, error) {
	i := bytes.LastIndex(v, []byte("\nsha256="))
	if i < 0 {
		return 0, fmt.Errorf("no checksum in %d bytes", len(v))
	}
	head, sum := v[:i+1], string(v[i+len("\nsha256="):])
	want := sha256.Sum256(head)
	if sum != hex.EncodeToString(want[:]) {
		return 0, fmt.Errorf("checksum mismatch in %d bytes", len(v))
	}
	line, _, _ := bytes.Cut(head, []byte("\n"))
	return strconv.Atoi(strings.TrimPrefix(string(line), "seq="))
}

// runCrashChild is the child's main: it rewrites the registration forever,
// printing each sequence number once its Set has returned, until killed.
func runCrashChild() bool {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		return false
	}
	seq, err := strconv.Atoi(os.Getenv(crashStartEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad start:", err)
		os.Exit(2)
	}
	s, err := OpenFile(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for ; ; seq++ {
		if err := s.Set(context.Background(), "registration", crashValue(seq)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(w, seq)
		w.Flush()
	}
}

// TestFileStoreSurvivesSIGKILL kills a writer at random points of its write
// loop, at least 200 times, and checks after each kill that the store holds
// exactly the last acknowledged value or the one being written (REL1).
func TestFileStoreSurvivesSIGKILL(t *testing.T) {
	kills := 200
	if testing.Short() {
		kills = 20
	}
	dir := filepath.Join(t.TempDir(), "state")
	s, err := OpenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Kill points fall within a few of this machine's writes, as timed
	// here: a fixed window would land only before the first write on a
	// busy machine, or only between writes on a fast one.
	var write time.Duration
	for i := range 5 {
		began := time.Now()
		if err := s.Set(context.Background(), "registration", crashValue(0)); err != nil {
			t.Fatal(err)
		}
		if i == 0 || time.Since(began) > write {
			write = time.Since(began)
		}
	}
	window := 4 * write
	t.Logf("a write with its fsyncs took up to %v here; kill points within %v", write, window)
	s.Close() // the child takes the directory lock
	acked := 0
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	midWrite, tornWrites := 0, 0
	for i := 0; i < kills; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStartEnv+"="+strconv.Itoa(acked+1))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random moment within window of the child's first
		// acknowledged write, so the kills land before, inside and between
		// writes. The delay injects the fault; nothing waits on it to
		// synchronise.
		sc := bufio.NewScanner(out)
		if !sc.Scan() {
			_ = cmd.Wait()
			t.Fatalf("kill %d: child wrote nothing: %s", i, stderr.String())
		}
		if acked, err = strconv.Atoi(sc.Text()); err != nil {
			t.Fatalf("child printed %q", sc.Text())
		}
		killer := time.AfterFunc(time.Duration(rng.Int64N(int64(window))), func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		})
		for sc.Scan() { // acknowledgements up to the kill
			acked, _ = strconv.Atoi(sc.Text())
		}
		killer.Stop()
		_ = cmd.Process.Signal(syscall.SIGKILL)
		werr := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: child ended on its own (%v): %s", i, werr, stderr.String())
		}

		if entries, err := os.ReadDir(dir); err == nil {
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), tempPrefix) {
					tornWrites++ // killed between creating and renaming a temporary file
					break
				}
			}
		}
		fresh, err := OpenFile(dir)
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", i, err)
		}
		v, err := fresh.Get(context.Background(), "registration")
		fresh.Close()
		if err != nil {
			t.Fatalf("kill %d: load after SIGKILL: %v", i, err)
		}
		seq, err := parseCrashValue(v)
		if err != nil {
			t.Fatalf("kill %d: broken value after SIGKILL: %v", i, err)
		}
		switch seq {
		case acked:
		case acked + 1:
			midWrite++ // the write in flight had reached its rename
			acked = seq
		default:
			t.Fatalf("kill %d: store holds seq %d, want %d (old) or %d (new)", i, seq, acked, acked+1)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 { // the registration and the lock file
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v after reopening; stale temporary files were not removed", names)
	}
	if !testing.Short() && tornWrites == 0 {
		t.Fatalf("none of %d kills landed inside a write; the test did not exercise a torn write", kills)
	}
	t.Logf("%d kills: %d inside a write (temporary file left), %d after a rename but before its acknowledgement; final seq %d",
		kills, tornWrites, midWrite, acked)
}
