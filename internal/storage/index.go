package storage

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"sync"
)

// The indexes of a segment, in Kafka's file formats:
//
//	.index      8-byte entries: relative offset (uint32), position (uint32)
//	.timeindex 12-byte entries: timestamp (int64), relative offset (uint32)
//
// Both are sparse (an entry every index.interval.bytes of log) and sorted.
// Offset index entries name the last offset of a batch at the position of
// that batch; time index entries name the largest timestamp seen so far and
// the last offset of the batch that holds it. The entries are kept in
// memory and written through to the file; the files are never
// preallocated, so an index on disk always holds whole entries only.

const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

type offsetEntry struct {
	offset int64 // absolute
	pos    int64
}

type timeEntry struct {
	timestamp int64
	offset    int64 // absolute
}

// index is a segment's pair of indexes. mu guards the entry slices, which
// readers search while the appender extends them.
type index struct {
	base int64

	mu      sync.RWMutex
	offsets []offsetEntry
	times   []timeEntry

	offsetFile File
	timeFile   File
	buf        [timeEntrySize]byte
}

// lookup returns the position of the last indexed batch whose last offset
// is at most offset; the batch holding offset is at or after it.
func (ix *index) lookup(offset int64) int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	i := sort.Search(len(ix.offsets), func(i int) bool { return ix.offsets[i].offset > offset })
	if i == 0 {
		return 0
	}
	return ix.offsets[i-1].pos
}

// lookupTime returns the offset of the last time entry whose timestamp is
// below ts, from where a scan for the first record at or after ts starts;
// or the segment's base offset.
func (ix *index) lookupTime(ts int64) int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	i := sort.Search(len(ix.times), func(i int) bool { return ix.times[i].timestamp >= ts })
	if i == 0 {
		return ix.base
	}
	return ix.times[i-1].offset
}

func (ix *index) entries() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.offsets)
}

func (ix *index) lastTime() (timeEntry, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if len(ix.times) == 0 {
		return timeEntry{}, false
	}
	return ix.times[len(ix.times)-1], true
}

// appendOffset adds an offset entry. Entries must increase.
func (ix *index) appendOffset(offset, pos int64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if n := len(ix.offsets); n > 0 && offset <= ix.offsets[n-1].offset {
		return nil
	}
	binary.BigEndian.PutUint32(ix.buf[0:], uint32(offset-ix.base))
	binary.BigEndian.PutUint32(ix.buf[4:], uint32(pos))
	if _, err := ix.offsetFile.WriteAt(ix.buf[:offsetEntrySize], int64(len(ix.offsets))*offsetEntrySize); err != nil {
		return err
	}
	ix.offsets = append(ix.offsets, offsetEntry{offset, pos})
	return nil
}

// appendTime adds a time entry if ts is larger than the last one.
func (ix *index) appendTime(ts, offset int64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if n := len(ix.times); n > 0 && (ts <= ix.times[n-1].timestamp || offset <= ix.times[n-1].offset) {
		return nil
	}
	binary.BigEndian.PutUint64(ix.buf[0:], uint64(ts))
	binary.BigEndian.PutUint32(ix.buf[8:], uint32(offset-ix.base))
	if _, err := ix.timeFile.WriteAt(ix.buf[:timeEntrySize], int64(len(ix.times))*timeEntrySize); err != nil {
		return err
	}
	ix.times = append(ix.times, timeEntry{ts, offset})
	return nil
}

// reset empties both indexes, in memory and on disk.
func (ix *index) reset() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.offsets, ix.times = nil, nil
	if err := ix.offsetFile.Truncate(0); err != nil {
		return err
	}
	return ix.timeFile.Truncate(0)
}

// truncateTo drops entries for offsets at or beyond offset.
func (ix *index) truncateTo(offset int64) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	i := sort.Search(len(ix.offsets), func(i int) bool { return ix.offsets[i].offset >= offset })
	ix.offsets = ix.offsets[:i]
	j := sort.Search(len(ix.times), func(i int) bool { return ix.times[i].offset >= offset })
	ix.times = ix.times[:j]
	if err := ix.offsetFile.Truncate(int64(i) * offsetEntrySize); err != nil {
		return err
	}
	return ix.timeFile.Truncate(int64(j) * timeEntrySize)
}

func (ix *index) sync() error {
	if err := ix.offsetFile.Sync(); err != nil {
		return err
	}
	return ix.timeFile.Sync()
}

func (ix *index) close() {
	ix.offsetFile.Close()
	ix.timeFile.Close()
}

// load reads both index files and checks them against the segment's size:
// entries must increase, lie within the segment, and the files must hold
// whole entries. A failed check means the index must be rebuilt.
func (ix *index) load(logSize int64) error {
	ob, err := readAll(ix.offsetFile)
	if err != nil {
		return err
	}
	tb, err := readAll(ix.timeFile)
	if err != nil {
		return err
	}
	if len(ob)%offsetEntrySize != 0 {
		return fmt.Errorf("offset index size %d is not a multiple of %d", len(ob), offsetEntrySize)
	}
	if len(tb)%timeEntrySize != 0 {
		return fmt.Errorf("time index size %d is not a multiple of %d", len(tb), timeEntrySize)
	}
	offsets := make([]offsetEntry, 0, len(ob)/offsetEntrySize)
	for i := 0; i < len(ob); i += offsetEntrySize {
		e := offsetEntry{
			offset: ix.base + int64(binary.BigEndian.Uint32(ob[i:])),
			pos:    int64(binary.BigEndian.Uint32(ob[i+4:])),
		}
		if n := len(offsets); n > 0 && (e.offset <= offsets[n-1].offset || e.pos <= offsets[n-1].pos) {
			return fmt.Errorf("offset index entry %d (offset %d, position %d) does not follow the one before", i/offsetEntrySize, e.offset, e.pos)
		}
		if e.pos >= logSize {
			return fmt.Errorf("offset index entry %d points at position %d beyond the segment's %d bytes", i/offsetEntrySize, e.pos, logSize)
		}
		offsets = append(offsets, e)
	}
	times := make([]timeEntry, 0, len(tb)/timeEntrySize)
	for i := 0; i < len(tb); i += timeEntrySize {
		e := timeEntry{
			timestamp: int64(binary.BigEndian.Uint64(tb[i:])),
			offset:    ix.base + int64(binary.BigEndian.Uint32(tb[i+8:])),
		}
		if n := len(times); n > 0 && (e.timestamp < times[n-1].timestamp || e.offset < times[n-1].offset) {
			return fmt.Errorf("time index entry %d does not follow the one before", i/timeEntrySize)
		}
		times = append(times, e)
	}
	if n := len(offsets); n > 0 && len(times) > 0 && times[len(times)-1].offset > offsets[n-1].offset+(1<<31) {
		return fmt.Errorf("time index names offsets beyond the offset index")
	}
	ix.mu.Lock()
	ix.offsets, ix.times = offsets, times
	ix.mu.Unlock()
	return nil
}

func readAll(f File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, fi.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return b[:n], nil
}
