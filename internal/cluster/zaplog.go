package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcd's server and client log through zap. newZapLogger routes those logs
// into the broker's slog handler, keeping only warnings and worse: etcd's
// info level narrates every raft step and would drown the broker's own log.
// Once closing is set, everything goes out at debug level: a member being
// stopped reports each closed listener as an error.
func newZapLogger(logger *slog.Logger, component string, closing *atomic.Bool) *zap.Logger {
	if logger == nil {
		logger = slog.Default()
	}
	core := &slogCore{h: logger.Handler(), min: zapcore.WarnLevel, closing: closing}
	return zap.New(core).With(zap.String("component", component))
}

// benignEtcdWarnings are warnings etcd prints for choices Samsa makes on
// purpose; they go out at debug level.
var benignEtcdWarnings = map[string]bool{
	// The client port also serves etcd's small HTTP API (health, version).
	"Running http and grpc server on single port. This is not recommended for production.": true,
	// etcd authentication is not used.
	"simple token is not cryptographically signed": true,
	// A lone member elects itself within milliseconds and checks its
	// storage version before its first term reaches the backend; the
	// check runs again a few seconds later and succeeds.
	"Failed to detect schema version":  true,
	"failed to update storage version": true,
}

// benignEtcdSuffixes end warnings that carry a member id: a lone
// member's raft, ticking fast, tries to campaign before it has applied its
// own membership, and succeeds a tick later.
var benignEtcdSuffixes = []string{
	"since there are still pending configuration changes to apply",
}

func benign(msg string) bool {
	if benignEtcdWarnings[msg] {
		return true
	}
	for _, s := range benignEtcdSuffixes {
		if strings.HasSuffix(msg, s) {
			return true
		}
	}
	return false
}

// canceledRetry is the client's warning about a request whose context was
// cancelled: the caller gave up on purpose (a shutdown, a bounded wait).
const canceledRetry = "retrying of unary invoker failed"

// slogCore is a zapcore.Core that writes to a slog.Handler.
type slogCore struct {
	h       slog.Handler
	min     zapcore.Level
	closing *atomic.Bool // may be nil
	attrs   []slog.Attr  // from With, already encoded
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return l >= c.min && c.h.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	attrs := make([]slog.Attr, 0, len(c.attrs)+len(fields))
	attrs = append(attrs, c.attrs...)
	attrs = append(attrs, encodeZapFields(fields)...)
	return &slogCore{h: c.h, min: c.min, closing: c.closing, attrs: attrs}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	level := slogLevel(e.Level)
	if benign(e.Message) || c.closing != nil && c.closing.Load() ||
		e.Message == canceledRetry && cancelled(fields) {
		level = slog.LevelDebug
	}
	if !c.h.Enabled(context.Background(), level) {
		return nil
	}
	r := slog.NewRecord(e.Time, level, e.Message, 0)
	r.AddAttrs(c.attrs...)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(encodeZapFields(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

// cancelled reports whether a log entry's error is a cancelled context.
func cancelled(fields []zapcore.Field) bool {
	for _, f := range fields {
		if f.Type == zapcore.ErrorType {
			if err, ok := f.Interface.(error); ok && (errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "code = Canceled")) {
				return true
			}
		}
	}
	return false
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l >= zapcore.WarnLevel:
		return slog.LevelWarn
	case l >= zapcore.InfoLevel:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// encodeZapFields turns zap fields into slog attributes, sorted by key so
// that a log line reads the same every time.
func encodeZapFields(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	return attrs
}
