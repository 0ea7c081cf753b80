package broker

// DescribeLogDirs, versions 0-4 (KIP-113).
//
// v2 is flexible; v3 adds a top-level error code (KIP-784); v4 the
// total and usable bytes of each directory's file system (KIP-827). Every
// directory of log.dirs is listed, with the partitions it holds: their
// size on disk, an offset lag of 0 (Kafka reports a lag only for a
// replica being moved between directories) and is_future false (AlterReplicaLogDirs is not served, so no
// partition is ever being moved). A null topic list asks for every
// partition; named topics or partitions this broker does not have are
// left out, as Kafka does.

import (
	"path/filepath"
	"sort"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeLogDirs, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(b *Broker, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)

	// Which partitions to describe: nil means all.
	var want map[string]map[int32]bool
	if req.Topics != nil {
		want = make(map[string]map[int32]bool, len(req.Topics))
		for _, rt := range req.Topics {
			if want[rt.Topic] == nil {
				want[rt.Topic] = map[int32]bool{}
			}
			for _, p := range rt.Partitions {
				want[rt.Topic][p] = true
			}
		}
	}

	// Kafka names directories by absolute path; so does the answer, and
	// partitions are matched to their directory the same way.
	dirs := b.cfg.List("log.dirs")
	byDir := make(map[string]*kmsg.DescribeLogDirsResponseDir, len(dirs))
	resp.Dirs = make([]kmsg.DescribeLogDirsResponseDir, len(dirs))
	for i, dir := range dirs {
		d := &resp.Dirs[i]
		*d = kmsg.NewDescribeLogDirsResponseDir() // total, usable bytes -1
		d.Dir = absPath(dir)
		byDir[d.Dir] = d
		if req.Version >= 4 {
			var st syscall.Statfs_t
			if err := syscall.Statfs(d.Dir, &st); err == nil {
				d.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
				d.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
			}
		}
	}

	topics := b.allTopics()
	sort.Slice(topics, func(i, j int) bool { return topics[i].name < topics[j].name })
	for _, t := range topics {
		parts := want[t.name]
		if want != nil && parts == nil {
			continue
		}
		for _, p := range t.partitions {
			if p == nil || want != nil && !parts[p.tp.Partition] {
				continue
			}
			d := byDir[filepath.Dir(absPath(p.log.Dir()))]
			if d == nil {
				continue // not under a log dir: cannot happen, but never guess
			}
			if n := len(d.Topics); n == 0 || d.Topics[n-1].Topic != t.name {
				dt := kmsg.NewDescribeLogDirsResponseDirTopic()
				dt.Topic = t.name
				d.Topics = append(d.Topics, dt)
			}
			dt := &d.Topics[len(d.Topics)-1]
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = p.tp.Partition
			dp.Size = p.log.Size()
			dt.Partitions = append(dt.Partitions, dp)
		}
	}
	return resp, nil
}

// absPath is path made absolute and clean; it stays as given if the
// working directory cannot be found.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}
