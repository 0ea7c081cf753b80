package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// loadEvent is a partition of an internal topic for its coordinator to
// load (led in epoch) or unload.
type loadEvent struct {
	partition int32
	epoch     int32
	load      bool
}

// loadQueue hands a coordinator's loads and unloads to one loader
// goroutine in the order the metadata applier queued them, and lets a
// request wait until what was queued so far is done. The group and the
// transaction coordinators each have one.
type loadQueue struct {
	mu    sync.Mutex // guards queue, busy and idle
	queue []loadEvent
	busy  bool          // the loader is working on events taken from queue
	idle  chan struct{} // closed while the queue is empty and the loader idle
	wake  chan struct{}
}

func newLoadQueue() *loadQueue {
	idle := make(chan struct{})
	close(idle)
	return &loadQueue{idle: idle, wake: make(chan struct{}, 1)}
}

func (q *loadQueue) push(ev loadEvent) {
	q.mu.Lock()
	if len(q.queue) == 0 && !q.busy {
		q.idle = make(chan struct{})
	}
	q.queue = append(q.queue, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run hands the queued events to process, a batch at a time, until done
// closes or process returns false.
func (q *loadQueue) run(done <-chan struct{}, process func([]loadEvent) bool) {
	for {
		select {
		case <-q.wake:
		case <-done:
			return
		}
		q.mu.Lock()
		evs := q.queue
		if len(evs) == 0 {
			// A wake for events an earlier turn took.
			q.mu.Unlock()
			continue
		}
		q.queue, q.busy = nil, true
		q.mu.Unlock()
		if !process(evs) {
			return
		}
		q.mu.Lock()
		q.busy = false
		if len(q.queue) == 0 {
			close(q.idle)
		}
		q.mu.Unlock()
	}
}

// wait waits until every load and unload queued so far is done.
func (q *loadQueue) wait(ctx context.Context, done <-chan struct{}) error {
	q.mu.Lock()
	idle := q.idle
	q.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return errBrokerClosing
	}
}

// createInternalTopic creates an internal topic (one another broker may
// be creating too) and waits until the partitions this broker leads have
// loaded: they are empty and load at once, so the first requests are
// served rather than answered COORDINATOR_LOAD_IN_PROGRESS.
func (b *Broker) createInternalTopic(name string, partitions, rf int, configs map[string]string, loads *loadQueue) error {
	_, err := b.createTopic(name, int32(partitions), int16(rf), configs, nil, false)
	var ae *apiError
	if errors.As(err, &ae) && ae.err == kerr.TopicAlreadyExists {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	ctx, cancel := b.metadataContext()
	defer cancel()
	if err := loads.wait(ctx, b.done); err != nil {
		return fmt.Errorf("loading %s: %w", name, err)
	}
	return nil
}
