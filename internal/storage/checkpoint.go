package storage

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Kafka's text checkpoint files: a version line (0), a count line, then one
// entry per line. The per-directory offset checkpoints
// (recovery-point-offset-checkpoint, log-start-offset-checkpoint) hold
// "topic partition offset" lines; a partition's leader-epoch-checkpoint
// holds "epoch startOffset" lines.

const (
	recoveryPointFile = "recovery-point-offset-checkpoint"
	logStartFile      = "log-start-offset-checkpoint"
	leaderEpochFile   = "leader-epoch-checkpoint"
	partitionMetaFile = "partition.metadata"
	cleanShutdownFile = ".kafka_cleanshutdown"
)

func encodeCheckpoint(lines []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// decodeCheckpoint returns the entry lines of a checkpoint file, each split
// into fields, checking the version, the count and the field count.
func decodeCheckpoint(data []byte, fields int) ([][]string, error) {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) < 2 {
		return nil, fmt.Errorf("checkpoint has %d lines, want at least 2", len(lines))
	}
	if lines[0] != "0" {
		return nil, fmt.Errorf("checkpoint version %q is not 0", lines[0])
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n != len(lines)-2 {
		return nil, fmt.Errorf("checkpoint count %q does not match its %d entries", lines[1], len(lines)-2)
	}
	out := make([][]string, 0, n)
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != fields {
			return nil, fmt.Errorf("checkpoint entry %q does not have %d fields", l, fields)
		}
		out = append(out, f)
	}
	return out, nil
}

func encodeOffsets(offsets map[TopicPartition]int64) []byte {
	lines := make([]string, 0, len(offsets))
	for tp, off := range offsets {
		lines = append(lines, fmt.Sprintf("%s %d %d", tp.Topic, tp.Partition, off))
	}
	sort.Strings(lines)
	return encodeCheckpoint(lines)
}

func decodeOffsets(data []byte) (map[TopicPartition]int64, error) {
	entries, err := decodeCheckpoint(data, 3)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(entries))
	for _, e := range entries {
		p, err1 := strconv.ParseInt(e[1], 10, 32)
		off, err2 := strconv.ParseInt(e[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 {
			return nil, fmt.Errorf("checkpoint entry %q is malformed", strings.Join(e, " "))
		}
		out[TopicPartition{e[0], int32(p)}] = off
	}
	return out, nil
}

// epochEntry is a leader epoch and the first offset written in it.
type epochEntry struct {
	epoch       int32
	startOffset int64
}

func encodeEpochs(es []epochEntry) []byte {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = fmt.Sprintf("%d %d", e.epoch, e.startOffset)
	}
	return encodeCheckpoint(lines)
}

func decodeEpochs(data []byte) ([]epochEntry, error) {
	entries, err := decodeCheckpoint(data, 2)
	if err != nil {
		return nil, err
	}
	out := make([]epochEntry, 0, len(entries))
	for _, e := range entries {
		ep, err1 := strconv.ParseInt(e[0], 10, 32)
		off, err2 := strconv.ParseInt(e[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("leader epoch entry %q is malformed", strings.Join(e, " "))
		}
		if n := len(out); n > 0 && (int32(ep) <= out[n-1].epoch || off < out[n-1].startOffset) {
			return nil, fmt.Errorf("leader epoch entry %q does not follow the one before", strings.Join(e, " "))
		}
		out = append(out, epochEntry{int32(ep), off})
	}
	return out, nil
}

// endOffsetForEpoch answers OffsetForLeaderEpoch from the epoch entries, as
// Kafka's LeaderEpochFileCache.endOffsetFor does: the requested epoch's end
// is the start of the next higher epoch, or the log end for the latest.
func endOffsetForEpoch(es []epochEntry, epoch int32, logEnd int64) (int32, int64) {
	if epoch < 0 || len(es) == 0 {
		return -1, -1
	}
	if es[len(es)-1].epoch == epoch {
		return epoch, logEnd
	}
	hi := sort.Search(len(es), func(i int) bool { return es[i].epoch > epoch })
	if hi == len(es) {
		return -1, -1
	}
	if hi == 0 {
		return epoch, es[0].startOffset
	}
	return es[hi-1].epoch, es[hi].startOffset
}

// truncateEpochsFromEnd drops epochs that start at or after offset.
func truncateEpochsFromEnd(es []epochEntry, offset int64) []epochEntry {
	i := len(es)
	for i > 0 && es[i-1].startOffset >= offset {
		i--
	}
	return es[:i]
}

// truncateEpochsFromStart drops epochs that end at or before offset and
// moves the start of the one holding offset up to it.
func truncateEpochsFromStart(es []epochEntry, offset int64) []epochEntry {
	i := 0
	for i+1 < len(es) && es[i+1].startOffset <= offset {
		i++
	}
	out := es[i:]
	if len(out) > 0 && out[0].startOffset < offset {
		out = append([]epochEntry{{out[0].epoch, offset}}, out[1:]...)
	}
	return out
}

// partitionMetadata is the partition.metadata file: the topic id of the
// partition's topic, so a directory left from a deleted topic of the same
// name is never taken for the new one.
func encodePartitionMetadata(topicID [16]byte) []byte {
	return []byte("version: 0\ntopic_id: " + encodeTopicID(topicID) + "\n")
}
