package broker

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-io/samsa/internal/storage"
)

// fetchResponse is a Fetch response whose record sets can be regions of
// segment files. It is encoded here rather than by kmsg so that records go
// from the page cache to the socket with sendfile(2), never through user
// space, as Kafka's zero-copy fetch does. It embeds a kmsg.FetchResponse
// only for the kmsg.Response methods; the data is in topics.
type fetchResponse struct {
	kmsg.FetchResponse
	topics []fetchTopic
}

type fetchTopic struct {
	name  string
	id    [16]byte
	parts []fetchPart
}

type fetchPart struct {
	partition        int32
	errCode          int16
	highWatermark    int64
	lastStableOffset int64
	logStartOffset   int64
	// aborted lists the aborted transactions overlapping the records of
	// a read_committed fetch; nil encodes as null.
	aborted []storage.AbortedTxn
	records storage.ReadResult
}

func (p *fetchPart) recordsSize() int {
	if p.records.Data != nil {
		return len(p.records.Data)
	}
	return p.records.Size
}

// region is a byte range of a file to send after the encoded bytes up to
// at.
type region struct {
	at   int
	file storage.File
	pos  int64
	size int
}

// encode appends the response body to dst. Records held in memory are
// copied in; file-backed records are copied in too unless regions is
// non-nil, in which case only their length prefix is written and the region
// is recorded for sendfile.
func (r *fetchResponse) encode(dst []byte, regions *[]region) ([]byte, error) {
	v := r.Version
	flex := v >= 12
	arrayLen := func(n int) {
		if flex {
			dst = binary.AppendUvarint(dst, uint64(n)+1)
		} else {
			dst = binary.BigEndian.AppendUint32(dst, uint32(n))
		}
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.ThrottleMillis))
	if v >= 7 {
		dst = binary.BigEndian.AppendUint16(dst, uint16(r.ErrorCode))
		dst = binary.BigEndian.AppendUint32(dst, uint32(r.SessionID))
	}
	arrayLen(len(r.topics))
	for i := range r.topics {
		t := &r.topics[i]
		if v >= 13 {
			dst = append(dst, t.id[:]...)
		} else if flex {
			dst = binary.AppendUvarint(dst, uint64(len(t.name))+1)
			dst = append(dst, t.name...)
		} else {
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.name)))
			dst = append(dst, t.name...)
		}
		arrayLen(len(t.parts))
		for j := range t.parts {
			p := &t.parts[j]
			dst = binary.BigEndian.AppendUint32(dst, uint32(p.partition))
			dst = binary.BigEndian.AppendUint16(dst, uint16(p.errCode))
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.highWatermark))
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.lastStableOffset))
			if v >= 5 {
				dst = binary.BigEndian.AppendUint64(dst, uint64(p.logStartOffset))
			}
			switch {
			case p.aborted == nil && flex:
				dst = append(dst, 0)
			case p.aborted == nil:
				dst = binary.BigEndian.AppendUint32(dst, 0xffffffff)
			default:
				arrayLen(len(p.aborted))
				for _, a := range p.aborted {
					dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
					dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
					if flex {
						dst = append(dst, 0)
					}
				}
			}
			if v >= 11 {
				dst = binary.BigEndian.AppendUint32(dst, 0xffffffff) // preferred read replica: none
			}
			n := p.recordsSize()
			if flex {
				dst = binary.AppendUvarint(dst, uint64(n)+1)
			} else {
				dst = binary.BigEndian.AppendUint32(dst, uint32(n))
			}
			switch {
			case n == 0:
			case p.records.Data != nil:
				dst = append(dst, p.records.Data...)
			case regions != nil:
				*regions = append(*regions, region{at: len(dst), file: p.records.File, pos: p.records.Pos, size: n})
			default:
				start := len(dst)
				dst = append(dst, make([]byte, n)...)
				if _, err := p.records.File.ReadAt(dst[start:], p.records.Pos); err != nil {
					return nil, fmt.Errorf("reading %d bytes of %s at %d: %w", n, p.records.File.Name(), p.records.Pos, err)
				}
			}
			if flex {
				dst = append(dst, 0) // no tagged fields
			}
		}
		if flex {
			dst = append(dst, 0)
		}
	}
	if flex {
		dst = append(dst, 0)
	}
	return dst, nil
}

// AppendTo encodes the whole response in memory (kmsg.Response).
func (r *fetchResponse) AppendTo(dst []byte) []byte {
	out, err := r.encode(dst, nil)
	if err != nil {
		panic(err) // only reachable from tests; writeFetch handles errors
	}
	return out
}

// writeFetch sends a fetch response: the encoded bytes, with file regions
// sent by sendfile in between. head holds the frame prefix (size
// placeholder, correlation id, header tags).
func (c *conn) writeFetch(head []byte, r *fetchResponse) error {
	var regions []region
	b, err := r.encode(head, &regions)
	if err != nil {
		return err
	}
	size := len(b) - 4
	for _, rg := range regions {
		size += rg.size
	}
	binary.BigEndian.PutUint32(b, uint32(size))
	c.out = b
	if cap(c.out) > 1<<20 {
		c.out = nil
	}
	prev := 0
	for _, rg := range regions {
		if _, err := c.nc.Write(b[prev:rg.at]); err != nil {
			return err
		}
		prev = rg.at
		if err := sendRegion(c.nc, rg); err != nil {
			return err
		}
	}
	_, err = c.nc.Write(b[prev:])
	return err
}

// sendRegion copies a file region to the connection, with sendfile(2) when
// both ends allow it.
func sendRegion(nc net.Conn, rg region) error {
	tc, okConn := nc.(*net.TCPConn)
	of, okFile := rg.file.(storage.OSFile)
	if !okConn || !okFile {
		buf := make([]byte, rg.size)
		if _, err := rg.file.ReadAt(buf, rg.pos); err != nil {
			return err
		}
		_, err := nc.Write(buf)
		return err
	}
	return sendfile(tc, of.OSFile(), rg.pos, rg.size)
}

// sendfile sends size bytes of f from pos with sendfile(2), with an
// explicit offset so that concurrent fetches of one segment do not share a
// file position. The file's descriptor is held (Control) for the duration,
// so a concurrent Close cannot recycle it mid-send.
func sendfile(tc *net.TCPConn, f *os.File, pos int64, size int) error {
	fc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	sc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	cerr := fc.Control(func(inFD uintptr) {
		werr := sc.Write(func(outFD uintptr) bool {
			for size > 0 {
				n, err := syscall.Sendfile(int(outFD), int(inFD), &pos, size)
				if n > 0 {
					size -= n
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
					continue
				case err != nil:
					sendErr = err
					return true
				case n == 0:
					sendErr = io.ErrUnexpectedEOF // the file is shorter than the region
					return true
				}
			}
			return true
		})
		if sendErr == nil {
			sendErr = werr
		}
	})
	if cerr != nil {
		return cerr
	}
	return sendErr
}
