package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The helpers of the command tests: each test runs the samsa command line
// in-process against a broker from internal/brokertest. The tests of each
// command are in its own file (topics_test.go, produce_test.go, ...).

// cliTimeout bounds one command in a test, so that a hang fails the test
// with a message instead of running into go test's global timeout.
const cliTimeout = 60 * time.Second

// runCLI runs the samsa command line in-process with args and stdin, the
// way main assembles it, and returns what it wrote.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// mustRun runs the command line and fails the test if it fails.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, stdin, args...)
	if err != nil {
		t.Fatalf("samsa %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// mustFail runs the command line and fails the test unless it fails with
// an error containing want.
func mustFail(t *testing.T, want string, args ...string) {
	t.Helper()
	_, _, err := runCLI(t, "", args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("samsa %s: error %v, want one containing %q", strings.Join(args, " "), err, want)
	}
}

// mustFailUsage is mustFail for a usage error: exit status 2.
func mustFailUsage(t *testing.T, want string, args ...string) {
	t.Helper()
	_, _, err := runCLI(t, "", args...)
	if err == nil || !strings.Contains(err.Error(), want) || exitCode(err) != 2 {
		t.Errorf("samsa %s: error %v (exit status %d), want a usage error (2) containing %q", strings.Join(args, " "), err, exitCode(err), want)
	}
}

func TestExitCodes(t *testing.T) {
	bs := "--bootstrap-server=127.0.0.1:1"
	for _, args := range [][]string{
		{"topics", "--frobnicate", bs},
		{"topics", "list", "extra-arg", bs},
		{"groups", "--list", "--partitions", "3", bs},
		{"consume", "--max-messages", "many", bs},
	} {
		_, _, err := runCLI(t, "", args...)
		if exitCode(err) != 2 {
			t.Errorf("samsa %s: exit status %d (%v), want 2", strings.Join(args, " "), exitCode(err), err)
		}
	}
	if exitCode(nil) != 0 {
		t.Errorf("exitCode(nil) = %d", exitCode(nil))
	}
}

func TestBootstrapFromEnvironment(t *testing.T) {
	t.Setenv(bootstrapEnv, "10.0.0.1:9093")
	cmd := topicsCommand()
	if got := cmd.Flags().Lookup("bootstrap-server").DefValue; got != "10.0.0.1:9093" {
		t.Errorf("--bootstrap-server default %q, want $%s", got, bootstrapEnv)
	}
	t.Setenv(bootstrapEnv, "")
	if got := topicsCommand().Flags().Lookup("bootstrap-server").DefValue; got != defaultBootstrap {
		t.Errorf("--bootstrap-server default %q without $%s", got, bootstrapEnv)
	}
}

func TestProgressLine(t *testing.T) {
	defer func(d, i time.Duration) { progressDelay, progressInterval = d, i }(progressDelay, progressInterval)
	progressDelay, progressInterval = 10*time.Millisecond, 10*time.Millisecond
	var buf bytes.Buffer
	w := &lockedWriter{w: &buf}
	p := startProgress(w, func() string { return "waiting for the cluster: testing" })
	time.Sleep(100 * time.Millisecond)
	p.stop()
	got := buf.String()
	// An unchanged status is printed once.
	if strings.Count(got, "waiting for the cluster: testing") != 1 || !strings.HasPrefix(got, "samsa: ") {
		t.Errorf("progress output %q", got)
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, c := range []string{"topics", "produce", "consume", "groups", "configs"} {
		out := mustRun(t, "", c, "--help")
		if !strings.Contains(out, "Examples:") || !strings.Contains(out, "--bootstrap-server") || !strings.Contains(out, "--command-config") {
			t.Errorf("samsa %s --help lacks examples or connection flags:\n%s", c, out)
		}
	}
}
