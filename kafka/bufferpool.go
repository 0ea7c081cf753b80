package kafka

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// bufferPool is buffer.memory, handed out as batch buffers (Java's
// BufferPool). A batch takes a buffer of batch.size bytes when it is
// created, or one just large enough for a record that does not fit in
// batch.size, and gives it back when its records have their outcome; so
// the memory of queued and in-flight batches never exceeds buffer.memory.
// Buffers of batch.size are kept on a free list and reused, which spares
// both the allocation and the garbage collector. A Send that needs a
// buffer when none is left waits, in FIFO order, up to max.block.ms.
//
// Its mutex is a leaf.
type bufferPool struct {
	total    int64
	poolable int // batch.size (capped by max.request.size and buffer.memory)
	// onWait is called when a Send starts waiting: Java's accumulator then
	// sends every batch at once, lingering or not, to free memory.
	onWait func()

	mu   sync.Mutex
	free [][]byte // buffers of cap poolable, len 0; REQUIRES: mu held
	// nonPooled is memory neither handed out nor on the free list.
	// REQUIRES: mu held
	nonPooled int64
	waiters   []*bufWaiter // REQUIRES: mu held

	waitNanos atomic.Int64 // total time Sends spent waiting (bufferpool-wait-time)
}

type bufWaiter struct {
	size    int
	granted bool   // the memory is charged to the waiter
	buf     []byte // a free-list buffer handed over, or nil: allocate
	ch      chan struct{}
}

func newBufferPool(total int64, poolable int) *bufferPool {
	return &bufferPool{total: total, poolable: poolable, nonPooled: total}
}

// tryAllocate returns a buffer of cap size at once, or false if the
// memory is not there (or others are already waiting for it).
func (m *bufferPool) tryAllocate(size int) ([]byte, bool) {
	m.mu.Lock()
	if len(m.waiters) > 0 {
		m.mu.Unlock()
		return nil, false
	}
	buf, ok := m.takeLocked(size)
	m.mu.Unlock()
	if ok && buf == nil {
		buf = make([]byte, 0, size)
	}
	return buf, ok
}

// takeLocked charges size bytes if they are available: it returns a
// free-list buffer for the poolable size, or nil and true when the caller
// must allocate the buffer itself (outside the lock).
// REQUIRES: m.mu held.
func (m *bufferPool) takeLocked(size int) ([]byte, bool) {
	if size == m.poolable && len(m.free) > 0 {
		buf := m.free[len(m.free)-1]
		m.free[len(m.free)-1] = nil
		m.free = m.free[:len(m.free)-1]
		return buf, true
	}
	if m.nonPooled+int64(len(m.free))*int64(m.poolable) < int64(size) {
		return nil, false
	}
	// Drop free buffers until the unpooled memory covers the request.
	for m.nonPooled < int64(size) {
		m.free[len(m.free)-1] = nil
		m.free = m.free[:len(m.free)-1]
		m.nonPooled += int64(m.poolable)
	}
	m.nonPooled -= int64(size)
	return nil, true
}

// allocate waits for size bytes until deadline (max.block.ms), ctx or
// closing, in FIFO order behind earlier waiters.
func (m *bufferPool) allocate(ctx context.Context, closing <-chan struct{}, size int, deadline time.Time, maxBlock time.Duration) ([]byte, error) {
	m.mu.Lock()
	if len(m.waiters) == 0 {
		if buf, ok := m.takeLocked(size); ok {
			m.mu.Unlock()
			if buf == nil {
				buf = make([]byte, 0, size)
			}
			return buf, nil
		}
	}
	w := &bufWaiter{size: size, ch: make(chan struct{})}
	m.waiters = append(m.waiters, w)
	m.mu.Unlock()
	if m.onWait != nil {
		m.onWait()
	}
	start := time.Now()
	defer func() { m.waitNanos.Add(int64(time.Since(start))) }()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var err error
	select {
	case <-w.ch:
	case <-timer.C:
	case <-ctx.Done():
		err = ctx.Err()
	case <-closing:
		err = ErrProducerClosed
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.granted {
		if w.buf == nil {
			w.buf = make([]byte, 0, size)
		}
		return w.buf, nil
	}
	if err == nil {
		err = wrapErr(ErrBufferExhausted,
			"failed to allocate %d bytes within max.block.ms (%v): buffer.memory (%d bytes) is full of records waiting to be sent (%d bytes free); raise buffer.memory or max.block.ms, or send less",
			size, maxBlock, m.total, m.availableLocked())
	}
	if i := slices.Index(m.waiters, w); i >= 0 {
		m.waiters = slices.Delete(m.waiters, i, i+1)
	}
	m.grantLocked()
	return nil, err
}

// deallocate returns a buffer charged size bytes.
func (m *bufferPool) deallocate(buf []byte, size int) {
	if size == 0 {
		return
	}
	m.mu.Lock()
	if size == m.poolable && cap(buf) == m.poolable {
		m.free = append(m.free, buf[:0])
	} else {
		m.nonPooled += int64(size)
	}
	m.grantLocked()
	m.mu.Unlock()
}

// REQUIRES: m.mu held.
func (m *bufferPool) grantLocked() {
	for len(m.waiters) > 0 {
		w := m.waiters[0]
		buf, ok := m.takeLocked(w.size)
		if !ok {
			return
		}
		m.waiters[0] = nil
		m.waiters = m.waiters[1:]
		w.granted, w.buf = true, buf
		close(w.ch)
	}
}

// exhausted reports whether a Send is waiting for memory.
func (m *bufferPool) exhausted() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters) > 0
}

// available is the memory not handed out (buffer-available-bytes).
func (m *bufferPool) available() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.availableLocked()
}

// REQUIRES: m.mu held.
func (m *bufferPool) availableLocked() int64 {
	return m.nonPooled + int64(len(m.free))*int64(m.poolable)
}

// waiting is the number of Sends waiting for memory (waiting-threads).
func (m *bufferPool) waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}
