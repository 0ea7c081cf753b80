package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Voter is one entry of controller.quorum.voters (Kafka's KRaft syntax,
// id@host:port): a broker that embeds an etcd member, and the address of
// that member's peer URL.
type Voter struct {
	ID   int32
	Host string
	Port int
}

// PeerURL is the voter's etcd peer URL.
func (v Voter) PeerURL() string {
	return "http://" + net.JoinHostPort(v.Host, strconv.Itoa(v.Port))
}

// ClientURL is the voter's etcd client URL: the peer port plus offset.
func (v Voter) ClientURL(offset int) string {
	return "http://" + net.JoinHostPort(v.Host, strconv.Itoa(v.Port+offset))
}

func (v Voter) memberName() string { return memberName(v.ID) }

func memberName(id int32) string { return "samsa-" + strconv.Itoa(int(id)) }

// ParseVoters parses controller.quorum.voters, e.g.
// "1@127.0.0.1:29091,2@127.0.0.1:29092,3@127.0.0.1:29093".
func ParseVoters(s string) ([]Voter, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []Voter
	ids := map[int32]bool{}
	addrs := map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		idStr, addr, ok := strings.Cut(entry, "@")
		if !ok {
			return nil, fmt.Errorf("controller.quorum.voters: %q is not id@host:port", entry)
		}
		id, err := strconv.ParseInt(idStr, 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("controller.quorum.voters: %q: bad node id %q", entry, idStr)
		}
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("controller.quorum.voters: %q: %v", entry, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("controller.quorum.voters: %q: bad port %q", entry, portStr)
		}
		if host == "" {
			return nil, fmt.Errorf("controller.quorum.voters: %q: a voter needs a host", entry)
		}
		if ids[int32(id)] {
			return nil, fmt.Errorf("controller.quorum.voters: node id %d is listed twice", id)
		}
		if addrs[addr] {
			return nil, fmt.Errorf("controller.quorum.voters: %s is listed twice", addr)
		}
		ids[int32(id)], addrs[addr] = true, true
		out = append(out, Voter{ID: int32(id), Host: host, Port: port})
	}
	return out, nil
}

// DefaultClientPortOffset is the default of etcd.client.port.offset: a
// voter's member serves etcd clients on its peer port plus this, so every
// broker can derive the client URLs from controller.quorum.voters alone.
const DefaultClientPortOffset = 1000

// EtcdConfig says how a broker reaches the metadata store. Exactly one of
// three modes applies:
//
//   - Endpoints set (etcd.endpoints): the broker is a client of an external
//     etcd cluster and embeds nothing.
//   - Voters set (controller.quorum.voters) and NodeID among them: the
//     broker embeds one member of the static voter set and is a client of
//     all voters.
//   - Voters set, NodeID not among them: the broker is a client of the
//     voters.
//   - neither: a lone broker embeds a single-member etcd on loopback ports
//     the system picks, with its data under DataDir.
type EtcdConfig struct {
	NodeID    int32
	Voters    []Voter
	Endpoints []string
	// DataDir holds an embedded member's data: <first log dir>/etcd.
	DataDir string
	// ClientPortOffset is etcd.client.port.offset; 0 means
	// DefaultClientPortOffset.
	ClientPortOffset int
	// ClusterToken is etcd's initial-cluster-token; members of different
	// clusters that share peer addresses refuse each other. Empty means
	// "samsa".
	ClusterToken string
	// HeartbeatInterval and ElectionTimeout tune the member's raft; zero
	// takes etcd's defaults (100 ms and 1 s), except for a lone member,
	// which ticks every 10 ms.
	HeartbeatInterval, ElectionTimeout time.Duration
	// UnsafeNoFsync turns off fsync in the member. Tests only: a crash
	// loses metadata.
	UnsafeNoFsync bool
	// Logger receives etcd's warnings and errors.
	Logger *slog.Logger
}

// EmbedsMember reports whether this broker runs an etcd member.
func (c *EtcdConfig) EmbedsMember() bool {
	if len(c.Endpoints) > 0 {
		return false
	}
	if len(c.Voters) == 0 {
		return true
	}
	_, ok := c.self()
	return ok
}

func (c *EtcdConfig) self() (Voter, bool) {
	for _, v := range c.Voters {
		if v.ID == c.NodeID {
			return v, true
		}
	}
	return Voter{}, false
}

func (c *EtcdConfig) clientPortOffset() int {
	if c.ClientPortOffset == 0 {
		return DefaultClientPortOffset
	}
	return c.ClientPortOffset
}

// ClientEndpoints returns the etcd client URLs this broker dials; member is
// the broker's own embedded member or nil. The own member comes first so
// that reads stay local while it is healthy.
func (c *EtcdConfig) ClientEndpoints(member *Member) []string {
	if len(c.Endpoints) > 0 {
		return append([]string(nil), c.Endpoints...)
	}
	var out []string
	if member != nil {
		out = append(out, member.ClientURL())
	}
	for _, v := range c.Voters {
		if v.ID != c.NodeID || member == nil {
			out = append(out, v.ClientURL(c.clientPortOffset()))
		}
	}
	return out
}

// loneHeartbeatInterval is the raft tick of a lone member.
const loneHeartbeatInterval = 10 * time.Millisecond

// Member is an embedded etcd member.
type Member struct {
	etcd      *embed.Etcd
	clientURL string
	closing   *atomic.Bool // quiets the log while stopping
	closeOnce sync.Once
}

// StartMember starts this broker's etcd member. It returns once the member
// listens; Ready says when it has joined a quorum.
func StartMember(c *EtcdConfig) (*Member, error) {
	if !c.EmbedsMember() {
		return nil, errors.New("this broker does not embed an etcd member")
	}
	if c.DataDir == "" {
		return nil, errors.New("etcd member needs a data directory")
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Dir = c.DataDir
	cfg.Name = memberName(c.NodeID)
	cfg.InitialClusterToken = c.ClusterToken
	if cfg.InitialClusterToken == "" {
		cfg.InitialClusterToken = "samsa"
	}
	cfg.ClusterState = embed.ClusterStateFlagNew // ignored once the data dir holds a member
	cfg.Logger = "zap"
	cfg.LogLevel = "warn"
	closing := new(atomic.Bool)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(c.Logger, "etcd", closing))
	cfg.EnableGRPCGateway = false
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "10m"
	cfg.UnsafeNoFsync = c.UnsafeNoFsync
	heartbeat, election := c.HeartbeatInterval, c.ElectionTimeout
	if len(c.Voters) == 0 {
		// A lone member has no peer to hear from: with short ticks it
		// elects itself within a few milliseconds instead of etcd's
		// default second, which is most of a lone broker's startup.
		heartbeat = cmp.Or(heartbeat, loneHeartbeatInterval)
		election = cmp.Or(election, 10*heartbeat)
	}
	if heartbeat > 0 {
		cfg.TickMs = uint(heartbeat / time.Millisecond)
	}
	if election > 0 {
		cfg.ElectionMs = uint(election / time.Millisecond)
	}

	var peerURL, clientURL string
	if self, ok := c.self(); ok {
		peerURL, clientURL = self.PeerURL(), self.ClientURL(c.clientPortOffset())
		var initial []string
		for _, v := range c.Voters {
			initial = append(initial, v.memberName()+"="+v.PeerURL())
		}
		cfg.InitialCluster = strings.Join(initial, ",")
	} else {
		// A lone member: nobody else dials it, so the system picks ports.
		peerURL, clientURL = "http://127.0.0.1:0", "http://127.0.0.1:0"
		cfg.InitialCluster = cfg.Name + "=" + peerURL
	}
	pu, err := url.Parse(peerURL)
	if err != nil {
		return nil, err
	}
	cu, err := url.Parse(clientURL)
	if err != nil {
		return nil, err
	}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting etcd member %s: %w", cfg.Name, err)
	}
	return &Member{etcd: e, clientURL: "http://" + e.Clients[0].Addr().String(), closing: closing}, nil
}

// ClientURL is the URL on which the member serves etcd clients.
func (m *Member) ClientURL() string { return m.clientURL }

// Ready is closed once the member has joined a quorum and serves requests.
func (m *Member) Ready() <-chan struct{} { return m.etcd.Server.ReadyNotify() }

// Err reports a fatal error of the member.
func (m *Member) Err() <-chan error { return m.etcd.Err() }

// WaitReady waits until the member serves requests.
func (m *Member) WaitReady(ctx context.Context) error {
	select {
	case <-m.Ready():
		return nil
	case err := <-m.Err():
		return fmt.Errorf("etcd member: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("waiting for the etcd quorum: %w", ctx.Err())
	}
}

// Close stops the member.
// Close stops the member. A raft leader first hands leadership to a
// connected peer, so that the others need not wait out an election.
func (m *Member) Close() {
	m.closeOnce.Do(func() {
		m.closing.Store(true)
		m.etcd.Close()
	})
}

// IsLeader reports whether the member is the raft leader of its cluster.
func (m *Member) IsLeader() bool {
	s := m.etcd.Server
	return s.Leader() == s.MemberID()
}

// Connect creates an etcd client for endpoints. It does not wait for the
// cluster to answer; the first request does.
func Connect(endpoints []string, logger *slog.Logger) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               newZapLogger(logger, "etcd-client", nil),
	})
}
