package cluster

import (
	"context"
	"sync"
)

// ProducerIDs hands out producer ids one at a time from blocks reserved in
// etcd, as FileStore.NextProducerID does from its file: a broker asks etcd
// once per ProducerIDBlockSize ids, and ids stay unique across the
// cluster. Safe for concurrent use.
type ProducerIDs struct {
	store *EtcdStore

	mu        sync.Mutex // guards next and end; held across a block request
	next, end int64      // next..end-1 are reserved and unused
}

// NewProducerIDs returns an allocator drawing blocks from store.
func NewProducerIDs(store *EtcdStore) *ProducerIDs { return &ProducerIDs{store: store} }

// Next returns a producer id never handed out before in the cluster.
func (p *ProducerIDs) Next(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == p.end {
		start, err := p.store.AllocateProducerIDBlock(ctx)
		if err != nil {
			return 0, err
		}
		p.next, p.end = start, start+ProducerIDBlockSize
	}
	id := p.next
	p.next++
	return id, nil
}
