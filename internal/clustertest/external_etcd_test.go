//go:build linux

package clustertest

// Brokers that keep their metadata in an external etcd cluster
// (etcd.endpoints) instead of embedding members: the etcd here is the
// `etcd` binary of Debian's etcd-server package, three members run as
// processes beside three `samsa serve` processes.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdMember is one member of an external etcd cluster, run as a process.
type etcdMember struct {
	t         testing.TB
	name      string
	clientURL string
	logs      *os.File
	cmd       *exec.Cmd
	exited    chan struct{}
}

// etcdBinary returns the path of Debian's etcd server binary, or skips
// the test without it (fails it under CI=true, which must install it).
func etcdBinary(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("etcd not found; CI must install it (apt-get install etcd-server)")
		}
		t.Skip("etcd not found; install with apt-get install etcd-server")
	}
	return path
}

// startEtcd starts an n-member etcd cluster on free loopback ports, each
// member with its data under t.TempDir(), and waits until every member
// serves and knows the leader. The members are killed when the test ends;
// their logs are printed if it failed.
func startEtcd(t *testing.T, bin string, n int) []*etcdMember {
	t.Helper()
	dir := t.TempDir()
	peers := make([]string, n)
	clients := make([]string, n)
	var initial []string
	for i := range n {
		peers[i] = "http://" + freeAddr(t)
		clients[i] = "http://" + freeAddr(t)
		initial = append(initial, fmt.Sprintf("e%d=%s", i+1, peers[i]))
	}
	// The process must not pick up settings meant for some other etcd.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	var members []*etcdMember
	for i := range n {
		m := &etcdMember{t: t, name: fmt.Sprintf("e%d", i+1), clientURL: clients[i], exited: make(chan struct{})}
		logs, err := os.Create(filepath.Join(dir, m.name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		m.logs = logs
		m.cmd = exec.Command(bin,
			"--name", m.name,
			"--data-dir", filepath.Join(dir, m.name),
			"--listen-peer-urls", peers[i],
			"--initial-advertise-peer-urls", peers[i],
			"--listen-client-urls", clients[i],
			"--advertise-client-urls", clients[i],
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", "samsa-external-etcd-test",
			"--initial-cluster-state", "new",
			"--logger", "zap",
			"--log-level", "warn",
		)
		m.cmd.Env = env
		m.cmd.Stdout, m.cmd.Stderr = logs, logs
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := m.cmd.Start(); err != nil {
			t.Fatalf("starting etcd member %s: %v", m.name, err)
		}
		go func() {
			m.cmd.Wait()
			close(m.exited)
		}()
		t.Cleanup(m.cleanup)
		members = append(members, m)
	}
	cli := etcdClient(t, members)
	deadline := time.Now().Add(time.Minute)
	for _, m := range members {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := cli.Status(ctx, m.clientURL)
			cancel()
			if err == nil && st.Leader != 0 {
				break
			}
			select {
			case <-m.exited:
				t.Fatalf("etcd member %s exited during startup: %v", m.name, m.cmd.ProcessState)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("etcd member %s not serving with a leader after a minute: %v", m.name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return members
}

func (m *etcdMember) cleanup() {
	select {
	case <-m.exited:
	default:
		m.cmd.Process.Signal(syscall.SIGKILL)
		<-m.exited
	}
	if m.t.Failed() {
		data, _ := os.ReadFile(m.logs.Name())
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		m.t.Logf("etcd member %s log (tail):\n%s", m.name, data)
	}
	m.logs.Close()
}

// kill sends SIGKILL and waits for the member to be gone.
func (m *etcdMember) kill() {
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		m.t.Fatalf("SIGKILL to etcd member %s: %v", m.name, err)
	}
	<-m.exited
}

func clientURLs(members []*etcdMember) []string {
	var out []string
	for _, m := range members {
		out = append(out, m.clientURL)
	}
	return out
}

// etcdClient connects to the members; it is closed when the test ends.
func etcdClient(t *testing.T, members []*etcdMember) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: clientURLs(members), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// etcdLeader waits until one of members is etcd's raft leader and
// returns it.
func etcdLeader(t *testing.T, cli *clientv3.Client, members []*etcdMember) *etcdMember {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range members {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := cli.Status(ctx, m.clientURL)
			cancel()
			if err == nil && st.Header.MemberId == st.Leader {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no etcd member leads after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The metadata a test reads back from etcd, as internal/cluster's doc.go
// lays it out under the default prefix /samsa.
type (
	etcdBroker struct {
		NodeID    int32 `json:"nodeId"`
		Endpoints []struct {
			Host string `json:"host"`
			Port int    `json:"port"`
		} `json:"endpoints"`
	}
	etcdPartition struct {
		Replicas    []int32 `json:"replicas"`
		ISR         []int32 `json:"isr"`
		Leader      int32   `json:"leader"`
		LeaderEpoch int32   `json:"leaderEpoch"`
	}
)

// etcdGet reads one key under /samsa; it fails the test if it is absent.
func etcdGet(t *testing.T, cli *clientv3.Client, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/samsa/"+key)
	if err != nil {
		t.Fatalf("etcd get /samsa/%s: %v", key, err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("etcd has no /samsa/%s", key)
	}
	return resp.Kvs[0].Value
}

// etcdPartitions reads the state of every partition of a topic from etcd.
func etcdPartitions(t *testing.T, cli *clientv3.Client, topic string, partitions int32) []etcdPartition {
	t.Helper()
	var rec struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(etcdGet(t, cli, "topics/"+topic), &rec); err != nil || rec.ID == "" {
		t.Fatalf("/samsa/topics/%s: %v (id %q)", topic, err, rec.ID)
	}
	out := make([]etcdPartition, partitions)
	for p := range partitions {
		key := fmt.Sprintf("partitions/%s/%d", rec.ID, p)
		if err := json.Unmarshal(etcdGet(t, cli, key), &out[p]); err != nil {
			t.Fatalf("/samsa/%s: %v", key, err)
		}
	}
	return out
}

// checkEtcdMetadata checks that the cluster's metadata is in the external
// etcd: the cluster id, every broker's registration, the controller
// election and the topic's partitions as the brokers report them.
func checkEtcdMetadata(t *testing.T, cli *clientv3.Client, c *Cluster, topic string, partitions int32) {
	t.Helper()
	id := string(etcdGet(t, cli, "cluster_id"))
	md, err := metadataOf(c.Brokers[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	if id == "" || md.Cluster != id {
		t.Errorf("/samsa/cluster_id is %q, the brokers report cluster id %q", id, md.Cluster)
	}
	for _, b := range c.Brokers {
		var reg etcdBroker
		if err := json.Unmarshal(etcdGet(t, cli, "brokers/"+strconv.Itoa(int(b.ID))), &reg); err != nil {
			t.Fatalf("registration of broker %d: %v", b.ID, err)
		}
		if reg.NodeID != b.ID || len(reg.Endpoints) == 0 ||
			fmt.Sprintf("%s:%d", reg.Endpoints[0].Host, reg.Endpoints[0].Port) != b.Addr {
			t.Errorf("registration of broker %d in etcd: %+v, want its listener %s", b.ID, reg, b.Addr)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	candidates, err := cli.Get(ctx, "/samsa/controller/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		t.Fatal(err)
	}
	if len(candidates.Kvs) == 0 {
		t.Error("no controller candidate under /samsa/controller/")
	} else if ctrl := string(candidates.Kvs[0].Value); ctrl != strconv.Itoa(int(md.Controller)) {
		t.Errorf("controller in etcd is broker %s, the brokers report %d", ctrl, md.Controller)
	}
	states := etcdPartitions(t, cli, topic, partitions)
	reported := md.Topics[topic].Partitions
	for p, st := range states {
		if len(st.Replicas) != 3 || len(st.ISR) < 2 {
			t.Errorf("%s-%d in etcd: %+v, want 3 replicas and at least 2 in the ISR", topic, p, st)
		}
		if r, ok := reported[int32(p)]; ok && (r.Leader != st.Leader || !slices.Equal(r.Replicas, st.Replicas)) {
			t.Errorf("%s-%d: etcd says leader %d replicas %v, the brokers report leader %d replicas %v",
				topic, p, st.Leader, st.Replicas, r.Leader, r.Replicas)
		}
	}
}

// Three brokers keep their metadata in a three-member etcd cluster of
// their own (Debian's etcd-server) and embed no member. A replicated
// topic (RF=3, min.insync.replicas=2) takes acks=all writes, also after
// etcd loses its raft leader to SIGKILL; a broker killed with SIGKILL
// loses its leaderships to another replica through the remaining two
// etcd members; nothing acknowledged is lost.
func TestExternalEtcd(t *testing.T) {
	samsa := built(t)
	members := startEtcd(t, etcdBinary(t), 3)
	cli := etcdClient(t, members)
	c := StartWith(t, samsa, 3, Options{Props: clusterProps, EtcdEndpoints: clientURLs(members)})
	for _, b := range c.Brokers {
		if _, err := os.Stat(filepath.Join(b.Data, "etcd")); err == nil {
			t.Errorf("broker %d has an embedded etcd member's data directory", b.ID)
		}
	}

	const topic, partitions = "external", 3
	createTopic(t, c, topic, partitions)
	load := StartLoad(t, c.Seeds(), topic, partitions)
	load.WaitAcked(500, 30*time.Second)
	checkEtcdMetadata(t, cli, c, topic, partitions)

	// Lose etcd's leader: two members remain a quorum.
	lost := etcdLeader(t, cli, members)
	at := time.Now()
	lost.kill()
	load.WaitAcked(500, time.Minute)
	t.Logf("etcd member %s (the raft leader) killed; every partition took writes again after %v", lost.name, load.Unavailable(at))
	live := slices.DeleteFunc(slices.Clone(members), func(m *etcdMember) bool { return m == lost })
	leader := etcdLeader(t, cli, live)
	t.Logf("etcd member %s leads now", leader.name)

	// A leader change needs etcd: the controller sees the registration of
	// the killed broker expire and writes the new leader there.
	b := leaderOf(t, c, topic, 0)
	before := etcdPartitions(t, cli, topic, partitions)[0]
	b.Kill()
	var other *Broker
	for _, o := range c.Brokers {
		if o != b {
			other = o
			break
		}
	}
	c.WaitPartitions(other.Addr, topic, fmt.Sprintf("a leader of %s-0 other than broker %d", topic, b.ID), time.Minute,
		func(ps kadm.PartitionDetails) bool { return ps[0].Leader > 0 && ps[0].Leader != b.ID })
	after := etcdPartitions(t, cli, topic, partitions)[0]
	if after.Leader == b.ID || after.LeaderEpoch <= before.LeaderEpoch {
		t.Errorf("%s-0 in etcd after killing its leader %d: %+v (before: %+v)", topic, b.ID, after, before)
	}
	t.Logf("broker %d killed: %s-0 led by %d in leader epoch %d (was %d)", b.ID, topic, after.Leader, after.LeaderEpoch, before.LeaderEpoch)
	load.WaitAcked(500, time.Minute)
	b.Restart()
	c.WaitInSync(topic, time.Minute)
	load.WaitAcked(200, time.Minute)
	load.Stop(30 * time.Second)
	verify(t, c, load, topic, partitions)
}
