package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samsa-io/samsa/internal/record"
)

// A segment is one file of a partition's log, <base>.log, holding whole v2
// batches with offsets from base on, and its two indexes. Only the active
// (last) segment is appended to; the appender holds the log's lock.
// Readers use size, which only grows while the segment is active, to know
// how much of the file holds complete batches.
type segment struct {
	fs   FS
	dir  string
	base int64
	file File
	ix   *index

	size       atomic.Int64 // bytes of complete batches
	nextOffset atomic.Int64 // offset after the segment's last batch

	// Guarded by the log's lock.
	maxTimestamp    int64 // largest batch max timestamp, -1 if none
	offsetOfMaxTs   int64 // last offset of the batch that holds it
	bytesSinceIndex int64
	created         time.Time // when the segment was opened for appends (segment.ms)
	indexMissing    bool      // an index file did not exist when opened
	deleted         bool
	rebuildTxn      bool // recovered: its transaction index is rebuilt from the log

	// The transaction index (txn.go): txnMu guards aborted, which reads
	// search while the appender extends it, and txnFile, opened on the
	// first entry.
	txnMu   sync.RWMutex
	aborted []AbortedTxn
	txnFile File
}

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	snapshotSuffix  = ".snapshot"
	deletedSuffix   = ".deleted"
	cleanedSuffix   = ".cleaned"
	swapSuffix      = ".swap"
)

// fileName is Kafka's name for a file of the segment at base offset.
func fileName(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// openSegment opens (create: creates) the files of a segment.
func openSegment(fs FS, dir string, base int64, create bool) (*segment, error) {
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE
	}
	f, err := fs.OpenFile(fileName(dir, base, logSuffix), flag, 0o644)
	if err != nil {
		return nil, err
	}
	_, oerr := fs.Stat(fileName(dir, base, indexSuffix))
	_, terr := fs.Stat(fileName(dir, base, timeIndexSuffix))
	of, err := fs.OpenFile(fileName(dir, base, indexSuffix), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		f.Close()
		return nil, err
	}
	tf, err := fs.OpenFile(fileName(dir, base, timeIndexSuffix), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		f.Close()
		of.Close()
		return nil, err
	}
	s := &segment{
		fs: fs, dir: dir, base: base, file: f,
		ix:            &index{base: base, offsetFile: of, timeFile: tf},
		maxTimestamp:  -1,
		offsetOfMaxTs: -1,
		created:       time.Now(),
		indexMissing:  oerr != nil || terr != nil,
	}
	fi, err := f.Stat()
	if err != nil {
		s.close()
		return nil, err
	}
	s.size.Store(fi.Size())
	s.nextOffset.Store(base)
	return s, nil
}

func (s *segment) close() {
	s.file.Close()
	s.ix.close()
	s.closeTxnIndex()
}

// readHeader reads the header of the batch at pos. It returns io.EOF at
// the end of the complete batches.
func (s *segment) readHeader(pos int64, buf *[record.HeaderSize]byte) (record.Header, error) {
	if pos+record.HeaderSize > s.size.Load() {
		return record.Header{}, io.EOF
	}
	if _, err := s.file.ReadAt(buf[:], pos); err != nil {
		return record.Header{}, err
	}
	return record.ParseHeader(buf[:])
}

// findBufSize is how much find reads at a time while scanning batch
// headers: an index interval's worth of small batches in one read.
const findBufSize = 8 << 10

var findBufs = sync.Pool{New: func() any { return new([findBufSize]byte) }}

// find returns the position and header of the first batch whose last
// offset is at least offset, or io.EOF when the segment has none.
func (s *segment) find(offset int64) (int64, record.Header, error) {
	pos := s.ix.lookup(offset)
	bp := findBufs.Get().(*[findBufSize]byte)
	defer findBufs.Put(bp)
	arr := bp[:]
	var buf []byte // the file from bufPos on
	var bufPos int64
	for {
		size := s.size.Load()
		if pos+record.HeaderSize > size {
			return pos, record.Header{}, io.EOF
		}
		if pos < bufPos || pos+record.HeaderSize > bufPos+int64(len(buf)) {
			n := min(int64(len(arr)), size-pos)
			if _, err := s.file.ReadAt(arr[:n], pos); err != nil && err != io.EOF {
				return pos, record.Header{}, err
			}
			buf, bufPos = arr[:n], pos
		}
		h, err := record.ParseHeader(buf[pos-bufPos:])
		if err != nil {
			return pos, h, err
		}
		if h.LastOffset() >= offset {
			return pos, h, nil
		}
		pos += int64(h.Size())
	}
}

// append writes validated batches, whose headers are hdrs, at the end of
// the segment and indexes them.
func (s *segment) append(batches []byte, hdrs []record.Header, indexInterval int64) error {
	pos := s.size.Load()
	if _, err := s.file.WriteAt(batches, pos); err != nil {
		return err
	}
	for i := range hdrs {
		h := &hdrs[i]
		if err := s.indexBatch(h, pos, indexInterval); err != nil {
			return err
		}
		pos += int64(h.Size())
	}
	s.nextOffset.Store(hdrs[len(hdrs)-1].NextOffset())
	s.size.Store(pos)
	return nil
}

// indexBatch accounts for the batch at pos, adding index entries when
// index.interval.bytes have passed since the last ones.
func (s *segment) indexBatch(h *record.Header, pos, indexInterval int64) error {
	if h.MaxTimestamp > s.maxTimestamp {
		s.maxTimestamp, s.offsetOfMaxTs = h.MaxTimestamp, h.LastOffset()
	}
	if s.bytesSinceIndex > indexInterval {
		if err := s.ix.appendOffset(h.LastOffset(), pos); err != nil {
			return err
		}
		if err := s.ix.appendTime(s.maxTimestamp, s.offsetOfMaxTs); err != nil {
			return err
		}
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += int64(h.Size())
	return nil
}

// seal writes the final time index entry, as Kafka does when a segment
// stops being active, so that the largest timestamp of a closed segment is
// the last entry of its time index.
func (s *segment) seal() error {
	if s.maxTimestamp < 0 {
		return nil
	}
	return s.ix.appendTime(s.maxTimestamp, s.offsetOfMaxTs)
}

func (s *segment) sync() error {
	if err := s.file.Sync(); err != nil {
		return err
	}
	if err := s.syncTxnIndex(); err != nil {
		return err
	}
	return s.ix.sync()
}

// errCorrupt marks the point where recovery stops trusting a segment.
var errCorrupt = errors.New("corrupt batch")

// recover rescans the whole segment: it checks every batch (header, size,
// CRC-32C, offsets increasing from the segment's base), rebuilds both
// indexes, and truncates the file after the last valid batch. It reports
// how many bytes were truncated.
func (s *segment) recover(indexInterval int64) (int64, error) {
	if err := s.ix.reset(); err != nil {
		return 0, err
	}
	fileSize := s.size.Load()
	s.maxTimestamp, s.offsetOfMaxTs, s.bytesSinceIndex = -1, -1, 0
	next := s.base
	r := chunkReader{f: s.file, size: fileSize}
	var pos int64
	for pos < fileSize {
		h, batch, err := r.batchAt(pos)
		if err == nil {
			switch {
			case h.BaseOffset < next:
				err = fmt.Errorf("%w: base offset %d below the expected %d", errCorrupt, h.BaseOffset, next)
			case h.LastOffset()-s.base > math.MaxInt32:
				err = fmt.Errorf("%w: offset %d too far from the segment's base %d", errCorrupt, h.LastOffset(), s.base)
			case h.LastOffsetDelta < 0:
				err = fmt.Errorf("%w: negative last offset delta", errCorrupt)
			default:
				if record.CheckCRC(batch) != nil {
					err = fmt.Errorf("%w: CRC mismatch at position %d", errCorrupt, pos)
				}
			}
		}
		if err != nil {
			if !errors.Is(err, errCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, err
			}
			break
		}
		if err := s.indexBatch(&h, pos, indexInterval); err != nil {
			return 0, err
		}
		next = h.NextOffset()
		pos += int64(h.Size())
	}
	s.nextOffset.Store(next)
	truncated := fileSize - pos
	if truncated > 0 {
		if err := s.file.Truncate(pos); err != nil {
			return 0, err
		}
		s.size.Store(pos)
	}
	return truncated, nil
}

// loadIndexes reads the index files of a segment that needs no recovery,
// and its next offset and largest timestamp. It reports an error when the
// indexes cannot be trusted, and the segment must then be recovered.
func (s *segment) loadIndexes(active bool) error {
	if s.indexMissing && s.size.Load() > 0 {
		return errors.New("index file missing")
	}
	if err := s.ix.load(s.size.Load()); err != nil {
		return err
	}
	if te, ok := s.ix.lastTime(); ok {
		s.maxTimestamp, s.offsetOfMaxTs = te.timestamp, te.offset
	}
	if !active {
		return nil
	}
	// The active segment's end is found by reading forward from its last
	// index entry; its newest batches may not be in the time index.
	var buf [record.HeaderSize]byte
	pos := int64(0)
	s.ix.mu.RLock()
	if n := len(s.ix.offsets); n > 0 {
		pos = s.ix.offsets[n-1].pos
	}
	s.ix.mu.RUnlock()
	next := s.base
	for {
		h, err := s.readHeader(pos, &buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if pos+int64(h.Size()) > s.size.Load() {
			return fmt.Errorf("batch at position %d runs past the end of the segment", pos)
		}
		if h.MaxTimestamp > s.maxTimestamp {
			s.maxTimestamp, s.offsetOfMaxTs = h.MaxTimestamp, h.LastOffset()
		}
		next = h.NextOffset()
		pos += int64(h.Size())
	}
	if pos != s.size.Load() {
		return fmt.Errorf("segment ends with %d bytes of an incomplete batch", s.size.Load()-pos)
	}
	s.nextOffset.Store(next)
	return nil
}

// chunkReader reads a segment file sequentially in large chunks.
type chunkReader struct {
	f     File
	size  int64
	buf   []byte
	start int64 // file position of buf[0]
}

const chunkSize = 1 << 20

// batchAt returns the header and bytes of the batch at pos. A batch that
// runs past the end of the file is io.ErrUnexpectedEOF; a header that does
// not parse is errCorrupt.
func (r *chunkReader) batchAt(pos int64) (record.Header, []byte, error) {
	if pos+record.LogOverhead > r.size {
		return record.Header{}, nil, io.ErrUnexpectedEOF
	}
	b, err := r.bytes(pos, record.HeaderSize)
	if err != nil {
		return record.Header{}, nil, err
	}
	h, err := record.ParseHeader(b)
	if err != nil {
		return h, nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	size := int64(h.Size())
	if pos+size > r.size {
		return h, nil, io.ErrUnexpectedEOF
	}
	b, err = r.bytes(pos, int(size))
	return h, b, err
}

func (r *chunkReader) bytes(pos int64, n int) ([]byte, error) {
	if pos+int64(n) > r.size {
		return nil, io.ErrUnexpectedEOF
	}
	if pos >= r.start && pos+int64(n) <= r.start+int64(len(r.buf)) {
		return r.buf[pos-r.start : pos-r.start+int64(n)], nil
	}
	want := min(max(n, chunkSize), int(r.size-pos))
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	if _, err := r.f.ReadAt(r.buf, pos); err != nil && err != io.EOF {
		return nil, err
	}
	r.start = pos
	return r.buf[:n], nil
}
