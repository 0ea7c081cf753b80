package main

// samsa dump-log: kafka-dump-log.sh (Kafka's DumpLogSegments). It prints
// the batches and records of segment files, the entries of offset and time
// indexes checked against their segment, and producer snapshots, in the
// words kafka-dump-log.sh uses, and decodes the records of __consumer_offsets
// and __transaction_state. It only reads: every file is opened read-only,
// so it can be pointed at a running broker's log directory.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/group"
	"github.com/samsa-io/samsa/internal/record"
)

func init() { extraCommands = append(extraCommands, dumpLogCommand) }

type dumpLogOptions struct {
	files              []string
	deepIteration      bool
	printDataLog       bool
	verifyIndexOnly    bool
	indexSanityCheck   bool
	offsetsDecoder     bool
	transactionDecoder bool
	skipRecordMetadata bool
	maxMessageSize     int
	maxBytes           int

	// maxDecompressedBytes bounds what one compressed batch may expand to
	// in deep iteration.
	maxDecompressedBytes int
}

// defaultMaxDecompressedBytes is the default of the broker's
// socket.request.max.bytes, the most it lets a produced batch expand to,
// so every batch a broker accepted with its defaults can be read back.
const defaultMaxDecompressedBytes = 100 << 20

// maxReportedGaps bounds the non-consecutive offsets listed per file; a
// compacted log has a gap wherever the cleaner removed records.
const maxReportedGaps = 100

const dumpLogLong = `Print the contents of a partition's files, as kafka-dump-log.sh does.

--files takes a comma-separated list of files of partition directories:
  <base>.log        the segment's batches, one line each: offsets, count,
                    producer id, epoch and sequences, leader epoch,
                    position, timestamp, size, codec, CRC and whether it
                    matches. --deep-iteration adds a line per record,
                    --print-data-log its key and value as well.
  <base>.index      offset index entries, each checked against the segment
  <base>.timeindex  time index entries, each checked against the segment
  <base>.snapshot   producer state: each producer's epoch and last batch
  <base>.txnindex   aborted transactions

--offsets-decoder prints the records of __consumer_offsets as JSON (group,
topic, partition, offset; group metadata with members' subscriptions and
assignments), --transaction-log-decoder those of __transaction_state.

Files are opened read-only, so dump-log can read a running broker's log
directory. A batch that is not sound (its length, magic, CRC, offsets or
records) ends the dump of its file with its position and the reason; index
entries that do not match their segment are listed on stderr. Either makes
the exit status non-zero.

Example:
  samsa dump-log --print-data-log --files /var/lib/samsa/orders-0/00000000000000000000.log`

func dumpLogCommand() *cobra.Command {
	var o dumpLogOptions
	cmd := &cobra.Command{
		Use:   "dump-log",
		Short: "Print the batches, records and indexes of log segment files (kafka-dump-log.sh)",
		Long:  dumpLogLong,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runDumpLog(cmd, &o) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.files, "files", nil, "comma-separated .log, .index, .timeindex, .snapshot and .txnindex files to dump (required)")
	f.BoolVar(&o.deepIteration, "deep-iteration", false, "print the records inside each batch")
	f.BoolVar(&o.printDataLog, "print-data-log", false, "print records' keys and values (implies --deep-iteration)")
	f.BoolVar(&o.verifyIndexOnly, "verify-index-only", false, "check index entries against the segment without printing them")
	f.BoolVar(&o.indexSanityCheck, "index-sanity-check", false, "only run the check the broker runs on an index at startup")
	f.BoolVar(&o.offsetsDecoder, "offsets-decoder", false, "decode records as __consumer_offsets records (implies --print-data-log)")
	f.BoolVar(&o.transactionDecoder, "transaction-log-decoder", false, "decode records as __transaction_state records (implies --print-data-log)")
	f.BoolVar(&o.skipRecordMetadata, "skip-record-metadata", false, "print only keys and values of records, not their offsets, sizes and headers")
	f.IntVar(&o.maxMessageSize, "max-message-size", 5*1024*1024, "largest batch an index entry may point at")
	f.IntVar(&o.maxBytes, "max-bytes", math.MaxInt32, "read at most this many bytes of each .log file")
	return cmd
}

func runDumpLog(cmd *cobra.Command, o *dumpLogOptions) error {
	switch {
	case len(o.files) == 0:
		return errors.New("--files is required")
	case o.offsetsDecoder && o.transactionDecoder:
		return errors.New("--offsets-decoder and --transaction-log-decoder cannot be used together")
	case o.maxMessageSize <= 0:
		return errors.New("--max-message-size must be positive")
	case o.maxBytes <= 0:
		return errors.New("--max-bytes must be positive")
	}
	if o.offsetsDecoder || o.transactionDecoder {
		o.printDataLog = true
	}
	if o.printDataLog {
		o.deepIteration = true
	}
	if o.maxDecompressedBytes == 0 {
		o.maxDecompressedBytes = defaultMaxDecompressedBytes
	}
	out := bufio.NewWriter(cmd.OutOrStdout())
	d := &dumper{opts: o, out: out, errOut: cmd.ErrOrStderr()}
	var failed []error
	for _, path := range o.files {
		fmt.Fprintf(out, "Dumping %s\n", path)
		err := d.dumpFile(path)
		out.Flush()
		if err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// dumper prints files to out, and the problems kafka-dump-log.sh prints to
// stderr (index mismatches, non-consecutive offsets) to errOut after
// flushing out.
type dumper struct {
	opts   *dumpLogOptions
	out    *bufio.Writer
	errOut io.Writer
}

func (d *dumper) dumpFile(path string) error {
	name := filepath.Base(path)
	switch filepath.Ext(name) {
	case ".log":
		return d.dumpLogFile(path)
	case ".index":
		return d.dumpOffsetIndexFile(path)
	case ".timeindex":
		return d.dumpTimeIndexFile(path)
	case ".snapshot":
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return d.dumpSnapshot(path, data)
	case ".txnindex":
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return d.dumpTxnIndex(path, data)
	}
	d.out.Flush()
	fmt.Fprintf(d.errOut, "Ignoring unknown file %s\n", path)
	return nil
}

// baseOffsetOf reads the base offset from a segment file's name,
// <20-digit base offset>.<suffix>.
func baseOffsetOf(path string) (int64, bool) {
	prefix, _, _ := strings.Cut(filepath.Base(path), ".")
	base, err := strconv.ParseInt(prefix, 10, 64)
	return base, err == nil && base >= 0
}

// ---- segments ---------------------------------------------------------------

func (d *dumper) dumpLogFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if base, ok := baseOffsetOf(path); ok {
		fmt.Fprintf(d.out, "Log starting offset: %d\n", base)
	}
	return d.dumpSegment(path, f, fi.Size())
}

// corruptBatchError reports the first batch of a segment that is not
// sound; nothing after it is read.
type corruptBatchError struct {
	file   string
	pos    int64
	reason string
}

func (e *corruptBatchError) Error() string {
	return fmt.Sprintf("%s: corrupt batch at position %d: %s", e.file, e.pos, e.reason)
}

// segmentState is what the checks of one segment carry from batch to batch.
type segmentState struct {
	base       int64 // the segment's base offset from its name, or -1
	prevEnd    int64 // offset after the previous batch, -1 before the first
	lastRecord int64 // offset of the previous record, -1 before the first
	gaps       [][2]int64
	moreGaps   int
}

// dumpSegment prints the batches of a segment, the size bytes of r, and
// with deep iteration their records. It stops at the first batch that is
// not sound and returns a *corruptBatchError for it. Lengths read from the
// file are checked against the bytes left before anything is allocated.
func (d *dumper) dumpSegment(path string, r io.ReaderAt, size int64) error {
	limit, capped := size, false
	if int64(d.opts.maxBytes) < size {
		limit, capped = int64(d.opts.maxBytes), true
	}
	st := segmentState{base: -1, prevEnd: -1, lastRecord: -1}
	if base, ok := baseOffsetOf(path); ok {
		st.base = base
	}
	defer d.reportGaps(path, &st)
	var (
		frame [record.LogOverhead]byte
		buf   []byte
		pos   int64
	)
	for pos < limit {
		left := limit - pos
		if left < record.LogOverhead {
			if capped {
				break
			}
			return d.corruptTail(path, pos, left, fmt.Sprintf("the %d bytes left are too few to frame a batch", left))
		}
		if err := readFull(r, frame[:], pos); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		length := int64(int32(binary.BigEndian.Uint32(frame[8:])))
		if length < record.HeaderSize-record.LogOverhead {
			return d.corrupt(path, pos, fmt.Sprintf("its length field says %d bytes follow, fewer than the %d of a batch header",
				length, record.HeaderSize-record.LogOverhead))
		}
		total := length + record.LogOverhead
		if total > left {
			if capped && total <= size-pos {
				break
			}
			return d.corruptTail(path, pos, left, fmt.Sprintf(
				"its length field says %d bytes follow but only %d are left (a torn write, or a batch being appended as the file is read)",
				length, left-record.LogOverhead))
		}
		if int64(cap(buf)) < total {
			buf = make([]byte, total)
		}
		batch := buf[:total]
		if err := readFull(r, batch, pos); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if reason := d.dumpBatch(batch, pos, &st); reason != "" {
			return d.corrupt(path, pos, reason)
		}
		pos += total
	}
	return nil
}

func readFull(r io.ReaderAt, b []byte, pos int64) error {
	n, err := r.ReadAt(b, pos)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (d *dumper) corrupt(path string, pos int64, reason string) error {
	fmt.Fprintf(d.out, "Corrupt batch at position %d: %s. The rest of %s is not read.\n", pos, reason, filepath.Base(path))
	return &corruptBatchError{file: path, pos: pos, reason: reason}
}

// corruptTail reports bytes at the end of a segment that do not make a
// whole batch, with the line kafka-dump-log.sh prints for them first.
func (d *dumper) corruptTail(path string, pos, left int64, reason string) error {
	fmt.Fprintf(d.out, "Found %d invalid bytes at the end of %s\n", left, filepath.Base(path))
	return d.corrupt(path, pos, reason)
}

// Attribute bit 6 of a batch: its base timestamp is the delete horizon set
// by the log cleaner (KIP-534).
const attrDeleteHorizon = 0x40

// dumpBatch prints one whole batch at pos, and its records with deep
// iteration; it returns why the batch is not sound, or "".
func (d *dumper) dumpBatch(batch []byte, pos int64, st *segmentState) string {
	h, err := record.ParseHeader(batch)
	if err != nil {
		if errors.Is(err, record.ErrBadMagic) {
			return fmt.Sprintf("magic %d: only batches of the v2 format (magic 2) can be read", h.Magic)
		}
		return err.Error()
	}
	crc := record.ComputeCRC(batch)
	d.printBatch(&h, pos, len(batch), crc == h.CRC)
	switch {
	case crc != h.CRC:
		return fmt.Sprintf("its stored CRC-32C %d does not match %d, computed from its contents", h.CRC, crc)
	case h.LastOffsetDelta < 0:
		return fmt.Sprintf("last offset delta %d is negative", h.LastOffsetDelta)
	case h.BaseOffset < st.prevEnd:
		return fmt.Sprintf("base offset %d is below %d, where the batch before ends", h.BaseOffset, st.prevEnd)
	case h.BaseOffset < st.base:
		return fmt.Sprintf("base offset %d is below the segment's base offset %d", h.BaseOffset, st.base)
	}
	st.prevEnd = h.NextOffset()
	if !d.opts.deepIteration {
		return ""
	}
	var problem string
	err = record.EachRecord(&h, batch, d.opts.maxDecompressedBytes, func(r *record.Record) error {
		if problem = d.printRecord(&h, r, st); problem != "" {
			return errors.New(problem)
		}
		return nil
	})
	switch {
	case problem != "":
		return problem
	case err != nil:
		return "its records: " + err.Error()
	}
	return ""
}

func timestampType(h *record.Header) string {
	if h.LogAppendTime() {
		return "LogAppendTime"
	}
	return "CreateTime"
}

func (d *dumper) printBatch(h *record.Header, pos int64, size int, valid bool) {
	horizon := "OptionalLong.empty"
	if h.Attributes&attrDeleteHorizon != 0 {
		horizon = fmt.Sprintf("OptionalLong[%d]", h.BaseTimestamp)
	}
	fmt.Fprintf(d.out, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d "+
		"partitionLeaderEpoch: %d isTransactional: %t isControl: %t deleteHorizonMs: %s position: %d %s: %d size: %d "+
		"magic: %d compresscodec: %s crc: %d isvalid: %t\n",
		h.BaseOffset, h.LastOffset(), h.NumRecords, h.BaseSequence, h.LastSequence(), h.ProducerID, h.ProducerEpoch,
		h.PartitionLeaderEpoch, h.Transactional(), h.Control(), horizon, pos, timestampType(h), h.MaxTimestamp, size,
		h.Magic, h.Compression(), h.CRC, valid)
}

// printRecord prints one record's line; it returns why the record is not
// sound (a control record Kafka could not read), or "".
func (d *dumper) printRecord(h *record.Header, r *record.Record, st *segmentState) string {
	offset := h.BaseOffset + int64(r.OffsetDelta)
	if st.lastRecord >= 0 && offset != st.lastRecord+1 {
		if len(st.gaps) < maxReportedGaps {
			st.gaps = append(st.gaps, [2]int64{st.lastRecord, offset})
		} else {
			st.moreGaps++
		}
	}
	st.lastRecord = offset

	var control string
	if h.Control() {
		var problem string
		if control, problem = describeControl(r); problem != "" {
			return fmt.Sprintf("control record at offset %d: %s", offset, problem)
		}
	}
	w := d.out
	prefix := "| "
	if !d.opts.skipRecordMetadata {
		ts := h.BaseTimestamp + r.TimestampDelta
		if h.LogAppendTime() {
			ts = h.MaxTimestamp // KIP-32: the broker's time stands for every record
		}
		seq := int32(-1)
		if h.BaseSequence >= 0 {
			seq = record.IncrementSequence(h.BaseSequence, r.OffsetDelta)
		}
		keys := make([]string, len(r.Headers))
		for i, hd := range r.Headers {
			keys[i] = hd.Key
		}
		fmt.Fprintf(w, "%soffset: %d %s: %d keySize: %d valueSize: %d sequence: %d headerKeys: [%s]%s",
			prefix, offset, timestampType(h), ts, sizeOf(r.Key), sizeOf(r.Value), seq, strings.Join(keys, ","), control)
		prefix = " "
	}
	if d.opts.printDataLog && !h.Control() {
		key, payload := d.decode(offset, r)
		if key != nil {
			fmt.Fprintf(w, "%skey: %s", prefix, *key)
		}
		if payload != nil {
			fmt.Fprintf(w, " payload: %s", *payload)
		}
	}
	w.WriteByte('\n')
	return ""
}

func sizeOf(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// Control record types (Kafka's ControlRecordType).
var controlTypeNames = map[int16]string{
	0: "ABORT", 1: "COMMIT", 2: "LEADER_CHANGE", 3: "SNAPSHOT_HEADER",
	4: "SNAPSHOT_FOOTER", 5: "KRAFT_VERSION", 6: "KRAFT_VOTERS",
}

// describeControl describes a control record as kafka-dump-log.sh does: a
// transaction marker as " endTxnMarker: COMMIT coordinatorEpoch: 3",
// others by type. The key is version int16, type int16; a marker's value
// is version int16, coordinator epoch int32.
func describeControl(r *record.Record) (text, problem string) {
	if len(r.Key) < 4 {
		return "", fmt.Sprintf("key of %d bytes is shorter than a control key's 4", sizeOf(r.Key))
	}
	if v := int16(binary.BigEndian.Uint16(r.Key)); v < 0 {
		return "", fmt.Sprintf("key version %d is negative", v)
	}
	typ := int16(binary.BigEndian.Uint16(r.Key[2:]))
	name, ok := controlTypeNames[typ]
	if !ok {
		name = "UNKNOWN"
	}
	if typ != 0 && typ != 1 {
		return fmt.Sprintf(" controlType: %s(%d)", name, typ), ""
	}
	if len(r.Value) < 6 {
		return "", fmt.Sprintf("transaction marker value of %d bytes is shorter than 6", sizeOf(r.Value))
	}
	if v := int16(binary.BigEndian.Uint16(r.Value)); v < 0 {
		return "", fmt.Sprintf("transaction marker version %d is negative", v)
	}
	epoch := int32(binary.BigEndian.Uint32(r.Value[2:]))
	return fmt.Sprintf(" endTxnMarker: %s coordinatorEpoch: %d", name, epoch), ""
}

// decode returns what is printed as a record's key and payload, nil for
// nothing: the bytes as UTF-8, or the decoded records of Kafka's internal
// topics. A record a decoder cannot read is reported in the key, and the
// dump goes on, as in kafka-dump-log.sh.
func (d *dumper) decode(offset int64, r *record.Record) (key, payload *string) {
	var describe func(k, v []byte) (string, string, error)
	switch {
	case d.opts.offsetsDecoder:
		describe = group.DescribeRecord
	case d.opts.transactionDecoder:
		describe = describeTxnRecord
	default:
		if r.Key != nil {
			s := strings.ToValidUTF8(string(r.Key), "\uFFFD")
			key = &s
		}
		if r.Value != nil {
			s := strings.ToValidUTF8(string(r.Value), "\uFFFD")
			payload = &s
		}
		return key, payload
	}
	var k, v string
	var err error
	if r.Key == nil {
		err = errors.New("the record has no key")
	} else {
		k, v, err = describe(r.Key, r.Value)
	}
	switch {
	case errors.Is(err, group.ErrUnknownRecordType) || errors.Is(err, errUnknownTxnRecordType):
		k = fmt.Sprintf("Unknown record type %d at offset %d, skipping.", int16(binary.BigEndian.Uint16(r.Key)), offset)
		return &k, nil
	case err != nil:
		k = fmt.Sprintf("Error at offset %d, skipping. %v", offset, err)
		return &k, nil
	}
	return &k, &v
}

func (d *dumper) reportGaps(path string, st *segmentState) {
	if len(st.gaps) == 0 {
		return
	}
	d.out.Flush()
	fmt.Fprintf(d.errOut, "Non-consecutive offsets in %s\n", absPath(path))
	for _, g := range st.gaps {
		fmt.Fprintf(d.errOut, "  %d is followed by %d\n", g[0], g[1])
	}
	if st.moreGaps > 0 {
		fmt.Fprintf(d.errOut, "  and %d more\n", st.moreGaps)
	}
}

func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// ---- indexes ----------------------------------------------------------------

// Index entry sizes (internal/storage/doc.go): the offset index holds
// relative offset uint32, position uint32; the time index timestamp int64,
// relative offset uint32.
const (
	offsetIndexEntrySize = 8
	timeIndexEntrySize   = 12
)

type offsetIndexEntry struct{ offset, pos int64 }

type timeIndexEntry struct{ timestamp, offset int64 }

func parseOffsetIndex(b []byte, base int64) []offsetIndexEntry {
	out := make([]offsetIndexEntry, 0, len(b)/offsetIndexEntrySize)
	for i := 0; i+offsetIndexEntrySize <= len(b); i += offsetIndexEntrySize {
		out = append(out, offsetIndexEntry{
			offset: base + int64(binary.BigEndian.Uint32(b[i:])),
			pos:    int64(binary.BigEndian.Uint32(b[i+4:])),
		})
	}
	return out
}

func parseTimeIndex(b []byte, base int64) []timeIndexEntry {
	out := make([]timeIndexEntry, 0, len(b)/timeIndexEntrySize)
	for i := 0; i+timeIndexEntrySize <= len(b); i += timeIndexEntrySize {
		out = append(out, timeIndexEntry{
			timestamp: int64(binary.BigEndian.Uint64(b[i:])),
			offset:    base + int64(binary.BigEndian.Uint32(b[i+8:])),
		})
	}
	return out
}

// zeroTail is where the run of all-zero entries that ends an index starts:
// Kafka preallocates the index files of the active segment with zeros, and
// kafka-dump-log.sh stops at the first such entry too.
func zeroTail(b []byte, entrySize int) int {
	n := len(b) / entrySize
	for n > 1 && allZero(b[(n-1)*entrySize:n*entrySize]) {
		n--
	}
	return n
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// segmentBatch is where a batch lies in its segment, from its header.
type segmentBatch struct {
	pos, size         int64
	base, last, maxTs int64
}

// scannedSegment is the batches of a segment as far as they could be read:
// err is why the scan stopped before size, or nil.
type scannedSegment struct {
	batches []segmentBatch
	size    int64
	err     error
}

// scanSegment reads the headers of a segment's batches (their CRCs are not
// checked). It stops at the first batch it cannot frame or parse.
func scanSegment(r io.ReaderAt, size int64) scannedSegment {
	s := scannedSegment{size: size}
	var hdr [record.HeaderSize]byte
	for pos := int64(0); pos < size; {
		if size-pos < record.HeaderSize {
			s.err = fmt.Errorf("at position %d the %d bytes left are too few for a batch", pos, size-pos)
			return s
		}
		if err := readFull(r, hdr[:], pos); err != nil {
			s.err = err
			return s
		}
		h, err := record.ParseHeader(hdr[:])
		if err != nil {
			s.err = fmt.Errorf("batch at position %d: %w", pos, err)
			return s
		}
		if int64(h.Size()) > size-pos {
			s.err = fmt.Errorf("batch at position %d: length %d runs past the end of the file", pos, h.Length)
			return s
		}
		s.batches = append(s.batches, segmentBatch{pos: pos, size: int64(h.Size()), base: h.BaseOffset, last: h.LastOffset(), maxTs: h.MaxTimestamp})
		pos += int64(h.Size())
	}
	return s
}

// segmentOf opens the segment an index file belongs to and reads its
// batch headers. The caller reads the index first: on a live broker the
// segment is then at least as long as what the index points into.
func segmentOf(indexPath string) (scannedSegment, error) {
	base, ok := baseOffsetOf(indexPath)
	if !ok {
		return scannedSegment{}, fmt.Errorf("%s: the file name does not start with a base offset", indexPath)
	}
	f, err := os.Open(filepath.Join(filepath.Dir(indexPath), fmt.Sprintf("%020d.log", base)))
	if err != nil {
		return scannedSegment{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return scannedSegment{}, err
	}
	return scanSegment(f, fi.Size()), nil
}

func (d *dumper) dumpOffsetIndexFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	base, ok := baseOffsetOf(path)
	if !ok {
		return fmt.Errorf("%s: the file name does not start with a base offset", path)
	}
	if len(data) == 0 {
		fmt.Fprintf(d.out, "%s is empty.\n", path)
		return nil
	}
	seg, err := segmentOf(path)
	if err != nil {
		return err
	}
	if d.opts.indexSanityCheck {
		return d.sanityResult(path, sanityCheckOffsetIndex(data, base, seg.size))
	}
	entries := parseOffsetIndex(data[:zeroTail(data, offsetIndexEntrySize)*offsetIndexEntrySize], base)
	if !d.opts.verifyIndexOnly {
		for _, e := range entries {
			fmt.Fprintf(d.out, "offset: %d position: %d\n", e.offset, e.pos)
		}
	}
	problems := checkOffsetIndex(entries, seg, int64(d.opts.maxMessageSize))
	if len(data)%offsetIndexEntrySize != 0 {
		problems = append(problems, fmt.Sprintf("%d bytes at the end do not make a whole entry", len(data)%offsetIndexEntrySize))
	}
	if len(problems) == 0 {
		return nil
	}
	d.out.Flush()
	fmt.Fprintf(d.errOut, "Mismatches in :%s\n", absPath(path))
	for _, p := range problems {
		fmt.Fprintf(d.errOut, "  %s\n", p)
	}
	return fmt.Errorf("%s: %d mismatches with its segment", path, len(problems))
}

func (d *dumper) sanityResult(path string, err error) error {
	if err != nil {
		return fmt.Errorf("%s failed the sanity check: %w", path, err)
	}
	fmt.Fprintf(d.out, "%s passed sanity check.\n", path)
	return nil
}

// sanityCheckOffsetIndex is the check the broker runs when it opens an
// offset index (internal/storage index.load): whole entries, offsets and
// positions increasing, positions within the segment.
func sanityCheckOffsetIndex(data []byte, base, segSize int64) error {
	if len(data)%offsetIndexEntrySize != 0 {
		return fmt.Errorf("found %d bytes which is not a multiple of %d", len(data), offsetIndexEntrySize)
	}
	entries := parseOffsetIndex(data, base)
	for i, e := range entries {
		if i > 0 && (e.offset <= entries[i-1].offset || e.pos <= entries[i-1].pos) {
			return fmt.Errorf("entry %d (offset %d, position %d) does not follow the one before (offset %d, position %d)",
				i, e.offset, e.pos, entries[i-1].offset, entries[i-1].pos)
		}
		if e.pos >= segSize {
			return fmt.Errorf("entry %d points at position %d beyond the segment's %d bytes", i, e.pos, segSize)
		}
	}
	return nil
}

// checkOffsetIndex checks every entry against the segment's batches, as
// kafka-dump-log.sh does: an entry (offset, position) must name the start of a
// batch whose last offset is the entry's offset, so that a lookup of any
// offset from the entry's on starts at or before the batch holding it.
// Entries must increase. It returns one line per problem.
func checkOffsetIndex(entries []offsetIndexEntry, seg scannedSegment, maxMessageSize int64) []string {
	var problems []string
	batches := seg.batches
	for i, e := range entries {
		if i > 0 && (e.offset <= entries[i-1].offset || e.pos <= entries[i-1].pos) {
			problems = append(problems, fmt.Sprintf("Index offset: %d, position %d does not follow the entry before (offset %d, position %d)",
				e.offset, e.pos, entries[i-1].offset, entries[i-1].pos))
			continue
		}
		j := sort.Search(len(batches), func(j int) bool { return batches[j].pos >= e.pos })
		switch {
		case j < len(batches) && batches[j].pos == e.pos:
			b := batches[j]
			if b.size > maxMessageSize {
				problems = append(problems, fmt.Sprintf("Index offset: %d, the batch at position %d is %d bytes, more than --max-message-size %d",
					e.offset, e.pos, b.size, maxMessageSize))
			} else if b.last != e.offset {
				problems = append(problems, fmt.Sprintf("Index offset: %d, log offset: %d", e.offset, b.last))
			}
		case e.pos >= seg.size:
			problems = append(problems, fmt.Sprintf("Index offset: %d, position %d is past the end of the segment (%d bytes)", e.offset, e.pos, seg.size))
		case j == len(batches) && seg.err != nil:
			problems = append(problems, fmt.Sprintf("Index offset: %d, position %d lies past a batch that cannot be read: %v", e.offset, e.pos, seg.err))
		default:
			problems = append(problems, fmt.Sprintf("Index offset: %d, position %d is not the start of a batch", e.offset, e.pos))
		}
	}
	return problems
}

func (d *dumper) dumpTimeIndexFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	base, ok := baseOffsetOf(path)
	if !ok {
		return fmt.Errorf("%s: the file name does not start with a base offset", path)
	}
	if d.opts.indexSanityCheck {
		return d.sanityResult(path, sanityCheckTimeIndex(data, base))
	}
	seg, err := segmentOf(path)
	if err != nil {
		return err
	}
	entries := parseTimeIndex(data[:zeroTail(data, timeIndexEntrySize)*timeIndexEntrySize], base)
	if !d.opts.verifyIndexOnly {
		for _, e := range entries {
			fmt.Fprintf(d.out, "timestamp: %d offset: %d\n", e.timestamp, e.offset)
		}
	}
	errs := checkTimeIndex(entries, seg.batches)
	if len(data)%timeIndexEntrySize != 0 {
		errs.partial = len(data) % timeIndexEntrySize
	}
	if errs.empty() {
		return nil
	}
	d.out.Flush()
	errs.print(d.errOut, absPath(path))
	return fmt.Errorf("%s: %d mismatches with its segment", path, errs.count())
}

// sanityCheckTimeIndex is the check the broker runs when it opens a time
// index: whole entries, timestamps and offsets not decreasing.
func sanityCheckTimeIndex(data []byte, base int64) error {
	if len(data)%timeIndexEntrySize != 0 {
		return fmt.Errorf("found %d bytes which is not a multiple of %d", len(data), timeIndexEntrySize)
	}
	entries := parseTimeIndex(data, base)
	for i := 1; i < len(entries); i++ {
		if e, p := entries[i], entries[i-1]; e.timestamp < p.timestamp || e.offset < p.offset {
			return fmt.Errorf("entry %d (timestamp %d, offset %d) does not follow the one before (timestamp %d, offset %d)",
				i, e.timestamp, e.offset, p.timestamp, p.offset)
		}
	}
	return nil
}

// timeIndexErrors are the three kinds of problem kafka-dump-log.sh finds in a
// time index, each a pair of numbers.
type timeIndexErrors struct {
	mismatches [][2]int64 // index timestamp, the batch's max timestamp
	outOfOrder [][2]int64 // index timestamp, the previous entry's
	notFound   [][2]int64 // indexed offset, the last offset of the batch found or -1
	partial    int        // bytes of a partial entry at the end
}

func (e *timeIndexErrors) count() int {
	n := len(e.mismatches) + len(e.outOfOrder) + len(e.notFound)
	if e.partial > 0 {
		n++
	}
	return n
}

func (e *timeIndexErrors) empty() bool { return e.count() == 0 }

func (e *timeIndexErrors) print(w io.Writer, path string) {
	if len(e.mismatches) > 0 {
		fmt.Fprintf(w, "Found timestamp mismatch in :%s\n", path)
		for _, m := range e.mismatches {
			fmt.Fprintf(w, "  Index timestamp: %d, log timestamp: %d\n", m[0], m[1])
		}
	}
	if len(e.outOfOrder) > 0 {
		fmt.Fprintf(w, "Found out of order timestamp in :%s\n", path)
		for _, m := range e.outOfOrder {
			fmt.Fprintf(w, "  Index timestamp: %d, Previously indexed timestamp: %d\n", m[0], m[1])
		}
	}
	if len(e.notFound) > 0 {
		fmt.Fprintln(w, "The following indexed offsets are not found in the log.")
		for _, m := range e.notFound {
			fmt.Fprintf(w, "Indexed offset: %d, found log offset: %d\n", m[0], m[1])
		}
	}
	if e.partial > 0 {
		fmt.Fprintf(w, "%d bytes at the end of %s do not make a whole entry\n", e.partial, path)
	}
}

// checkTimeIndex checks every entry against the segment as kafka-dump-log.sh
// does: the entry's offset must be the last offset of a batch whose
// largest timestamp is the entry's timestamp, and timestamps must
// increase.
func checkTimeIndex(entries []timeIndexEntry, batches []segmentBatch) timeIndexErrors {
	var errs timeIndexErrors
	prev := int64(-1) // Kafka's RecordBatch.NO_TIMESTAMP
	for _, e := range entries {
		j := sort.Search(len(batches), func(j int) bool { return batches[j].last >= e.offset })
		switch {
		case j == len(batches):
			errs.notFound = append(errs.notFound, [2]int64{e.offset, -1})
		case batches[j].last != e.offset:
			errs.notFound = append(errs.notFound, [2]int64{e.offset, batches[j].last})
		default:
			if ts := batches[j].maxTs; ts != e.timestamp {
				errs.mismatches = append(errs.mismatches, [2]int64{e.timestamp, ts})
			}
			if prev >= e.timestamp {
				errs.outOfOrder = append(errs.outOfOrder, [2]int64{e.timestamp, prev})
			}
		}
		prev = e.timestamp
	}
	return errs
}

// ---- producer snapshots and transaction indexes ----------------------------

// Producer snapshot files (internal/storage/producer_state.go), Kafka's
// version 1: version int16, CRC-32C uint32 of what follows, count int32,
// then per producer: id int64, epoch int16, last sequence int32, last
// offset int64, offset delta int32, timestamp int64, coordinator epoch
// int32, current transaction's first offset int64 (-1 for none).
const (
	snapshotVersion   = 1
	snapshotHeader    = 2 + 4 + 4
	snapshotEntrySize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (d *dumper) dumpSnapshot(path string, b []byte) error {
	if len(b) < snapshotHeader {
		return fmt.Errorf("%s: snapshot of %d bytes is shorter than its %d-byte header", path, len(b), snapshotHeader)
	}
	if v := int16(binary.BigEndian.Uint16(b)); v != snapshotVersion {
		return fmt.Errorf("%s: snapshot contained an unknown file version %d", path, v)
	}
	if stored, computed := binary.BigEndian.Uint32(b[2:]), crc32.Checksum(b[6:], castagnoli); stored != computed {
		return fmt.Errorf("%s: snapshot is corrupt (CRC is no longer valid). Stored crc: %d. Computed crc: %d", path, stored, computed)
	}
	n := int64(int32(binary.BigEndian.Uint32(b[6:])))
	entries := b[snapshotHeader:]
	if n < 0 || int64(len(entries)) != n*snapshotEntrySize {
		return fmt.Errorf("%s: snapshot holds %d bytes for %d producers of %d bytes each", path, len(entries), n, snapshotEntrySize)
	}
	for ; len(entries) > 0; entries = entries[snapshotEntrySize:] {
		e := entries
		lastSeq := int32(binary.BigEndian.Uint32(e[10:]))
		delta := int32(binary.BigEndian.Uint32(e[22:]))
		ts := int64(binary.BigEndian.Uint64(e[26:]))
		txnFirst := "OptionalLong.empty"
		if first := int64(binary.BigEndian.Uint64(e[38:])); first >= 0 {
			txnFirst = fmt.Sprintf("OptionalLong[%d]", first)
		}
		fmt.Fprintf(d.out, "producerId: %d producerEpoch: %d coordinatorEpoch: %d currentTxnFirstOffset: %s lastTimestamp: %d "+
			"firstSequence: %d lastSequence: %d lastOffset: %d offsetDelta: %d timestamp: %d\n",
			int64(binary.BigEndian.Uint64(e)), int16(binary.BigEndian.Uint16(e[8:])), int32(binary.BigEndian.Uint32(e[34:])),
			txnFirst, ts, decrementSequence(lastSeq, delta), lastSeq, int64(binary.BigEndian.Uint64(e[14:])), delta, ts)
	}
	return nil
}

// decrementSequence is Kafka's DefaultRecordBatch.decrementSequence: the
// first sequence of a batch from its last, wrapping below 0 to MaxInt32.
func decrementSequence(seq, delta int32) int32 {
	if int64(seq) < int64(delta) {
		return int32(math.MaxInt32 - (int64(delta) - int64(seq)) + 1)
	}
	return seq - delta
}

// Kafka's transaction index (<base>.txnindex) entries: version int16,
// producer id, first offset, last offset, last stable offset, all int64.
const txnIndexEntrySize = 2 + 8 + 8 + 8 + 8

func (d *dumper) dumpTxnIndex(path string, b []byte) error {
	for ; len(b) >= txnIndexEntrySize; b = b[txnIndexEntrySize:] {
		fmt.Fprintf(d.out, "version: %d producerId: %d firstOffset: %d lastOffset: %d lastStableOffset: %d\n",
			int16(binary.BigEndian.Uint16(b)), int64(binary.BigEndian.Uint64(b[2:])), int64(binary.BigEndian.Uint64(b[10:])),
			int64(binary.BigEndian.Uint64(b[18:])), int64(binary.BigEndian.Uint64(b[26:])))
	}
	if len(b) > 0 {
		return fmt.Errorf("%s: %d bytes at the end do not make a whole entry", path, len(b))
	}
	return nil
}

// ---- __transaction_state ----------------------------------------------------

// errUnknownTxnRecordType is returned for a __transaction_state key whose
// record type is not 0, TransactionLogKey.
var errUnknownTxnRecordType = errors.New("unknown __transaction_state record type")

// txnLogKey and txnLogValue are a __transaction_state record as Kafka 4's
// kafka-dump-log.sh --transaction-log-decoder prints it, with the field
// names of TransactionLogKey and TransactionLogValue. Tagged fields (v1+)
// appear only when they differ from their defaults, as in Kafka.
type txnLogKey struct {
	Type string `json:"type"`
	Data struct {
		TransactionalID string `json:"transactionalId"`
	} `json:"data"`
}

type txnLogValue struct {
	Version string          `json:"version"`
	Data    txnLogValueData `json:"data"`
}

type txnLogValueData struct {
	ProducerID                       int64              `json:"producerId"`
	PreviousProducerID               *int64             `json:"previousProducerId,omitempty"`
	NextProducerID                   *int64             `json:"nextProducerId,omitempty"`
	ProducerEpoch                    int16              `json:"producerEpoch"`
	NextProducerEpoch                *int16             `json:"nextProducerEpoch,omitempty"`
	TransactionTimeoutMs             int32              `json:"transactionTimeoutMs"`
	TransactionStatus                int8               `json:"transactionStatus"`
	TransactionPartitions            []txnLogPartitions `json:"transactionPartitions"`
	TransactionLastUpdateTimestampMs int64              `json:"transactionLastUpdateTimestampMs"`
	TransactionStartTimestampMs      int64              `json:"transactionStartTimestampMs"`
	ClientTransactionVersion         *int16             `json:"clientTransactionVersion,omitempty"`
}

type txnLogPartitions struct {
	Topic        string  `json:"topic"`
	PartitionIDs []int32 `json:"partitionIds"`
}

// describeTxnRecord renders one __transaction_state record. The key is the
// record type int16 (0; it was called the key version before Kafka 4)
// and the transactional id, an int16-length string. The value is
// TransactionLogValue v0, or v1 in the flexible encoding with tagged
// fields: producer id and epoch, timeout, state (0 Empty, 1 Ongoing,
// 2 PrepareCommit, 3 PrepareAbort, 4 CompleteCommit, 5 CompleteAbort,
// 6 Dead, 7 PrepareEpochFence), the partitions by topic (null when Empty),
// and the last update and start timestamps. A nil value is a tombstone,
// printed as <DELETE>.
func describeTxnRecord(key, value []byte) (string, string, error) {
	if len(key) < 2 {
		return "", "", fmt.Errorf("key of %d bytes has no record type", len(key))
	}
	if typ := int16(binary.BigEndian.Uint16(key)); typ != 0 {
		return "", "", fmt.Errorf("%w %d", errUnknownTxnRecordType, typ)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", "", fmt.Errorf("malformed transaction log key: %v", err)
	}
	var kj txnLogKey
	kj.Type = "0"
	kj.Data.TransactionalID = k.TransactionalID
	keyText, err := jsonText(kj)
	if err != nil || value == nil {
		return keyText, "<DELETE>", err
	}
	if len(value) < 2 {
		return "", "", fmt.Errorf("value of %d bytes has no version", len(value))
	}
	if version := int16(binary.BigEndian.Uint16(value)); version < 0 || version > 1 {
		return "", "", fmt.Errorf("unknown version %d of the transaction log value", version)
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", "", fmt.Errorf("malformed transaction log value: %v", err)
	}
	data := txnLogValueData{
		ProducerID:                       v.ProducerID,
		ProducerEpoch:                    v.ProducerEpoch,
		TransactionTimeoutMs:             v.TimeoutMillis,
		TransactionStatus:                int8(v.State),
		TransactionLastUpdateTimestampMs: v.LastUpdateTimestamp,
		TransactionStartTimestampMs:      v.StartTimestamp,
	}
	if v.Topics != nil { // null in the record stays null
		data.TransactionPartitions = make([]txnLogPartitions, 0, len(v.Topics))
		for _, t := range v.Topics {
			ps := t.Partitions
			if ps == nil {
				ps = []int32{}
			}
			data.TransactionPartitions = append(data.TransactionPartitions, txnLogPartitions{Topic: t.Topic, PartitionIDs: ps})
		}
	}
	if v.Version >= 1 {
		if v.PreviousProducerID != -1 {
			data.PreviousProducerID = &v.PreviousProducerID
		}
		if v.NextProducerID != -1 {
			data.NextProducerID = &v.NextProducerID
		}
		if v.NextProducerEpoch != -1 {
			data.NextProducerEpoch = &v.NextProducerEpoch
		}
		if v.ClientTransactionVersion != 0 {
			data.ClientTransactionVersion = &v.ClientTransactionVersion
		}
	}
	valueText, err := jsonText(txnLogValue{Version: strconv.Itoa(int(v.Version)), Data: data})
	return keyText, valueText, err
}

// jsonText encodes v without escaping <, > and &, as Kafka prints JSON.
func jsonText(v any) (string, error) {
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}
