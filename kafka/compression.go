package kafka

import (
	"errors"
	"strconv"
	"strings"

	"github.com/samsa-io/samsa/internal/record"
)

// compressionLevel is the level of compression.<codec>.level for the
// configured codec (KIP-390), 0 for codecs without one.
func (pc *producerConfig) compressionLevel() int {
	switch pc.codec {
	case record.Gzip:
		return pc.gzipLevel
	case record.LZ4:
		return pc.lz4Level
	case record.Zstd:
		return pc.zstdLevel
	}
	return 0
}

// compressRecords appends src, compressed with compression.type at its
// level, to dst.
func compressRecords(pc *producerConfig, dst, src []byte) ([]byte, error) {
	return record.CompressLevel(pc.codec, pc.compressionLevel(), dst, src)
}

// levelCheck validates a compression.<codec>.level setting with the
// codec's own rules (record.CheckLevel, Java's GzipCompression,
// Lz4Compression and ZstdCompression level validators).
func levelCheck(codec record.Codec) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return err
		}
		if err := record.CheckLevel(codec, n); err != nil {
			// The record package's message names the setting; keep the
			// reason only, as configErr names it too.
			msg := err.Error()
			if i := strings.LastIndex(msg, ": "); i >= 0 {
				msg = msg[i+2:]
			}
			return errors.New(msg)
		}
		return nil
	}
}
